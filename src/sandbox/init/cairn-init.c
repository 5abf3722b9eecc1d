/* cairn-init: PID 1 of a RUN step. The sandbox child sets up the step, starts the
 * command and then becomes this program by execveat, so that PID 1 of the step is a
 * fresh process image holding nothing of the builder: no memory (secrets, tokens),
 * no environment, no command line. It reaps every process of the step's pid
 * namespace and exits with the command's status when the command exits; the kernel
 * then kills whatever the command left running.
 *
 * Linked statically (the step's root may have no libc, or another one) and embedded
 * in cairn (src/sandbox/embed.py). argv[1] is the command's pid, argv[2] an fd to
 * close once this process is out of the step's reach: the command waits for that
 * before it starts. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* The command's pid: the signals PID 1 gets from outside (cairn run forwarding
 * Ctrl-C or SIGTERM, cairn stop) are passed on to it, as tini does. PID 1 of a pid
 * namespace ignores every signal it has no handler for, which would leave a command
 * that does not handle SIGTERM running. */
static pid_t command;

static void forward(int sig)
{
	kill(command, sig);
}

int main(int argc, char **argv)
{
	/* exec made PID 1 dumpable again: its memory stays out of reach of the step */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_NAME, "cairn-init", 0, 0, 0);
	if (argc != 3)
		return 127;
	char *end = NULL;
	long cmd = strtol(argv[1], &end, 10);
	if (*end || cmd <= 0)
		return 127;
	command = (pid_t)cmd;
	long go = strtol(argv[2], &end, 10);
	if (*end || go < 0)
		return 127;
	static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
	struct sigaction sa = {.sa_handler = forward};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
		sigaction(forwarded[i], &sa, NULL);
	/* on a terminal the command's process group is the foreground one, so that
	 * Ctrl-C and job control reach it and not PID 1 (it has not started yet) */
	if (isatty(0) && setpgid(command, command) == 0)
		tcsetpgrp(0, command);
	close((int)go);
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, 0);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			return 127;
		if (pid == command)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
}

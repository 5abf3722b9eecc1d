/* Interruption: SIGINT, SIGTERM and SIGHUP set a flag long operations check. */
#include "util.h"

#include <signal.h>
#include <string.h>

volatile sig_atomic_t util_interrupted;

static void on_signal(int sig)
{
	util_interrupted = sig;
}

void util_catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

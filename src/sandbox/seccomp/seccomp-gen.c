/* The seccomp filter of a RUN step: docker's default profile as the reference. An
 * allow list of the system calls ordinary programs make; everything else fails with
 * EPERM. Among what it refuses: the kernel keyring (keyctl, add_key, request_key),
 * new namespaces (unshare, setns, clone with namespace flags; clone3 answers ENOSYS so
 * that libc falls back to clone), mounts, bpf, perf events, kernel modules, reboot,
 * kexec, the clock, swap, quotas, and AF_VSOCK sockets.
 *
 * This program runs when cairn is built: it makes the filter with libseccomp and
 * writes the BPF program as C (seccomp-filter.c, sandbox_seccomp_fprog), which the
 * sandbox hands to the kernel as it is. The filter depends only on this list and on
 * libseccomp's tables, so making it at every build of an image (10 ms of libseccomp
 * work) bought nothing. A system call newer than this libseccomp knows answers ENOSYS
 * rather than EPERM (as runc does), so that a newer libc in an image falls back to an
 * older call.
 *
 * Usage: seccomp-gen OUTPUT.c */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* Allowed without conditions. Names this machine's architectures do not have are
 * skipped (the 32-bit variants, for instance, exist only on 32-bit ABIs). */
static const char *const allowed[] = {
    /* files and directories */
    "access",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "close",
    "close_range",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "flock",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futimesat",
    "getcwd",
    "getdents",
    "getdents64",
    "lchown",
    "lchown32",
    "link",
    "linkat",
    "_llseek",
    "lseek",
    "lstat",
    "lstat64",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "name_to_handle_at",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pread64",
    "preadv",
    "preadv2",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "rename",
    "renameat",
    "renameat2",
    "rmdir",
    "sendfile",
    "sendfile64",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "tee",
    "truncate",
    "truncate64",
    "umask",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vmsplice",
    "write",
    "writev",
    /* extended attributes */
    "fgetxattr",
    "flistxattr",
    "fremovexattr",
    "fsetxattr",
    "getxattr",
    "lgetxattr",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lsetxattr",
    "removexattr",
    "setxattr",
    /* polling, events, notification */
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "fanotify_mark",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "_newselect",
    "pause",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "ppoll_time64",
    "pselect6",
    "pselect6_time64",
    "select",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    /* asynchronous I/O */
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioctl",
    "ioprio_get",
    "ioprio_set",
    /* memory */
    "brk",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mremap",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "remap_file_pages",
    "map_shadow_stack",
    /* processes, threads, signals */
    "capget",
    "capset",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "fork",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "getcpu",
    "get_robust_list",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrlimit",
    "getrusage",
    "getsid",
    "get_thread_area",
    "gettid",
    "kill",
    "pidfd_open",
    "pidfd_send_signal",
    "prctl",
    "prlimit64",
    "process_mrelease",
    "restart_syscall",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "setpgid",
    "setpriority",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "set_thread_area",
    "set_tid_address",
    "sigaltstack",
    "sigprocmask",
    "sigreturn",
    "tgkill",
    "tkill",
    "ugetrlimit",
    "vfork",
    "wait4",
    "waitid",
    "waitpid",
    /* credentials (within the capabilities the step has) */
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getuid",
    "getuid32",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setuid",
    "setuid32",
    /* time (reading it; setting the clock is refused) */
    "adjtimex",
    "alarm",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "getitimer",
    "gettimeofday",
    "nanosleep",
    "setitimer",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "times",
    /* sockets (socket itself below) */
    "accept",
    "accept4",
    "bind",
    "connect",
    "getpeername",
    "getsockname",
    "getsockopt",
    "listen",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "send",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setsockopt",
    "shutdown",
    "socketcall",
    "socketpair",
    /* System V IPC and POSIX message queues (the step's own ipc namespace) */
    "ipc",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    /* the rest of docker's list */
    "getrandom",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "sysinfo",
    "uname",
    "cachestat",
    /* debugging one's own processes (docker allows these on kernels >= 4.8) */
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    /* CAP_SYS_CHROOT is in the step's set */
    "chroot",
    /* architecture-specific */
    "arch_prctl",
    "modify_ldt",
    "sync_file_range2",
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "breakpoint",
    "cacheflush",
    "set_tls",
    "s390_pci_mmio_read",
    "s390_pci_mmio_write",
    "s390_runtime_instr",
    "riscv_flush_icache",
    "swapcontext",
};

/* personality(2) values docker allows: Linux, 32-bit Linux, UNAME26 of both, and the
 * query. */
static const unsigned long personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

/* Namespace flags of clone(2) (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET). */
#define CLONE_NAMESPACE_FLAGS 0x7E020000UL

/* Says what failed; returns -1. */
__attribute__((format(printf, 2, 3))) static int fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("seccomp-gen: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, code ? ": %s\n" : "\n", strerror(code));
	return -1;
}

/* The compat ABIs of the native architecture, so that 32-bit programs of an image
 * get the same filter instead of being killed. */
static void add_compat_arches(scmp_filter_ctx ctx)
{
	uint32_t native = seccomp_arch_native();
	if (native == SCMP_ARCH_X86_64) {
		seccomp_arch_add(ctx, SCMP_ARCH_X86);
		seccomp_arch_add(ctx, SCMP_ARCH_X32);
	} else if (native == SCMP_ARCH_AARCH64) {
		seccomp_arch_add(ctx, SCMP_ARCH_ARM);
	} else if (native == SCMP_ARCH_S390X) {
		seccomp_arch_add(ctx, SCMP_ARCH_S390);
	}
}

static int add_rules(scmp_filter_ctx ctx)
{
	for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;
		int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		/* -EDOM/-EOPNOTSUPP: no such call on any architecture of the filter */
		if (r < 0 && r != -EDOM && r != -EOPNOTSUPP && r != -EFAULT)
			return fail(-r, "allowing %s", allowed[i]);
	}
	for (size_t i = 0; i < sizeof personalities / sizeof *personalities; i++) {
		int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
					 SCMP_A0(SCMP_CMP_EQ, personalities[i]));
		if (r < 0)
			return fail(-r, "personality");
	}
	/* s390 passes the flags of clone as its second argument */
	unsigned flags_arg = seccomp_arch_native() == SCMP_ARCH_S390X ? 1 : 0;
	struct scmp_arg_cmp no_namespaces = {flags_arg, SCMP_CMP_MASKED_EQ, CLONE_NAMESPACE_FLAGS,
					     0};
	int r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, &no_namespaces);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				     SCMP_A0(SCMP_CMP_NE, AF_VSOCK));
	if (r < 0)
		return fail(-r, "clone, clone3 and socket rules");
	return 0;
}

/* The highest system call number of the native architecture this libseccomp knows. */
static int highest_known_syscall(void)
{
	uint32_t native = seccomp_arch_native();
	int highest = 0;
	for (int nr = 0; nr < 1024; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(native, nr);
		if (name)
			highest = nr;
		free(name);
	}
	return highest;
}

#ifndef AUDIT_ARCH_NATIVE
#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_AARCH64
#elif defined(__s390x__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_S390X
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_PPC64LE
#elif defined(__riscv) && __riscv_xlen == 64
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_RISCV64
#endif
#endif

/* __X32_SYSCALL_BIT: x32 calls come under the x86_64 audit arch with this bit set. */
#define X32_BIT 0x40000000U

/* Puts before the filter: on the native architecture, a call numbered above the
 * highest known (and not an x32 call) answers ENOSYS. Classic BPF jumps are relative,
 * so libseccomp's program runs unchanged after these instructions. */
static size_t enosys_stub(struct sock_filter *out)
{
#ifdef AUDIT_ARCH_NATIVE
	uint32_t highest = (uint32_t)highest_known_syscall();
	const struct sock_filter stub[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_NATIVE, 0, 4),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 2, 0),
	    BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, highest, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
	};
	if (!highest)
		return 0;
	memcpy(out, stub, sizeof stub);
	return sizeof stub / sizeof *stub;
#else
	(void)out;
	return 0;
#endif
}

/* Writes the stub and libseccomp's program as C to out. libseccomp 2.5 exports a
 * program only to a file descriptor. */
static int write_program(scmp_filter_ctx ctx, FILE *out)
{
	FILE *bpf = tmpfile();
	if (!bpf)
		return fail(errno, "a temp file");
	int r = seccomp_export_bpf(ctx, fileno(bpf));
	if (r < 0) {
		fclose(bpf);
		return fail(-r, "exporting the filter");
	}
	struct sock_filter prog[BPF_MAXINSNS + 1];
	size_t n = enosys_stub(prog);
	rewind(bpf);
	size_t got = fread(prog + n, sizeof *prog, BPF_MAXINSNS + 1 - n, bpf);
	fclose(bpf);
	n += got;
	if (!got || n > BPF_MAXINSNS)
		return fail(0, "the filter has %zu instructions", n);
	fputs("/* Generated by src/sandbox/seccomp/seccomp-gen.c when cairn was built. */\n"
	      "#include <linux/filter.h>\n\n"
	      "static const struct sock_filter filter[] = {\n",
	      out);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "\t{0x%x, %u, %u, 0x%x},\n", prog[i].code, prog[i].jt, prog[i].jf,
			prog[i].k);
	fprintf(out,
		"};\n\n"
		"extern const struct sock_fprog sandbox_seccomp_fprog;\n"
		"const struct sock_fprog sandbox_seccomp_fprog = {\n"
		"\t.len = %zu,\n"
		"\t.filter = (struct sock_filter *)filter,\n"
		"};\n",
		n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: seccomp-gen OUTPUT.c\n");
		return 2;
	}
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx) {
		fail(ENOMEM, "creating the filter");
		return 1;
	}
	add_compat_arches(ctx);
	FILE *out = NULL;
	int r = add_rules(ctx);
	if (r == 0 && !(out = fopen(argv[1], "w")))
		r = fail(errno, "%s", argv[1]);
	if (r == 0)
		r = write_program(ctx, out);
	if (out && fclose(out) != 0 && r == 0)
		r = fail(errno, "%s", argv[1]);
	seccomp_release(ctx);
	if (r < 0)
		remove(argv[1]);
	return r < 0 ? 1 : 0;
}

"""The mediation table: for every native system call, who mediates it under `stockade run`.

`Via` names the mechanism: a Landlock right, a seccomp argument rule, the supervisor (the call
is emulated by it, never continued on memory the program controls), refused (an errno, from
the baseline seccomp filter or from the kernel because no capability is kept), harmless
(touches nothing outside the process, and why), or unmediated (reaches something outside the
process and nothing here can stop it; docs/enforce.md lists these in plain words).

The table describes `stockade run` without a profile; a profile can unlock some refused calls
(capabilities, `userns`, `io_uring`, `ptrace`), which `detail` says. tests/enforce/
test_mediation.py checks it against the running kernel's table and against the baseline
filter and the supervisor's routing, so the three cannot drift apart.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Via(enum.Enum):
    """The kind of mediator."""

    LANDLOCK = "landlock"
    SECCOMP = "seccomp"
    SUPERVISOR = "supervisor"
    REFUSED = "refused"
    HARMLESS = "harmless"
    UNMEDIATED = "unmediated"


@dataclass(frozen=True)
class Mediation:
    """One system call's mediator and the detail for people (which right, errno, reason)."""

    via: Via
    detail: str


MEDIATION: dict[str, Mediation] = {}


def _add(via: Via, detail: str, names: str) -> None:
    for name in names.split():
        if name in MEDIATION:
            raise ValueError(f"{name} is in the mediation table twice")
        MEDIATION[name] = Mediation(via, detail)


L, S, SUP, R, H, U = (Via.LANDLOCK, Via.SECCOMP, Via.SUPERVISOR, Via.REFUSED, Via.HARMLESS,
                      Via.UNMEDIATED)

# -- Landlock ---------------------------------------------------------------------------------
_add(L, "fs read_file/read_dir/write_file/truncate at open, make_reg on O_CREAT (seccomp also "
     "refuses S_ISUID/S_ISGID modes)", "open openat creat")
_add(L, "fs execute (+read_file)", "execve execveat")
_add(L, "fs truncate (ABI 3); ftruncate on a descriptor opened before the sandbox is not "
     "checked", "truncate ftruncate")
_add(L, "fs make_dir on the parent", "mkdir mkdirat")
_add(L, "fs make_reg/make_fifo/make_sock/make_char/make_block on the parent (seccomp refuses "
     "S_ISUID/S_ISGID)", "mknod mknodat")
_add(L, "fs remove_file/remove_dir on the parent", "unlink unlinkat rmdir")
_add(L, "fs remove_*/make_* on the parents, refer across directories (ABI 2)",
     "rename renameat renameat2 link linkat")
_add(L, "fs make_sym on the parent", "symlink symlinkat")
_add(L, "net bind_tcp on the port (ABI 4); a unix socket path needs fs make_sock",
     "bind")
_add(L, "fs ioctl_dev on devices (ABI 5); seccomp refuses TIOCSTI and TIOCLINUX", "ioctl")
_add(L, "scope signal (ABI 6): no signal to a process outside the sandbox",
     "kill tkill tgkill rt_sigqueueinfo rt_tgsigqueueinfo pidfd_send_signal")
_add(L, "ptrace restriction: only processes inside the sandbox (ptrace_may_access); under "
     "--mode a module's ptrace_access_check decides pidfd_getfd (ATTACH) first",
     "pidfd_getfd kcmp get_robust_list migrate_pages move_pages process_madvise")

# -- seccomp argument rules -------------------------------------------------------------------
_add(S, "CLONE_NEWUSER and CLONE_NEWNS refused (EPERM); other namespaces need CAP_SYS_ADMIN "
     "(dropped); a profile's userns rule lifts CLONE_NEWUSER", "clone unshare")
_add(S, "EPERM unless the target is 0 (the caller): another process's limits and scheduling "
     "(the kernel checks only the uid); naming oneself or a thread by id is refused too",
     "prlimit64 sched_setaffinity sched_setscheduler sched_setparam sched_setattr")
_add(S, "ENOSYS unless the flags carry MFD_NOEXEC_SEAL (Linux 6.3): an executable memfd is "
     "on an internal mount, where Landlock does not check execute; programs fall back to "
     "shm_open or temporary files (checked)", "memfd_create")
_add(S, "EPERM unless which is PRIO_PROCESS / IOPRIO_WHO_PROCESS and who is 0 (the caller): "
     "process groups, users and other processes are refused", "setpriority ioprio_set")
_add(S, "families other than unix, inet, inet6, netlink: EAFNOSUPPORT; netlink protocols "
     "other than NETLINK_ROUTE (SOCK_DIAG, AUDIT, GENERIC...): EACCES (ROUTE reads the host's "
     "interfaces, addresses and routes); on inet/inet6 stream sockets any protocol but 0 and "
     "TCP (MPTCP, SCTP) is refused (EPROTONOSUPPORT) while TCP ports are restricted", "socket")

# -- supervisor (emulated) --------------------------------------------------------------------
_add(SUP, "emulated on the resolved inode if the plan grants write (AppArmor: w); "
     "S_ISUID/S_ISGID refused by seccomp first", "chmod fchmod fchmodat fchmodat2")
_add(SUP, "emulated on the resolved inode if the plan grants write (AppArmor: w); changing the "
     "owner needs CAP_CHOWN (dropped)", "chown fchown lchown fchownat")
_add(SUP, "emulated on the resolved inode if the plan grants write (AppArmor: w)",
     "utime utimes futimesat utimensat")
_add(SUP, "emulated on the resolved inode if the plan grants write (AppArmor: w); label "
     "attributes (user.stockade.*) refused (EPERM)",
     "setxattr lsetxattr fsetxattr removexattr lremovexattr fremovexattr setxattrat "
     "removexattrat")
_add(SUP, "emulated on the resolved inode if the plan grants read (AppArmor: r)",
     "getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr getxattrat listxattrat")
_add(SUP, "pathname unix sockets: emulated if the plan grants write on the socket file "
     "(AppArmor's unix/file rule); TCP: Landlock connect_tcp (ABI 4); abstract: scope "
     "(ABI 6)", "connect")
_add(SUP, "emulated (destination, data and SCM_RIGHTS copied once): a pathname unix "
     "destination needs the plan's write grant on the socket file; sendto only with an "
     "address; UDP destinations are not restricted (Landlock has no UDP right up to ABI 7)",
     "sendto sendmsg sendmmsg")
_add(SUP, "emulated when TCP bind is restricted: an unbound inet socket would take an "
     "ephemeral port (EADDRNOTAVAIL)", "listen")

# -- refused ----------------------------------------------------------------------------------
_add(R, "EPERM (baseline seccomp): modifies or inspects the running kernel; unlocked by the "
     "matching capability rule",
     "init_module finit_module delete_module kexec_load kexec_file_load bpf perf_event_open "
     "iopl ioperm reboot swapon swapoff")
_add(R, "EPERM (baseline seccomp): io_uring bypasses seccomp; unlocked by an io_uring rule",
     "io_uring_setup io_uring_enter io_uring_register")
_add(R, "EPERM (baseline seccomp): changes the mount table",
     "mount umount2 pivot_root fsopen fsmount fsconfig fspick move_mount open_tree "
     "open_tree_attr mount_setattr")
_add(R, "EPERM (baseline seccomp): reads or writes another process's memory; a ptrace rule "
     "unlocks ptrace", "ptrace process_vm_readv process_vm_writev")
_add(R, "EPERM (baseline seccomp): opens files by handle, bypassing path checks",
     "open_by_handle_at")
_add(R, "EPERM (baseline seccomp): the per-user kernel keyring is shared with the host; "
     "`run --allow-keyring` or a profile's `all,` rule unlocks them",
     "add_key request_key keyctl")
_add(R, "EPERM (baseline seccomp): joins another namespace; unlocked with sys_admin", "setns")
_add(R, "EPERM (baseline seccomp): changes inode flags/project ids Landlock does not mediate",
     "file_setattr")
_add(R, "ENOSYS (baseline seccomp): flags in memory seccomp cannot read; libc falls back to "
     "clone/openat", "clone3 openat2")
_add(R, "EPERM from the kernel: needs CAP_SYS_TIME (dropped)",
     "settimeofday clock_settime clock_adjtime adjtimex")
_add(R, "EPERM from the kernel: needs CAP_SYS_ADMIN (dropped) except reading one's own quota",
     "quotactl quotactl_fd")
_add(R, "EPERM from the kernel: needs CAP_SYS_ADMIN in the UTS namespace (dropped)",
     "sethostname setdomainname")
_add(R, "EPERM from the kernel: needs CAP_SYS_PACCT (dropped)", "acct")
_add(R, "EPERM from the kernel: needs CAP_SYS_CHROOT (dropped)", "chroot")
_add(R, "EPERM from the kernel: needs CAP_SYS_TTY_CONFIG (dropped)", "vhangup")
_add(R, "EPERM from the kernel: needs CAP_SETGID (dropped)", "setgroups")
_add(R, "EPERM from the kernel: needs CAP_SYSLOG/CAP_SYS_ADMIN (dropped) under "
     "dmesg_restrict", "syslog")
_add(R, "ENOSYS: not implemented by this kernel",
     "uselib _sysctl create_module get_kernel_syms query_module nfsservctl getpmsg putpmsg "
     "afs_syscall tuxcall security lookup_dcookie epoll_ctl_old epoll_wait_old vserver")

# -- unmediated -------------------------------------------------------------------------------
_add(U, "metadata of any path the user can look up (AppArmor: getattr needs r); Landlock "
     "has no stat right",
     "stat lstat newfstatat statx access faccessat faccessat2 readlink readlinkat statfs "
     "name_to_handle_at file_getattr")
_add(U, "System V IPC objects of the host's IPC namespace (kernel DAC on each object only)",
     "shmget shmat shmctl semget semop semctl semtimedop msgget msgsnd msgrcv msgctl")
_add(U, "POSIX message queues of the host's IPC namespace (AppArmor mqueue rules would)",
     "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr")
_add(U, "reads the scheduling policy, priority, affinity and I/O priority of any process "
     "(the kernel checks no uid; /proc/PID/stat shows the same); changing them is refused",
     "sched_getparam sched_getscheduler sched_getaffinity sched_getattr sched_rr_get_interval "
     "getpriority ioprio_get")
_add(U, "filesystem events on files the user can read (Landlock has no path_notify hook)",
     "inotify_add_watch fanotify_mark")
_add(U, "locks (flock, fcntl record/OFD locks and leases) on any file it can open can hold "
     "off other processes' locks: Landlock has no lock right (AppArmor: k); fcntl's other "
     "commands act on its own descriptors", "flock fcntl")
_add(U, "mount information of the mount namespace (also readable in /proc/self/mountinfo)",
     "statmount listmount")

# -- harmless ---------------------------------------------------------------------------------
_add(H, "works on descriptors the process already holds (checked when they were opened)",
     "read write close fstat lseek pread64 pwrite64 readv writev preadv pwritev preadv2 "
     "pwritev2 sendfile splice tee vmsplice copy_file_range fallocate fsync fdatasync "
     "sync_file_range readahead fadvise64 getdents getdents64 fstatfs dup dup2 "
     "dup3 close_range cachestat fchdir recvfrom recvmsg recvmmsg accept accept4 shutdown "
     "getsockname getpeername setsockopt getsockopt io_setup io_destroy io_getevents "
     "io_submit io_cancel io_pgetevents")
_add(H, "the process's own memory", "mmap mprotect munmap brk mremap msync mincore madvise "
     "remap_file_pages mlock munlock mlockall munlockall mlock2 mbind set_mempolicy "
     "get_mempolicy set_mempolicy_home_node pkey_mprotect pkey_alloc pkey_free "
     "memfd_secret userfaultfd membarrier mseal map_shadow_stack shmdt")
_add(H, "the process's own signals, timers and clocks",
     "rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait rt_sigsuspend "
     "sigaltstack pause nanosleep clock_nanosleep getitimer setitimer alarm timer_create "
     "timer_settime timer_gettime timer_getoverrun timer_delete time gettimeofday "
     "clock_gettime clock_getres restart_syscall")
_add(H, "new descriptors of the process's own (pipes, events, polling, sockets pairs)",
     "pipe pipe2 select pselect6 poll ppoll epoll_create epoll_create1 epoll_ctl epoll_wait "
     "epoll_pwait epoll_pwait2 eventfd eventfd2 signalfd signalfd4 timerfd_create "
     "timerfd_settime timerfd_gettime inotify_init inotify_init1 inotify_rm_watch "
     "fanotify_init socketpair pidfd_open")
_add(H, "the process itself, its threads and children",
     "fork vfork exit exit_group wait4 waitid getpid getppid gettid set_tid_address "
     "set_robust_list futex futex_waitv futex_wake futex_wait futex_requeue rseq "
     "sched_yield sched_get_priority_max sched_get_priority_min getcpu arch_prctl "
     "set_thread_area get_thread_area modify_ldt personality prctl process_mrelease")
_add(H, "the process's own credentials and limits: without capabilities only among its own "
     "ids, only lower",
     "getuid getgid geteuid getegid getresuid getresgid getgroups setuid setgid setreuid "
     "setregid setresuid setresgid setfsuid setfsgid capget capset getrlimit setrlimit "
     "getrusage times umask setpgid getpgid getpgrp setsid getsid")
_add(H, "its own working directory; later accesses are checked", "chdir getcwd")
_add(H, "information about the system, not about other processes",
     "uname sysinfo sysfs ustat getrandom")
_add(H, "can only add restrictions to the process itself", "seccomp landlock_add_rule")
_add(R, "EOPNOTSUPP from the supervisor (Landlock looks disabled) whenever it emulates open, "
     "connect or send for the program: a domain the program nested on itself would not bind "
     "the emulated calls (docs/supervisor.md#landlock-nesting)",
     "landlock_create_ruleset landlock_restrict_self")
_add(H, "the process's own LSM attributes (no running LSM here takes them)",
     "lsm_get_self_attr lsm_set_self_attr lsm_list_modules")
_add(H, "flushes dirty data; changes nothing anyone can read", "sync syncfs")
_add(H, "only valid from a uprobe trampoline (SIGILL otherwise)", "uretprobe uprobe")

del L, S, SUP, R, H, U


def mediation_of(name: str) -> Mediation | None:
    """The mediator of system call `name` (None: not in the table)."""
    return MEDIATION.get(name)

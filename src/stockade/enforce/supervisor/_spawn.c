/* The launcher's child in C: fork, confine, exec (stockade.enforce.spawn builds the spec).

   The same steps, in the same order, with the same error report as the Python child
   (stockade.enforce.launcher._child), which stays the fallback. No Python runs in the child:
   the child touches only this spec (built before fork), its own stack and the kernel, so it
   does not fault in the interpreter's pages, and every call here is async-signal-safe.
   A failure is reported on err_w as "stage\0errno" and the child exits 125 (127/126 for exec),
   exactly as launcher._report does. Appended to the _unotify extension's source. */

#include <signal.h>
#include <sys/resource.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <sys/prctl.h>

#ifndef SYS_landlock_restrict_self  /* headers older than Linux 5.13: the generic number */
#define SYS_landlock_restrict_self 446
#endif

#define STK_SETUP_FAILED 125
#define STK_NOT_FOUND 127
#define STK_CANNOT_EXECUTE 126
#define STK_RLIMITS 16

struct stk_child {
    int parent;              /* launcher pid checked after PR_SET_PDEATHSIG; 0: no PDEATHSIG */
    int go_r, err_w;         /* the go pipe's read end, the error pipe's write end */
    int close_fds[4];        /* closed first (the other pipe ends, the supervisor's socket) */
    int n_close;
    uint64_t keep_caps;
    int trim_bounding, raise_ambient, lock_securebits, last_cap;
    uint32_t securebits;
    int ruleset_fd;          /* -1: no Landlock */
    uint32_t restrict_flags;
    int n_rlimits;
    int rl_resource[STK_RLIMITS];
    uint64_t rl_limit[STK_RLIMITS];
    uint64_t reset_signals;  /* bit sig-1: reset to SIG_DFL if a handler is set */
    uint64_t always_default; /* bit sig-1: reset to SIG_DFL whatever is set */
    uint64_t old_mask;       /* bit sig-1: the signal mask the program starts with */
    int notify_sock;         /* -1: no supervisor; else the socket the listener fd goes to */
    const unsigned char *notify_code;
    long notify_len;         /* in instructions */
    uint32_t notify_flags, notify_fallback_flags;
    const unsigned char *bpf_code;  /* NULL: no plan filter */
    long bpf_len;
    uint32_t seccomp_flags;
    char **paths;            /* NULL-terminated, tried in order as execvp(3) */
    char **argv;
    char **envp;
};

static long stk_sys(long nr, long a, long b, long c, long d, long e)
{
    long r = syscall(nr, a, b, c, d, e);
    return r < 0 ? -errno : r;
}

static void stk_fail(const struct stk_child *c, const char *stage, int err)
{
    char buf[96];
    size_t n = strlen(stage);
    if (n > sizeof buf - 16)
        n = sizeof buf - 16;
    memcpy(buf, stage, n);
    buf[n++] = '\0';
    char digits[12];
    int d = 0;
    unsigned v = (unsigned)(err < 0 ? 0 : err);
    do {
        digits[d++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && d < 11);
    while (d)
        buf[n++] = digits[--d];
    ssize_t w = write(c->err_w, buf, n);
    (void)w;
    int code = STK_SETUP_FAILED;
    if (strcmp(stage, "exec") == 0)
        code = err == ENOENT ? STK_NOT_FOUND : STK_CANNOT_EXECUTE;
    _exit(code);
}

/* 0 or -errno, as a failing prctl */
static long stk_prctl(int op, unsigned long a, unsigned long b)
{
    return prctl(op, a, b, 0, 0) < 0 ? -errno : 0;
}

/* caps.restrict_to, step for step */
static long stk_caps(const struct stk_child *c)
{
    long r = stk_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0);
    if (r < 0 && r != -EINVAL)  /* no ambient set before 4.3 */
        return r;
    if (c->lock_securebits && (r = stk_prctl(PR_SET_SECUREBITS, c->securebits, 0)) < 0)
        return r;
    uint64_t bounding = ~(uint64_t)0;
    if (c->trim_bounding) {
        bounding = 0;
        for (int cap = 0; cap <= c->last_cap; cap++) {
            if (!(c->keep_caps >> cap & 1)) {
                if ((r = stk_prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0)) < 0)
                    return r;
            } else {
                int has = prctl(PR_CAPBSET_READ, (unsigned long)cap, 0, 0, 0);
                if (has < 0)
                    return -errno;
                if (has == 1)
                    bounding |= (uint64_t)1 << cap;
            }
        }
    }
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if ((r = stk_sys(SYS_capget, (long)&hdr, (long)data, 0, 0, 0)) < 0)
        return r;
    uint64_t permitted = (uint64_t)data[0].permitted | (uint64_t)data[1].permitted << 32;
    uint64_t kept = c->keep_caps & permitted;
    uint64_t inheritable = kept & bounding;
    for (int i = 0; i < 2; i++) {
        data[i].effective = (uint32_t)(kept >> (32 * i));
        data[i].permitted = (uint32_t)(kept >> (32 * i));
        data[i].inheritable = (uint32_t)(inheritable >> (32 * i));
    }
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    hdr.pid = 0;
    if ((r = stk_sys(SYS_capset, (long)&hdr, (long)data, 0, 0, 0)) < 0)
        return r;
    if (c->raise_ambient)
        for (int cap = 0; cap <= c->last_cap; cap++)
            if (inheritable >> cap & 1)  /* may be refused by SECBIT_NO_CAP_AMBIENT_RAISE */
                (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)cap, 0, 0);
    return 0;
}

/* launcher._lower_rlimits: lower each hard limit to the plan's (never raise), soft to match */
static long stk_rlimits(const struct stk_child *c)
{
    for (int i = 0; i < c->n_rlimits; i++) {
        struct rlimit rl;
        if (getrlimit(c->rl_resource[i], &rl) < 0)
            return -errno;
        rlim_t limit = (rlim_t)c->rl_limit[i];
        if (limit != RLIM_INFINITY && (rl.rlim_max == RLIM_INFINITY || limit < rl.rlim_max))
            rl.rlim_max = limit;
        if (rl.rlim_max != RLIM_INFINITY
            && (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > rl.rlim_max))
            rl.rlim_cur = rl.rlim_max;
        if (setrlimit(c->rl_resource[i], &rl) < 0)
            return -errno;
    }
    return 0;
}

static long stk_signals(const struct stk_child *c)
{
    struct sigaction dfl, old;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig <= 64; sig++) {
        uint64_t bit = (uint64_t)1 << (sig - 1);
        if (c->always_default & bit) {
            if (sigaction(sig, &dfl, NULL) < 0)
                return -errno;
        } else if (c->reset_signals & bit) {
            if (sigaction(sig, NULL, &old) < 0)
                return -errno;
            if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN
                && sigaction(sig, &dfl, NULL) < 0)
                return -errno;
        }
    }
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig = 1; sig <= 64; sig++)
        if (c->old_mask >> (sig - 1) & 1)
            sigaddset(&mask, sig);
    return sigprocmask(SIG_SETMASK, &mask, NULL) < 0 ? -errno : 0;
}

static long stk_load(const unsigned char *code, long len, uint32_t flags)
{
    struct sock_fprog prog = {(unsigned short)len, (struct sock_filter *)code};
    return stk_sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, (long)&prog, 0, 0);
}

/* session.SupervisedLaunch.in_child: dumpable, the notification filter, the listener fd
   to the supervisor over the socket (write and read only), then our copies closed */
static long stk_hand_over(const struct stk_child *c)
{
    long r = stk_prctl(PR_SET_DUMPABLE, 1, 0);
    if (r < 0)
        return r;
    long fd = stk_load(c->notify_code, c->notify_len, c->notify_flags);
    if (fd < 0)  /* before 5.19: no WAIT_KILLABLE_RECV */
        fd = stk_load(c->notify_code, c->notify_len, c->notify_fallback_flags);
    if (fd < 0)
        return fd;
    int32_t number = (int32_t)fd;
    ssize_t w = write(c->notify_sock, &number, sizeof number);
    if (w < 0)
        return -errno;
    if (w != sizeof number)
        return -EIO;
    char ack;
    while (read(c->notify_sock, &ack, 1) < 0)
        if (errno != EINTR)
            return -errno;
    close((int)fd);
    close(c->notify_sock);
    return 0;
}

static void stk_child_main(const struct stk_child *c)
{
    long r;
    for (int i = 0; i < c->n_close; i++)
        close(c->close_fds[i]);
    if (c->parent) {
        if ((r = stk_prctl(PR_SET_PDEATHSIG, SIGKILL, 0)) < 0)
            stk_fail(c, "prctl(PR_SET_PDEATHSIG)", (int)-r);
        if (getppid() != c->parent)  /* the parent died before the prctl */
            _exit(STK_SETUP_FAILED);
    }
    char go = 0;
    ssize_t got;
    while ((got = read(c->go_r, &go, 1)) < 0 && errno == EINTR)
        ;
    if (got < 0)
        stk_fail(c, "waiting for the launcher", errno);
    if (got != 1 || go != 'g')
        _exit(STK_SETUP_FAILED);  /* the launcher gave up (it says why) */
    close(c->go_r);
    if ((r = stk_prctl(PR_SET_NO_NEW_PRIVS, 1, 0)) < 0)
        stk_fail(c, "prctl(PR_SET_NO_NEW_PRIVS)", (int)-r);
    if ((r = stk_caps(c)) < 0)
        stk_fail(c, "capabilities", (int)-r);
    if (c->ruleset_fd >= 0) {
        if ((r = stk_sys(SYS_landlock_restrict_self, c->ruleset_fd, c->restrict_flags, 0, 0, 0)) < 0)
            stk_fail(c, "landlock_restrict_self", (int)-r);
        close(c->ruleset_fd);
    }
    if (c->n_rlimits && (r = stk_rlimits(c)) < 0)
        stk_fail(c, "setrlimit", (int)-r);
    if ((r = stk_signals(c)) < 0)
        stk_fail(c, "signals", (int)-r);
    if (c->notify_sock >= 0 && (r = stk_hand_over(c)) < 0)
        stk_fail(c, "seccomp user notification", (int)-r);
    if (c->bpf_code && (r = stk_load(c->bpf_code, c->bpf_len, c->seccomp_flags)) < 0)
        stk_fail(c, "seccomp", (int)-r);
    int saved = 0, last = ENOENT;  /* as execvp(3): EACCES wins if nothing else ran */
    for (char **path = c->paths; *path; path++) {
        execve(*path, c->argv, c->envp);
        last = errno;
        if (last == EACCES)
            saved = last;
        else if (last != ENOENT && last != ENOTDIR)
            stk_fail(c, "exec", last);
    }
    stk_fail(c, "exec", saved ? saved : last);
}

/* Fork; the child runs the steps above and never returns. The child's pid, or -errno. */
int stk_spawn(const struct stk_child *c)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0)
        stk_child_main(c);  /* never returns */
    return pid;
}

/* The kernel's floor under a seccomp user-notification supervisor, per open: a C-only supervisor
   (no Python, no stockade), built and driven by supervisor_floor.py.

   Usage: supervisor_floor STEPS N PATH [PROGRAM ARG...]
   STEPS, letters (the order of the calls is always stockade's fast path's):
     u  unconfined (no filter; every other letter is ignored)
     c  notify + CONTINUE (the TOCTOU stockade refuses: the kernel opens what it reads later)
     o  the emulated open: openat2 (RESOLVE_NO_SYMLINKS|NO_MAGICLINKS, O_NONBLOCK) + ADDFD|SEND
        + close of our copy (without c: the default)
     p  pidfd poll (the task cache's liveness check)      r  process_vm_readv of the path
     v  SECCOMP_IOCTL_NOTIF_ID_VALID                       s  fstat of the opened file
     x  fgetxattr(user.stockade.biba)                      f  fcntl(F_SETFL) clearing O_NONBLOCK
     2  poll the listener and a stop pipe (stockade's loop) instead of the listener alone
     l  Landlock: the supervisor thread and the target each restricted (read rights under /)
     t  time each supervisor step in place (CLOCK_MONOTONIC, vDSO) and print its median
   FLOOR_PIN=A,B in the environment: the target on CPU A, the supervisor on CPU B.
   The target opens PATH N times (O_RDONLY, closing each), or with PROGRAM it execs PROGRAM ARG...
   after installing the filter (then r is implied, and each open uses the path and flags read).
   Prints: STEPS wall_us_per_open cpu_us_per_open supervisor_cpu_us target_cpu_us [step=ns ...]
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif

static int send_fd(int sock, int fd) {
    char buf[CMSG_SPACE(sizeof(int))]; memset(buf, 0, sizeof buf);
    struct iovec io = {.iov_base = "x", .iov_len = 1};
    struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m); c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int)); memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &m, 0);
}
static int recv_fd(int sock) {
    char buf[CMSG_SPACE(sizeof(int))]; char x;
    struct iovec io = {.iov_base = &x, .iov_len = 1};
    struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
    if (recvmsg(sock, &m, 0) < 0) return -1;
    int fd; memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int)); return fd;
}

/* Restrict the calling thread: read rights anywhere under / (the rule is met at the root, so
   every open walks its whole path as Landlock does for stockade's rules). */
static void landlock(void) {
    struct landlock_ruleset_attr attr = {.handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE
        | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR};
    int rs = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    struct landlock_path_beneath_attr pb = {.allowed_access = attr.handled_access_fs,
                                            .parent_fd = open("/", O_PATH | O_CLOEXEC)};
    if (rs < 0 || syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0
        || syscall(SYS_landlock_restrict_self, rs, 0) < 0) {
        perror("landlock"); exit(1);
    }
    close(pb.parent_fd); close(rs);
}

static double now_ns(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec;
}

enum { S_RECV, S_PIDFD, S_READ, S_VALID, S_OPEN, S_FSTAT, S_XATTR, S_SETFL, S_ADDFD, S_CLOSE, S_N };
static const char *step_names[S_N] = {"poll+RECV", "pidfd", "readv", "ID_VALID", "openat2",
                                      "fstat", "fgetxattr", "F_SETFL", "ADDFD|SEND", "close"};
static float *samples[S_N];
static long nsamples;

static int cmp(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b; return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s STEPS N PATH [PROGRAM ARG...]\n", argv[0]); return 2; }
    const char *steps = argv[1]; long n = atol(argv[2]); const char *path = argv[3];
    char **program = argc > 4 ? argv + 4 : NULL;
#define HAS(ch) (strchr(steps, ch) != NULL)
    int confined = !HAS('u'), cont = HAS('c'), timed = HAS('t');
    int sv[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    if (confined && HAS('l'))
        landlock();  /* the supervisor (this thread; the child inherits it and adds its own) */
    const char *pin = getenv("FLOOR_PIN");  /* "TARGET_CPU,SUPERVISOR_CPU" */
    int pin_target = -1, pin_sup = -1;
    if (pin && sscanf(pin, "%d,%d", &pin_target, &pin_sup) != 2) pin_target = pin_sup = -1;
    pid_t pid = fork();
    if (pid == 0) {
        if (pin_target >= 0) {
            cpu_set_t set; CPU_ZERO(&set); CPU_SET(pin_target, &set);
            sched_setaffinity(0, sizeof set, &set);
        }
        if (confined) {
            struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
            struct sock_fprog p = {4, f};
            prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            if (HAS('l'))
                landlock();
            int lfd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &p);
            send_fd(sv[1], lfd); close(lfd);
        }
        char ok; if (read(sv[1], &ok, 1) != 1) _exit(1);
        if (program) { execv(program[0], program); perror("exec"); _exit(1); }
        for (long i = 0; i < n; i++) {
            int fd = openat(AT_FDCWD, path, O_RDONLY);
            if (fd < 0) { perror("open"); _exit(1); }
            close(fd);
        }
        _exit(0);
    }
    if (pin_sup >= 0) {
        cpu_set_t set; CPU_ZERO(&set); CPU_SET(pin_sup, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    int lfd = confined ? recv_fd(sv[0]) : -1;
    if (lfd >= 0) ioctl(lfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
    int pidfd = syscall(SYS_pidfd_open, pid, 0);
    int stop[2]; if (pipe2(stop, O_CLOEXEC) < 0) return 1;
    int do_pidfd = HAS('p'), do_read = HAS('r') || program, do_valid = HAS('v');
    int do_fstat = HAS('s'), do_xattr = HAS('x'), do_setfl = HAS('f'), nfds = HAS('2') ? 2 : 1;
    if (timed) for (int i = 0; i < S_N; i++) samples[i] = calloc((size_t)n + 1, sizeof(float));
    struct timespec t0, t1, c0, c1;
    clock_gettime(CLOCK_MONOTONIC, &t0); clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    if (write(sv[0], "g", 1) != 1) return 1;
    if (confined) {
        char pbuf[4096], val[256];
        double at[S_N];
        for (;;) {
            struct pollfd pf[2] = {{lfd, POLLIN, 0}, {stop[0], POLLIN, 0}};
            if (poll(pf, nfds, -1) < 0) continue;
            if (pf[0].revents & POLLHUP) break;
            struct seccomp_notif note; memset(&note, 0, sizeof note);
            if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, &note) < 0) { if (errno == ENOENT) continue; break; }
            /* the time from RECV's return (not the wait before it) */
            if (timed) at[S_RECV] = now_ns();
            if (cont) {
                struct seccomp_notif_resp r = {.id = note.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
                ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &r); continue;
            }
            const char *want = path;
            int flags = O_RDONLY;
            if (do_pidfd) { struct pollfd pp = {pidfd, POLLIN, 0}; poll(&pp, 1, 0); }
            if (timed) at[S_PIDFD] = now_ns();
            if (do_read) {
                struct iovec l = {pbuf, 256}, r = {(void *)note.data.args[1], 256};
                process_vm_readv(note.pid, &l, 1, &r, 1, 0);
                pbuf[255] = 0;
                if (program) {
                    if (pbuf[0] != '/') {  /* start-up only: the measured loop opens absolute paths */
                        struct seccomp_notif_resp rr = {.id = note.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
                        ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &rr); continue;
                    }
                    want = pbuf;
                    flags = (int)note.data.args[2] & ~(O_CREAT | O_TRUNC);
                }
            }
            if (timed) at[S_READ] = now_ns();
            if (do_valid) ioctl(lfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &note.id);
            if (timed) at[S_VALID] = now_ns();
            struct open_how how = {.flags = (unsigned)flags | O_NONBLOCK | O_CLOEXEC,
                                   .resolve = program ? 0 : RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
            int fd = syscall(SYS_openat2, AT_FDCWD, want, &how, sizeof how);
            if (timed) at[S_OPEN] = now_ns();
            if (fd < 0) {
                struct seccomp_notif_resp r = {.id = note.id, .error = -errno};
                ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &r); continue;
            }
            struct stat st; if (do_fstat) fstat(fd, &st);
            if (timed) at[S_FSTAT] = now_ns();
            if (do_xattr) fgetxattr(fd, "user.stockade.biba", val, sizeof val);
            if (timed) at[S_XATTR] = now_ns();
            if (do_setfl) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
            if (timed) at[S_SETFL] = now_ns();
            struct seccomp_notif_addfd a = {.id = note.id, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = fd,
                                            .newfd_flags = flags & O_CLOEXEC};
            ioctl(lfd, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
            if (timed) at[S_ADDFD] = now_ns();
            close(fd);
            if (timed) {
                at[S_CLOSE] = now_ns();
                if (nsamples < n)
                    for (int i = S_PIDFD; i < S_N; i++)
                        samples[i][nsamples] = (float)(at[i] - at[i - 1]);
                nsamples++;
            }
        }
    }
    int status; struct rusage ru; wait4(pid, &status, 0, &ru);
    clock_gettime(CLOCK_MONOTONIC, &t1); clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) { fprintf(stderr, "target failed\n"); return 1; }
    double per = n > 0 ? (double)n : 1.0;
    double wall = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
    double sup = (c1.tv_sec - c0.tv_sec) * 1e6 + (c1.tv_nsec - c0.tv_nsec) / 1e3;
    double child = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
    printf("%s %.3f %.3f %.3f %.3f", steps, wall / per, (sup + child) / per, sup / per, child / per);
    if (timed && nsamples > 0) {
        long m = nsamples < n ? nsamples : n;
        for (int i = S_PIDFD; i < S_N; i++) {
            qsort(samples[i], (size_t)m, sizeof(float), cmp);
            printf(" %s=%.0f", step_names[i], samples[i][m / 2]);
        }
    }
    printf("\n");
    return 0;
}

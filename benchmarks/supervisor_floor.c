/* The kernel's floor under a seccomp user-notification supervisor, per open: a C-only supervisor
   (no Python, no stockade), built and driven by supervisor_floor.py.
   mode 0: unconfined; 1: notify + CONTINUE; 2: notify + openat2 + fstat + ADDFD|SEND (no checks);
   3: as 2 plus every other system call the fast path makes (pidfd poll, process_vm_readv,
   ID_VALID, fgetxattr, F_SETFL). Usage: supervisor_floor MODE N PATH */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <sys/socket.h>
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

int main(int argc, char **argv) {
    int mode = atoi(argv[1]); long n = atol(argv[2]); const char *path = argv[3];
    int sv[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid_t pid = fork();
    if (pid == 0) {
        if (mode) {
            struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
            struct sock_fprog p = {4, f};
            prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            int lfd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &p);
            send_fd(sv[1], lfd); close(lfd);
        }
        char ok; read(sv[1], &ok, 1);
        for (long i = 0; i < n; i++) { int fd = openat(AT_FDCWD, path, O_RDONLY); if (fd < 0) { perror("open"); _exit(1);} close(fd); }
        _exit(0);
    }
    int lfd = mode ? recv_fd(sv[0]) : -1;
    if (lfd >= 0) ioctl(lfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
    int pidfd = syscall(SYS_pidfd_open, pid, 0);
    struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    struct timespec c0, c1; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    write(sv[0], "g", 1);
    if (mode) {
        char pbuf[4096], val[256];
        for (;;) {
            struct pollfd pf = {lfd, POLLIN, 0};
            if (poll(&pf, 1, -1) < 0) continue;
            if (pf.revents & (POLLHUP)) break;
            struct seccomp_notif note; memset(&note, 0, sizeof note);
            if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, &note) < 0) { if (errno == ENOENT) continue; break; }
            if (mode == 1) {
                struct seccomp_notif_resp r = {.id = note.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
                ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &r); continue;
            }
            if (mode == 3) {
                struct pollfd pp = {pidfd, POLLIN, 0}; poll(&pp, 1, 0);
                struct iovec l = {pbuf, 256}, r = {(void *)note.data.args[1], 256};
                process_vm_readv(note.pid, &l, 1, &r, 1, 0);
                ioctl(lfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &note.id);
            }
            struct open_how how = {.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
            int fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
            struct stat st; fstat(fd, &st);
            if (mode == 3) { fgetxattr(fd, "user.stockade.biba", val, sizeof val); fcntl(fd, F_SETFL, O_RDONLY); }
            struct seccomp_notif_addfd a = {.id = note.id, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = fd};
            ioctl(lfd, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
            close(fd);
        }
    }
    int status; struct rusage ru; wait4(pid, &status, 0, &ru);
    clock_gettime(CLOCK_MONOTONIC, &t1); clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    double wall = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
    double sup = (c1.tv_sec - c0.tv_sec) * 1e6 + (c1.tv_nsec - c0.tv_nsec) / 1e3;
    double child = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
    printf("%d %.3f %.3f\n", mode, wall / n, (sup + child) / n);
    return 0;
}

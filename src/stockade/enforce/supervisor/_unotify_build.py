"""cffi builder of `stockade.enforce.supervisor._unotify`: the supervisor's hot-path mechanics in C.

Only mechanics: receive a notification, read strings from the target, ID_VALID, answer, ADDFD,
openat2. Every function returns a value >= 0 or -errno and never decides anything; the decision
stays in Python (loop.py, handlers.py). Built by setup.py (`pip install`), optional: without a
compiler the pure-Python path (notify.py, sys.py) is used.
"""

from __future__ import annotations

from cffi import FFI

CDEF = """
struct stk_note { uint64_t id; uint32_t pid; int32_t nr; uint32_t arch; uint64_t args[6]; };
int stk_next(int lfd, int stopfd, int timeout_ms, struct stk_note *out);
long stk_cstring(int pid, uint64_t addr, char *buf, long limit);
long stk_read(int pid, uint64_t addr, char *buf, long n);
int stk_id_valid(int lfd, uint64_t id);
int stk_respond(int lfd, uint64_t id, int64_t val, int32_t error, uint32_t flags);
int stk_inject_close(int lfd, uint64_t id, int srcfd, uint32_t newfd_flags);
int stk_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
"""

SOURCE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>

struct stk_note { uint64_t id; uint32_t pid; int32_t nr; uint32_t arch; uint64_t args[6]; };

/* Wait for the listener or the stop fd, then receive. 1: a notification in *out; 0: nothing
   (timeout, EINTR, or the notification vanished: ENOENT); 2: stop, or the listener hung up /
   no task uses the filter any more; -errno: RECV failed otherwise. */
int stk_next(int lfd, int stopfd, int timeout_ms, struct stk_note *out)
{
    struct pollfd fds[2] = {{lfd, POLLIN, 0}, {stopfd, POLLIN, 0}};
    int n = poll(fds, 2, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (n == 0)
        return 0;
    if (fds[1].revents)
        return 2;
    if (!(fds[0].revents & POLLIN))
        return fds[0].revents ? 2 : 0;
    struct seccomp_notif note;
    memset(&note, 0, sizeof note);  /* the kernel refuses a buffer that is not zeroed */
    if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, &note) < 0)
        return (errno == ENOENT || errno == EINTR) ? 0 : -errno;
    out->id = note.id;
    out->pid = note.pid;
    out->nr = note.data.nr;
    out->arch = note.data.arch;
    for (int i = 0; i < 6; i++)
        out->args[i] = note.data.args[i];
    return 1;
}

static long readv_at(int pid, uint64_t addr, char *buf, long n)
{
    struct iovec local = {buf, (size_t)n};
    struct iovec remote = {(void *)(uintptr_t)addr, (size_t)n};
    long got = (long)process_vm_readv(pid, &local, 1, &remote, 1, 0);
    return got < 0 ? -errno : got;
}

/* The NUL-terminated string at addr: its length (the bytes are in buf, which holds limit bytes),
   -EFAULT if unmapped, -ENAMETOOLONG if no NUL within limit bytes. Never crosses a page in one
   read: the next page may be unmapped while the string ends before it. */
long stk_cstring(int pid, uint64_t addr, char *buf, long limit)
{
    long have = 0;
    if (!addr || limit <= 0)
        return addr ? -ENAMETOOLONG : -EFAULT;
    while (have < limit) {
        long chunk = 4096 - (long)(addr & 4095);
        if (have == 0 && chunk > 256)
            chunk = 256;  /* most paths end here: read the rest of the page only if not */
        if (chunk > limit - have)
            chunk = limit - have;
        long got = readv_at(pid, addr, buf + have, chunk);
        if (got <= 0)
            return -EFAULT;
        char *nul = memchr(buf + have, 0, (size_t)got);
        if (nul)
            return (long)(nul - buf);
        have += got;
        addr += (uint64_t)got;
    }
    return -ENAMETOOLONG;
}

/* Up to n bytes at addr (fewer if a page is unmapped), or -errno. */
long stk_read(int pid, uint64_t addr, char *buf, long n)
{
    if (n < 0)
        return -EINVAL;
    return readv_at(pid, addr, buf, n);
}

int stk_id_valid(int lfd, uint64_t id)
{
    return ioctl(lfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0 ? -errno : 0;
}

/* error is a positive errno (0: the call returns val). */
int stk_respond(int lfd, uint64_t id, int64_t val, int32_t error, uint32_t flags)
{
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.id = id;
    resp.val = val;
    resp.error = error ? -error : 0;
    resp.flags = flags;
    return ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 ? -errno : 0;
}

/* ADDFD with SEND: install srcfd in the target as the call's result; srcfd is closed in every
   case. The target's fd number, or -errno. */
int stk_inject_close(int lfd, uint64_t id, int srcfd, uint32_t newfd_flags)
{
    struct seccomp_notif_addfd addfd;
    memset(&addfd, 0, sizeof addfd);
    addfd.id = id;
    addfd.flags = SECCOMP_ADDFD_FLAG_SEND;
    addfd.srcfd = (uint32_t)srcfd;
    addfd.newfd_flags = newfd_flags;
    int got = ioctl(lfd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
    int err = got < 0 ? errno : 0;
    close(srcfd);
    return got < 0 ? -(err ? err : EIO) : got;
}

int stk_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("stockade.enforce.supervisor._unotify", SOURCE,
                      extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

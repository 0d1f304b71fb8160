"""cffi builder of `stockade.enforce.supervisor._unotify`: the supervisor's hot-path mechanics in C.

Mechanics: receive a notification, read strings from the target, ID_VALID, answer, ADDFD,
openat2. Every function returns a value >= 0 or -errno and never decides anything; the decisions
are Python's (loop.py, handlers/). The one exception is a mirror of allows Python's AVC already
holds (FAST_SOURCE, fast.FastPath): a plain open with an equal key is answered here. Built by
setup.py (`pip install`), optional: without a compiler the pure-Python path (notify.py, sys.py)
is used.
"""

from __future__ import annotations

import os

from cffi import FFI


def _read_source(name: str) -> str:
    """A C file next to this builder (the launcher's child, _spawn.c), appended to SOURCE."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), name)) as f:
        return f.read()


# The fast path for AVC hits (fast.FastPath): a plain open whose decision is an allow that the
# Python AVC holds, mirrored here under a key made of exactly the AVC key's inputs, is completed
# without calling into Python; everything else (a miss, any error, anything unusual) is handed
# to Python untouched but for the reads, which Python makes again.
FAST_SOURCE = r"""
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#define STK_SLOTS 4096     /* decisions, direct-mapped: a collision replaces */
#define STK_TASKS 1024     /* tasks, direct-mapped by tid */
#define STK_KEYMAX 2048    /* longer keys are not mirrored */
#define STK_NAMES 8
#define STK_VALMAX 256     /* a longer label value: Python */
#define STK_PATHMAX 4096

struct stk_entry { uint64_t hash; uint32_t len; unsigned char *key; };
struct stk_task { int tid; int pidfd; uint64_t token; uint64_t cred_gen; };

struct stk_fast {
    pthread_mutex_t lock;
    uint64_t seqno, cred_gen;
    uint64_t hits, misses, vanished, denied, lookups;
    uint32_t arch, may_open, may_read, may_write, may_append;
    int nr_open, nr_openat, n_names;
    uint64_t proc_dev;
    char names[STK_NAMES][256];
    struct stk_entry slots[STK_SLOTS];
    struct stk_task tasks[STK_TASKS];
    char path[STK_PATHMAX];
    unsigned char key[STK_KEYMAX];
    /* the path read for the notification last handed to Python (stk_fast_prefetched) */
    int pre_valid, pre_tid;
    uint64_t pre_addr;
    long pre_len;
};

struct stk_fast *stk_fast_new(uint32_t arch, int nr_open, int nr_openat, uint64_t proc_dev,
                              const char *names, uint32_t may_open, uint32_t may_read,
                              uint32_t may_write, uint32_t may_append)
{
    struct stk_fast *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    pthread_mutex_init(&f->lock, NULL);
    f->arch = arch;
    f->nr_open = nr_open;
    f->nr_openat = nr_openat;
    f->proc_dev = proc_dev;
    f->may_open = may_open;
    f->may_read = may_read;
    f->may_write = may_write;
    f->may_append = may_append;
    for (int i = 0; i < STK_TASKS; i++)
        f->tasks[i].pidfd = -1;
    /* names: NUL-separated, ended by an empty name */
    while (*names && f->n_names < STK_NAMES) {
        size_t n = strlen(names);
        if (n >= sizeof f->names[0]) {
            free(f);
            return NULL;
        }
        memcpy(f->names[f->n_names++], names, n + 1);
        names += n + 1;
    }
    if (*names) {  /* more names than we hold */
        free(f);
        return NULL;
    }
    return f;
}

static void drop_all(struct stk_fast *f)
{
    for (int i = 0; i < STK_SLOTS; i++) {
        free(f->slots[i].key);
        f->slots[i].key = NULL;
        f->slots[i].len = 0;
    }
}

static void forget_task(struct stk_task *t)
{
    if (t->pidfd >= 0)
        close(t->pidfd);
    t->pidfd = -1;
    t->tid = 0;
}

void stk_fast_free(struct stk_fast *f)
{
    if (!f)
        return;
    drop_all(f);
    for (int i = 0; i < STK_TASKS; i++)
        forget_task(&f->tasks[i]);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static uint64_t hash_key(const unsigned char *k, long n)
{
    uint64_t h = 1469598103934665603ULL;  /* FNV-1a */
    for (long i = 0; i < n; i++)
        h = (h ^ k[i]) * 1099511628211ULL;
    return h;
}

/* The AVC was reset to `seqno`: forget every decision. */
void stk_fast_flush(struct stk_fast *f, uint64_t seqno)
{
    pthread_mutex_lock(&f->lock);
    drop_all(f);
    if (seqno > f->seqno)
        f->seqno = seqno;
    pthread_mutex_unlock(&f->lock);
}

/* Mirror an allow Python's AVC holds under `key` (computed against policy `seqno`). */
int stk_fast_put(struct stk_fast *f, const unsigned char *key, long len, uint64_t seqno)
{
    if (len <= 0 || len > STK_KEYMAX)
        return -EINVAL;
    unsigned char *copy = malloc((size_t)len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, key, (size_t)len);
    uint64_t h = hash_key(key, len);
    pthread_mutex_lock(&f->lock);
    if (seqno < f->seqno) {  /* decided against a policy since replaced */
        pthread_mutex_unlock(&f->lock);
        free(copy);
        return -ESTALE;
    }
    struct stk_entry *e = &f->slots[h & (STK_SLOTS - 1)];
    free(e->key);
    e->key = copy;
    e->len = (uint32_t)len;
    e->hash = h;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

/* Task `tid` (pidfd: ours now, closed when forgotten) has subject `token` and was last decided
   for with the supervisor thread's credentials at generation `cred_gen`. */
void stk_fast_task(struct stk_fast *f, int tid, int pidfd, uint64_t token, uint64_t cred_gen)
{
    pthread_mutex_lock(&f->lock);
    struct stk_task *t = &f->tasks[(unsigned)tid & (STK_TASKS - 1)];
    forget_task(t);
    t->tid = tid;
    t->pidfd = pidfd;
    t->token = token;
    t->cred_gen = cred_gen;
    pthread_mutex_unlock(&f->lock);
}

/* Forget `tid` (-1: every task). */
void stk_fast_forget(struct stk_fast *f, int tid)
{
    pthread_mutex_lock(&f->lock);
    if (tid < 0) {
        for (int i = 0; i < STK_TASKS; i++)
            forget_task(&f->tasks[i]);
    } else {
        struct stk_task *t = &f->tasks[(unsigned)tid & (STK_TASKS - 1)];
        if (t->tid == tid)
            forget_task(t);
    }
    pthread_mutex_unlock(&f->lock);
}

/* The supervisor thread's credentials changed (CredSwitch generation). */
void stk_fast_creds(struct stk_fast *f, uint64_t cred_gen)
{
    pthread_mutex_lock(&f->lock);
    f->cred_gen = cred_gen;
    pthread_mutex_unlock(&f->lock);
}

void stk_fast_stats(struct stk_fast *f, uint64_t *out)
{
    pthread_mutex_lock(&f->lock);
    out[0] = f->hits;
    out[1] = f->misses;
    out[2] = f->vanished;
    out[3] = f->denied;
    out[4] = f->lookups;
    pthread_mutex_unlock(&f->lock);
}

static unsigned char *put_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); return p + 4; }
static unsigned char *put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); return p + 8; }

/* The mirror key of an open: the layout fast.FastPath.key builds from the same inputs. -1:
   not mirrored (too long, a label we cannot read here). */
static long build_key(struct stk_fast *f, uint64_t token, uint32_t access, struct stat *st,
                      int fd, long plen)
{
    unsigned char *p = f->key, *end = f->key + STK_KEYMAX;
    if (8 + 4 * 4 + 8 + 8 + 4 + plen > STK_KEYMAX)
        return -1;
    p = put_u64(p, token);
    p = put_u32(p, access);
    p = put_u32(p, st->st_uid);
    p = put_u32(p, st->st_gid);
    p = put_u32(p, st->st_mode);
    p = put_u64(p, st->st_ino);
    p = put_u64(p, st->st_dev);
    p = put_u32(p, (uint32_t)plen);
    memcpy(p, f->path, (size_t)plen);
    p += plen;
    for (int i = 0; i < f->n_names; i++) {
        if (end - p < 4 + STK_VALMAX)
            return -1;
        ssize_t n = fgetxattr(fd, f->names[i], p + 4, STK_VALMAX);
        if (n < 0 && errno == ERANGE)
            return -1;  /* longer than we read: Python reads it whole */
        /* any other error is an absent label, as resolve.labels_of has it */
        p = put_u32(p, n < 0 ? 0xFFFFFFFFu : (uint32_t)n);
        if (n > 0)
            p += n;
    }
    return (long)(p - f->key);
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* 1: notification `n` answered here (an AVC hit, or the target vanished or its fd table was
   full during ADDFD); 0: Python handles it (nothing was answered). */
static int fast_open(int lfd, struct stk_note *n, struct stk_fast *f)
{
    uint64_t addr, flags, mode;
    f->pre_valid = 0;
    if (n->arch != f->arch)
        return 0;
    if (n->nr == f->nr_openat) {
        addr = n->args[1];
        flags = n->args[2] & 0xFFFFFFFFu;
        mode = n->args[3] & 07777;
    } else if (n->nr == f->nr_open) {
        addr = n->args[0];
        flags = n->args[1] & 0xFFFFFFFFu;
        mode = n->args[2] & 07777;
    } else {
        return 0;
    }
    /* creating, truncating, O_PATH, or a mode argument (Python passes it to openat2) */
    if (mode || flags & (O_PATH | O_CREAT | O_TRUNC | (O_TMPFILE & ~O_DIRECTORY)))
        return 0;
    long plen = stk_cstring((int)n->pid, addr, f->path, STK_PATHMAX);
    if (plen <= 0)
        return 0;
    /* if Python gets this notification, its read of the path is this one (read once) */
    f->pre_valid = 1;
    f->pre_tid = (int)n->pid;
    f->pre_addr = addr;
    f->pre_len = plen;
    const char *path = f->path;
    /* canonical, absolute, not /proc, /dev or a driver path: resolve.open_described's proved
       path and open_exec._decide_open's AVC branch */
    if (path[0] != '/' || path[plen - 1] == '/' || strstr(path, "/.") || strstr(path, "//")
        || starts(path, "/proc/") || starts(path, "/dev/") || starts(path, "/sys/kernel/"))
        return 0;
    /* The task we know, still running, checked AFTER the read, in place of Python's ID_VALID:
       its pidfd (PIDFD_THREAD) is not readable, so the thread it names still holds the tid,
       which it therefore held since before RECV (a struct pid keeps its number until freed):
       the thread that made this call is the one whose credentials and subject we hold, and
       the memory just read was its own. Whether the call still waits is not checked: ADDFD and
       SEND answer only a waiting call (atomically, on its id), and an ID_VALID here could not
       keep the call waiting until the open either (docs/supervisor.md, "Each system call of
       the fast path"). */
    struct stk_task *t = &f->tasks[n->pid & (STK_TASKS - 1)];
    pthread_mutex_lock(&f->lock);
    int live = t->tid == (int)n->pid && t->pidfd >= 0 && t->cred_gen == f->cred_gen;
    uint64_t token = t->token;
    if (live) {
        struct pollfd pfd = {t->pidfd, POLLIN, 0};
        live = poll(&pfd, 1, 0) == 0;
    }
    pthread_mutex_unlock(&f->lock);
    if (!live)
        return 0;
    uint64_t now = (flags | O_NOCTTY | O_NONBLOCK) & ~(uint64_t)O_TRUNC;
    int fd = stk_openat2(AT_FDCWD, path, now | O_CLOEXEC, 0,
                         RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (fd == -ENOENT || fd == -ENOTDIR || fd == -EACCES) {
        /* A lookup that failed before any symbolic link (one would have given ELOOP first):
           the same open without RESOLVE_NO_SYMLINKS fails alike, and Python's answer is this
           errno with nothing decided or audited (Supervisor.handle, OSError). Answered here:
           else every such open (include paths, sys.path) would be read and opened twice.
           EACCES too: Landlock refusing it in the supervisor's domain logs a denial, the
           program's (enforce/denials.py), and a second open made a second record. */
        if (stk_respond(lfd, n->id, 0, -fd, 0) != 0)
            return 0;
        pthread_mutex_lock(&f->lock);
        f->lookups++;
        pthread_mutex_unlock(&f->lock);
        return 1;
    }
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_dev == f->proc_dev
        || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
        close(fd);
        return 0;
    }
    static const int acc[4] = {0, 1, 2, 2};
    uint32_t access = f->may_open;
    int mask = acc[flags & O_ACCMODE];
    if (mask != 1)
        access |= f->may_read;
    if (mask != 0)
        access |= f->may_write;
    if (flags & O_APPEND)
        access |= f->may_append;
    long klen = build_key(f, token, access, &st, fd, plen);
    int hit = 0;
    if (klen > 0) {
        uint64_t h = hash_key(f->key, klen);
        pthread_mutex_lock(&f->lock);
        struct stk_entry *e = &f->slots[h & (STK_SLOTS - 1)];
        hit = e->key && e->hash == h && e->len == (uint32_t)klen
              && memcmp(e->key, f->key, (size_t)klen) == 0;
        if (!hit)
            f->misses++;
        pthread_mutex_unlock(&f->lock);
    }
    if (!hit || (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, (int)(now & ~(uint64_t)O_NONBLOCK)) < 0)) {
        close(fd);
        return 0;
    }
    int got = stk_inject_close(lfd, n->id, fd, flags & O_CLOEXEC ? O_CLOEXEC : 0);
    pthread_mutex_lock(&f->lock);
    if (got >= 0)
        f->hits++;
    else if (got == -ENOENT)
        f->vanished++;
    else
        f->denied++;
    pthread_mutex_unlock(&f->lock);
    if (got < 0 && got != -ENOENT)
        stk_respond(lfd, n->id, 0, -got, 0);  /* e.g. EMFILE, as Supervisor.inject */
    return 1;
}

/* The path fast_open read for the notification now in Python's hands, if it read the string
   at `addr` of `tid` with this `limit` (stk_cstring's result, copied to buf); -1 otherwise.
   One use: the handler's read of that argument is the one C made. */
long stk_fast_prefetched(struct stk_fast *f, int tid, uint64_t addr, char *buf, long limit)
{
    if (!f->pre_valid || f->pre_tid != tid || f->pre_addr != addr || limit != STK_PATHMAX)
        return -1;
    f->pre_valid = 0;
    memcpy(buf, f->path, (size_t)f->pre_len + 1);
    return f->pre_len;
}

/* stk_next, completing AVC hits in place: returns only what Python must see. */
int stk_next_fast(int lfd, int stopfd, int timeout_ms, struct stk_note *out, struct stk_fast *f)
{
    f->pre_valid = 0;
    for (;;) {
        int got = stk_next(lfd, stopfd, timeout_ms, out);
        if (got != 1 || !fast_open(lfd, out, f))
            return got;
        if (timeout_ms >= 0)
            return 0;  /* Python has waiting opens to look after */
    }
}
"""

CDEF = """
struct stk_note { uint64_t id; uint32_t pid; int32_t nr; uint32_t arch; uint64_t args[6]; };
int stk_next(int lfd, int stopfd, int timeout_ms, struct stk_note *out);
long stk_cstring(int pid, uint64_t addr, char *buf, long limit);
long stk_read(int pid, uint64_t addr, char *buf, long n);
int stk_id_valid(int lfd, uint64_t id);
int stk_respond(int lfd, uint64_t id, int64_t val, int32_t error, uint32_t flags);
int stk_inject_close(int lfd, uint64_t id, int srcfd, uint32_t newfd_flags);
int stk_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
struct stk_fast;
struct stk_fast *stk_fast_new(uint32_t arch, int nr_open, int nr_openat, uint64_t proc_dev,
                              const char *names, uint32_t may_open, uint32_t may_read,
                              uint32_t may_write, uint32_t may_append);
void stk_fast_free(struct stk_fast *f);
int stk_next_fast(int lfd, int stopfd, int timeout_ms, struct stk_note *out, struct stk_fast *f);
void stk_fast_flush(struct stk_fast *f, uint64_t seqno);
int stk_fast_put(struct stk_fast *f, const unsigned char *key, long len, uint64_t seqno);
void stk_fast_task(struct stk_fast *f, int tid, int pidfd, uint64_t token, uint64_t cred_gen);
void stk_fast_forget(struct stk_fast *f, int tid);
void stk_fast_creds(struct stk_fast *f, uint64_t cred_gen);
void stk_fast_stats(struct stk_fast *f, uint64_t *out);
long stk_fast_prefetched(struct stk_fast *f, int tid, uint64_t addr, char *buf, long limit);
struct stk_child {
    int parent;
    int go_r, err_w;
    int close_fds[4];
    int n_close;
    uint64_t keep_caps;
    int trim_bounding, raise_ambient, lock_securebits, last_cap;
    uint32_t securebits;
    int ruleset_fd;
    uint32_t restrict_flags;
    int n_rlimits;
    int rl_resource[16];
    uint64_t rl_limit[16];
    uint64_t reset_signals;
    uint64_t always_default;
    uint64_t old_mask;
    int notify_sock;
    const unsigned char *notify_code;
    long notify_len;
    uint32_t notify_flags, notify_fallback_flags;
    const unsigned char *bpf_code;
    long bpf_len;
    uint32_t seccomp_flags;
    char **paths;
    char **argv;
    char **envp;
};
int stk_spawn(const struct stk_child *c);
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
""" + FAST_SOURCE + _read_source("_spawn.c")

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("stockade.enforce.supervisor._unotify", SOURCE,
                      extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

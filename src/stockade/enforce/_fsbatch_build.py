"""cffi builder of `stockade.enforce._fsbatch`: the hot filesystem loops of a plan cache hit in C.

Only mechanics, one call for N paths instead of N calls through Python: re-stat the recorded
directories of a cached plan and compare their fingerprints (`stk_check_dirs`), re-ask its
recorded file-type and /proc owner questions (`stk_check_kinds`; both at once:
`stk_check_kinds_dirs`), and open the
granted paths O_PATH (no symbolic link followed) and add each to the Landlock rulesets
(`stk_add_path_rules`). They decide
nothing: the comparison is the byte-equality of the fingerprint fsview would format, and what
an open error means stays in Python (prepare.py). Built by setup.py (`pip install`), optional:
without a compiler, or with STOCKADE_SUPERVISOR_PURE=1, the pure-Python loops run
(stockade.enforce.fsbatch).
"""

from __future__ import annotations

from cffi import FFI

CDEF = """
long stk_check_dirs(const char *packed, long n);
long stk_check_kinds(const char *packed, long n);
long stk_check_kinds_dirs(const char *kinds, long nk, const char *dirs, long len);
long stk_add_path_rules(const char *packed, const uint64_t *rights, long n,
                        uint64_t file_rights, int ruleset_fd, int ruleset_fd2, int32_t *results);
"""

SOURCE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#define STK_RESOLVE_NO_SYMLINKS 0x04

struct stk_open_how { uint64_t flags, mode, resolve; };

struct stk_path_beneath { uint64_t allowed_access; int32_t parent_fd; } __attribute__((packed));

/* decimal digits of v at p (as Python's str(int) writes them); the end */
static char *stk_fmt_u(char *p, unsigned long long v)
{
    char digits[24];
    int k = 0;
    do {
        digits[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        *p++ = digits[--k];
    return p;
}

static char *stk_fmt_s(char *p, long long v)
{
    if (v < 0) {
        *p++ = '-';
        return stk_fmt_u(p, (unsigned long long)(-(v + 1)) + 1);
    }
    return stk_fmt_u(p, (unsigned long long)v);
}

/* `packed`: n pairs of NUL-terminated strings (a directory's path, the fingerprint recorded
   for it: "m<dev>:<ino>:<mtime_ns>:<ctime_ns>", as fsview._id_print formats it). Returns the
   index of the first directory whose stat fails or whose fingerprint differs now, else -1. */
/* whether directory `path` cannot be stat'ed or has another fingerprint now than `want` */
static int stk_dir_differs(const char *path, const char *want)
{
    char now[128];
    struct stat st;
    if (stat(path, &st) != 0)
        return 1;
    /* nanoseconds past what a long long holds (year 2262) would wrap: a change, not a hit */
    if (st.st_mtim.tv_sec > 9000000000LL || st.st_mtim.tv_sec < -9000000000LL
            || st.st_ctim.tv_sec > 9000000000LL || st.st_ctim.tv_sec < -9000000000LL)
        return 1;
    long long mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    long long ctime = (long long)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
    char *q = now;  /* at most 1 + 20 + 1 + 20 + 1 + 20 + 1 + 20 + 1 bytes */
    *q++ = 'm';
    q = stk_fmt_u(q, (unsigned long long)st.st_dev);
    *q++ = ':';
    q = stk_fmt_u(q, (unsigned long long)st.st_ino);
    *q++ = ':';
    q = stk_fmt_s(q, mtime);
    *q++ = ':';
    q = stk_fmt_s(q, ctime);
    *q = '\0';
    return strcmp(now, want) != 0;
}

long stk_check_dirs(const char *packed, long n)
{
    const char *p = packed;
    for (long i = 0; i < n; i++) {
        const char *path = p;
        const char *want = path + strlen(path) + 1;
        p = want + strlen(want) + 1;
        if (stk_dir_differs(path, want))
            return i;
    }
    return -1;
}

/* `packed`: n triples of NUL-terminated strings (a question, a path, the answer recorded), as
   fsview.answer_now answers them: "l" (lstat) and "s" (stat): "T<file type in octal>" or
   "E<errno>"; "o" (a /proc/PID entry's owner, lstat): "T" ours (effective uid), "F" not,
   the recorded answer when the process is gone (ENOENT, ESRCH), else "E<errno>". Returns the
   index of the first whose answer differs now (or that asks another question), else -1. */
long stk_check_kinds(const char *packed, long n)
{
    const char *p = packed;
    char now[32];
    uid_t me = geteuid();
    for (long i = 0; i < n; i++) {
        const char *question = p;
        const char *path = question + strlen(question) + 1;
        const char *want = path + strlen(path) + 1;
        p = want + strlen(want) + 1;
        if (question[0] == '\0' || question[1] != '\0')
            return i;
        struct stat st;
        int failed = (question[0] == 's' ? stat(path, &st) : lstat(path, &st)) != 0;
        int err = errno;
        char *q = now;
        if (question[0] == 'l' || question[0] == 's') {
            if (failed) {
                *q++ = 'E';
                q = stk_fmt_u(q, (unsigned long long)err);
            } else {
                static const char octal[] = "01234567";
                char digits[12];
                int k = 0;
                unsigned int type = st.st_mode & S_IFMT;
                *q++ = 'T';
                do {
                    digits[k++] = octal[type & 7];
                    type >>= 3;
                } while (type);
                while (k)
                    *q++ = digits[--k];
            }
        } else if (question[0] == 'o') {
            if (failed && (err == ENOENT || err == ESRCH))
                continue;  /* gone: not a change (fsview._owner_now) */
            if (failed) {
                *q++ = 'E';
                q = stk_fmt_u(q, (unsigned long long)err);
            } else {
                *q++ = st.st_uid == me ? 'T' : 'F';
            }
        } else {
            return i;
        }
        *q = '\0';
        if (strcmp(now, want) != 0)
            return i;
    }
    return -1;
}

/* stk_check_kinds of `kinds`, then the directories of `dirs` (`len` bytes: pairs of
   NUL-terminated strings, a path and its recorded fingerprint, walked within those bytes), in
   one call: the thread that runs them beside a plan cache hit's Python takes the GIL only at
   its start and end (between two calls it waited for the main thread's GIL, up to the switch
   interval, and made it wait in turn), and the caller need not count the strings first (a
   scan of the ~560 KB in Python, ~0.5 ms of its thread). The index of the first kind that
   differs, nk + the index of the first directory pair, -1 when all are the same, -2 when
   `dirs` is not such pairs (nothing stat'ed past the first malformed string). */
long stk_check_kinds_dirs(const char *kinds, long nk, const char *dirs, long len)
{
    long changed = nk ? stk_check_kinds(kinds, nk) : -1;
    if (changed >= 0)
        return changed;
    const char *p = dirs, *end = dirs + len;
    for (long i = 0; p < end; i++) {
        const char *path = p;
        const char *stop = memchr(path, '\0', (size_t)(end - path));
        if (stop == NULL || stop + 1 >= end)
            return -2;
        const char *want = stop + 1;
        stop = memchr(want, '\0', (size_t)(end - want));
        if (stop == NULL)
            return -2;
        p = stop + 1;
        if (stk_dir_differs(path, want))
            return nk + i;
    }
    return -1;
}

/* absolute and already normal: no empty, `.` or `..` component, no trailing `/`, not "/"
   (stockade.files.plain_path without its bound on the number of components) */
static int stk_plain(const char *path)
{
    if (path[0] != '/' || path[1] == '\0')
        return 0;
    for (const char *c = path; *c; c++) {
        if (*c != '/')
            continue;
        const char *next = c + 1;
        if (*next == '\0' || *next == '/')
            return 0;
        if (next[0] == '.' && (next[1] == '\0' || next[1] == '/'))
            return 0;
        if (next[0] == '.' && next[1] == '.' && (next[2] == '\0' || next[2] == '/'))
            return 0;
    }
    return 1;
}

/* `packed`: n NUL-terminated paths. For each: open it O_PATH|O_CLOEXEC with no symbolic
   link followed in any component (openat2 RESOLVE_NO_SYMLINKS: ELOOP on a link; the plan holds
   resolved paths, so a link there was put in since), keep only `file_rights` of rights[i]
   unless it is a directory, and add a path-beneath rule with those rights to `ruleset_fd`
   (and `ruleset_fd2` when >= 0). results[i]: 0 added (or nothing to add) and the path is
   plain (stk_plain), so it names the opened file with no link on the way: its own real path;
   1 added, the path not plain; -errno the open (or fstat) failed. Returns n, or -(i + 1) when
   adding path i to a ruleset failed, with its errno in results[i]. */
long stk_add_path_rules(const char *packed, const uint64_t *rights, long n,
                        uint64_t file_rights, int ruleset_fd, int ruleset_fd2, int32_t *results)
{
    const char *p = packed;
    struct stk_open_how how = {O_PATH | O_CLOEXEC, 0, STK_RESOLVE_NO_SYMLINKS};
    for (long i = 0; i < n; i++) {
        const char *path = p;
        p = path + strlen(path) + 1;
        int not_plain = !stk_plain(path);  /* 1: OPENED, not its own real path by its name */
        int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
        if (fd < 0) {
            results[i] = -errno;
            continue;
        }
        uint64_t access = rights[i];
        if (access & ~file_rights) {  /* only then does the kind matter */
            struct stat st;
            if (fstat(fd, &st) != 0) {
                results[i] = -errno;
                close(fd);
                continue;
            }
            if (!S_ISDIR(st.st_mode))
                access &= file_rights;
        }
        results[i] = not_plain;
        if (access) {
            struct stk_path_beneath attr = {access, fd};
            int fds[2] = {ruleset_fd, ruleset_fd2};
            for (int k = 0; k < 2; k++) {
                if (fds[k] < 0)
                    continue;
                if (syscall(SYS_landlock_add_rule, fds[k], 1 /* LANDLOCK_RULE_PATH_BENEATH */,
                            &attr, 0) != 0) {
                    results[i] = errno;
                    close(fd);
                    return -(i + 1);
                }
            }
        }
        close(fd);
    }
    return n;
}
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("stockade.enforce._fsbatch", SOURCE,
                      extra_compile_args=["-O2", "-Wall", "-Wextra",
                                          "-Werror=implicit-function-declaration"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

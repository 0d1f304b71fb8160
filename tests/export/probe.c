/* Try system calls and print what the kernel answered, for the OCI export tests.
 *   probe NR [ARG...]             one call: prints "ok" or "errno N"; exit 0 / 1
 *   probe --int80 NR              one i386 call through int 0x80 (x86_64 only)
 *   probe --sweep FROM TO FILL [SKIP...]   every NR in [FROM, TO] but SKIP with all six
 *                                 arguments FILL: prints "NR ok" or "NR errno N" per line
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

static long call(long nr, unsigned long a[6]) {
    errno = 0;
    return syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int main(int argc, char **argv) {
    unsigned long a[6] = {0, 0, 0, 0, 0, 0};
    if (argc >= 5 && strcmp(argv[1], "--sweep") == 0) {
        long from = strtol(argv[2], NULL, 0), to = strtol(argv[3], NULL, 0);
        unsigned long fill = strtoul(argv[4], NULL, 0);
        for (int i = 0; i < 6; i++)
            a[i] = fill;
        for (long nr = from; nr <= to; nr++) {
            int skip = 0;
            for (int i = 5; i < argc; i++)
                if (strtol(argv[i], NULL, 0) == nr)
                    skip = 1;
            if (skip)
                continue;
            long r = call(nr, a);
            if (r == -1)
                printf("%ld errno %d\n", nr, errno);
            else
                printf("%ld ok\n", nr);
            fflush(stdout);
        }
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--int80") == 0) {
#if defined(__x86_64__)
        long r = strtol(argv[2], NULL, 0);
        __asm__ volatile("int $0x80" : "+a"(r) : : "memory");
        if (r < 0 && r > -4096) {
            printf("errno %ld\n", -r);
            return 1;
        }
        printf("ok\n");
        return 0;
#else
        return 2;
#endif
    }
    if (argc < 2)
        return 2;
    for (int i = 2; i < argc && i < 8; i++)
        a[i - 2] = strtoul(argv[i], NULL, 0);
    long r = call(strtol(argv[1], NULL, 0), a);
    if (r == -1) {
        printf("errno %d\n", errno);
        return 1;
    }
    printf("ok\n");
    return 0;
}

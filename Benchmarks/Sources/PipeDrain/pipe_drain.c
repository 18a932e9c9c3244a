// The standard-input baseline: what any consumer of a pipe pays before doing any work. Reads
// standard input to its end the way `shadowbell analyze -` does (1 MiB pipe buffer, 1 MiB
// reads) and counts newlines with memchr, so `cat FILE | pipe-drain` is the fastest a pipe can
// deliver the file on this machine.
//
//   cat FILE | pipe-drain   → prints "<bytes> <lines>"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    (void)fcntl(0, F_SETPIPE_SZ, 1 << 20);
    size_t size = 1 << 20;
    char *buffer = malloc(size);
    if (!buffer) return 2;
    uint64_t bytes = 0, lines = 0;
    for (;;) {
        ssize_t n = read(0, buffer, size);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("pipe-drain");
            return 2;
        }
        bytes += (uint64_t)n;
        const char *p = buffer, *end = buffer + n;
        while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            lines++;
            p++;
        }
    }
    printf("%llu %llu\n", (unsigned long long)bytes, (unsigned long long)lines);
    free(buffer);
    return 0;
}

#ifndef SHADOWBELL_CPCAP_SHIM_H
#define SHADOWBELL_CPCAP_SHIM_H
#include <pcap/pcap.h>
#ifdef __linux__
/* __fsetlocking: the FILE libpcap reads through is used by one thread at a time. */
#include <stdio_ext.h>
#include <stdint.h>
#include <sys/types.h>
/* glibc's fopencookie (declared only under _GNU_SOURCE, which Swift's Glibc module does not
   set): a FILE whose reads call back into ShadowBell, so that libpcap reads a decompressed
   stream. Same layout as glibc's cookie_io_functions_t; bound to the symbol by name. */
typedef struct {
    ssize_t (*read)(void *cookie, char *buffer, size_t size);
    ssize_t (*write)(void *cookie, const char *buffer, size_t size);
    int (*seek)(void *cookie, int64_t *offset, int whence);
    int (*close)(void *cookie);
} shadowbell_cookie_io_functions;
FILE *shadowbell_fopencookie(void *cookie, const char *mode, shadowbell_cookie_io_functions functions)
    __asm__("fopencookie");
#endif
#endif

// The pcap baseline: read every record of a pcap/pcapng file with pcap_next_ex and touch
// every captured byte, as a minimal reader of the same file would.
//
//   pcap-loop FILE           → prints "<records> <bytes> <checksum>"
//   pcap-loop --tuned FILE   the same, with the stdio settings ShadowBell's reader gives libpcap:
//                            a 256 KiB buffer and no stdio locking (pcap_fopen_offline)
#define _GNU_SOURCE
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int tuned = argc == 3 && strcmp(argv[1], "--tuned") == 0;
    if (argc != 2 && !tuned) {
        fprintf(stderr, "usage: pcap-loop [--tuned] FILE\n");
        return 64;
    }
    const char *path = argv[argc - 1];
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p;
    if (tuned) {
        FILE *file = fopen(path, "rb");
        if (!file) {
            perror(path);
            return 2;
        }
        setvbuf(file, malloc(256 * 1024), _IOFBF, 256 * 1024);
        __fsetlocking(file, FSETLOCKING_BYCALLER);
        p = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, err);
    } else {
        p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
    }
    if (!p) {
        fprintf(stderr, "pcap-loop: %s\n", err);
        return 2;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    uint64_t records = 0, bytes = 0, sum = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        records++;
        bytes += h->caplen;
        sum += (uint64_t)h->ts.tv_usec;
        for (uint32_t i = 0; i < h->caplen; i++) sum += data[i];
    }
    if (rc == PCAP_ERROR) fprintf(stderr, "pcap-loop: %s\n", pcap_geterr(p));
    printf("%llu %llu %llu\n", (unsigned long long)records, (unsigned long long)bytes, (unsigned long long)sum);
    pcap_close(p);
    return rc == PCAP_ERROR ? 2 : 0;
}

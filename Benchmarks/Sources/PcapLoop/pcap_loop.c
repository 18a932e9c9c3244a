// The pcap baseline: read every record of a pcap/pcapng file with pcap_next_ex and touch
// every captured byte, as a minimal reader of the same file would.
//
//   pcap-loop FILE   → prints "<records> <bytes> <checksum>"
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: pcap-loop FILE\n");
        return 64;
    }
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline_with_tstamp_precision(argv[1], PCAP_TSTAMP_PRECISION_NANO, err);
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

#ifndef SHADOWBELL_CPCAP_SHIM_H
#define SHADOWBELL_CPCAP_SHIM_H
#include <pcap/pcap.h>
#ifdef __linux__
/* __fsetlocking: the FILE libpcap reads through is used by one thread at a time. */
#include <stdio_ext.h>
#endif
#endif

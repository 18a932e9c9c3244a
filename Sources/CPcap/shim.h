#ifndef SHADOWBELL_CPCAP_SHIM_H
#define SHADOWBELL_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif

#ifndef SHADOWBELL_CZSTD_SHIM_H
#define SHADOWBELL_CZSTD_SHIM_H
#include <zstd.h>
#endif

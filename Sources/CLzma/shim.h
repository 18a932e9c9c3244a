#ifndef SHADOWBELL_CLZMA_SHIM_H
#define SHADOWBELL_CLZMA_SHIM_H
#include <lzma.h>
/* LZMA_CONCATENATED is a macro Swift does not import (UINT32_C). */
static const uint32_t shadowbell_lzma_concatenated = LZMA_CONCATENATED;
#endif

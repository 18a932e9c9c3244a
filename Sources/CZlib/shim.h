#ifndef SHADOWBELL_CZLIB_SHIM_H
#define SHADOWBELL_CZLIB_SHIM_H
#include <zlib.h>
/* inflateInit2 is a macro (it passes ZLIB_VERSION and sizeof(z_stream)): gzip members only. */
static inline int shadowbell_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 15 + 16);
}
#endif

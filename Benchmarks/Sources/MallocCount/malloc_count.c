// Counts allocation calls by interposing the glibc allocator entry points (forwarding to
// glibc's own __libc_* implementations, so no dlsym bootstrap is needed).
#include "MallocCount.h"
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Atomic unsigned long long allocations;
static _Atomic unsigned long long requested;

static inline void note(size_t n) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&requested, n, memory_order_relaxed);
}

unsigned long long malloc_count_allocations(void) { return atomic_load(&allocations); }

void *malloc(size_t n) { note(n); return __libc_malloc(n); }
void *calloc(size_t k, size_t n) { note(k * n); return __libc_calloc(k, n); }
void *realloc(void *p, size_t n) { note(n); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t a, size_t n) { note(n); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { note(n); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    note(n);
    void *p = __libc_memalign(a, n);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}

__attribute__((destructor)) static void report(void) {
    char line[128];
    int len = snprintf(line, sizeof line, "malloc-count: %llu allocations, %llu bytes requested\n",
                       (unsigned long long)atomic_load(&allocations), (unsigned long long)atomic_load(&requested));
    if (len > 0) (void)!write(2, line, (size_t)len);
}

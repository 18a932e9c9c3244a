// LD_PRELOAD=libMallocCount.so PROGRAM: counts heap allocations and prints, at exit, on
// standard error: "malloc-count: <allocations> allocations, <bytes> bytes requested".
#pragma once
unsigned long long malloc_count_allocations(void);

/*
 * ntsim: the parts of the kernel model that are easiest to write in C.
 *
 * 1. DbgPrint / DbgPrintEx are variadic; stable Rust cannot define a C
 *    variadic function, so they are defined here. They format with the C
 *    library's vsnprintf and hand the exact formatted text to Rust
 *    (ntsim_dbgprint_capture in src/dbgprint.rs), which applies the DDI
 *    checks (IRQL, fault injection) and records the line.
 *    wdm/nf-wdm-dbgprint: DbgPrint is DbgPrintEx(DPFLTR_DEFAULT_ID,
 *    DPFLTR_INFO_LEVEL, ...).
 *    Only the C-standard conversions are formatted as the kernel does; the
 *    Microsoft-specific %wZ, %ws, %wc, %Z and %C/%S conversions are not
 *    modeled (the capture is flagged so a test can tell).
 *
 * 2. The pool routines are thin wrappers that pass their caller's return
 *    address (__builtin_return_address(0)) to Rust (src/pool.rs), so every
 *    allocation is recorded with the call site that made it: #[track_caller]
 *    does not cross an extern "C" boundary, and this costs one register read.
 *
 * Windows types: ULONG is 32 bits (LLP64), hence uint32_t; SIZE_T is size_t;
 * POOL_TYPE is an enum (int); POOL_FLAGS is ULONG64.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* DPFLTR_DEFAULT_ID and DPFLTR_INFO_LEVEL (dpfilter.h). */
#define NTSIM_DPFLTR_DEFAULT_ID 101u
#define NTSIM_DPFLTR_INFO_LEVEL 3u

/* Implemented in Rust (src/dbgprint.rs). `is_ex` tells DbgPrintEx from DbgPrint;
 * `flags` bit 0: vsnprintf failed; bit 1: a Microsoft-only conversion was seen. */
extern uint32_t ntsim_dbgprint_capture(int is_ex, uint32_t component, uint32_t level,
                                       const char *text, size_t len, uint32_t flags);

/* Implemented in Rust (src/pool.rs). `api`: 0 ExAllocatePool2, 1 ExAllocatePoolWithTag,
 * 2 ExAllocatePool; `kind` is POOL_FLAGS for api 0 and POOL_TYPE otherwise. */
extern void *ntsim_pool_allocate(uint32_t api, uint64_t kind, size_t bytes, uint32_t tag,
                                 const void *caller);
/* `api`: 0 ExFreePool, 1 ExFreePoolWithTag. */
extern void ntsim_pool_free(uint32_t api, void *block, uint32_t tag, const void *caller);

static uint32_t microsoft_conversions(const char *format) {
    const char *p = format;
    while ((p = strchr(p, '%')) != NULL) {
        p++;
        if (*p == '%') {
            p++;
            continue;
        }
        /* flags, width, precision */
        while (*p && strchr("-+ #0123456789.*", *p)) {
            p++;
        }
        if (*p == 'w' || *p == 'Z' || *p == 'C' || *p == 'S') {
            return 2u;
        }
        if ((p[0] == 'l' && (p[1] == 's' || p[1] == 'c')) || (p[0] == 'h' && (p[1] == 's' || p[1] == 'c'))) {
            return 2u;
        }
    }
    return 0u;
}

static uint32_t emit(int is_ex, uint32_t component, uint32_t level, const char *format, va_list ap) {
    char small[512];
    va_list copy;
    uint32_t flags;
    int n;
    if (format == NULL) {
        return ntsim_dbgprint_capture(is_ex, component, level, NULL, 0, 1u);
    }
    flags = microsoft_conversions(format);
    va_copy(copy, ap);
    n = vsnprintf(small, sizeof small, format, copy);
    va_end(copy);
    if (n < 0) {
        return ntsim_dbgprint_capture(is_ex, component, level, NULL, 0, flags | 1u);
    }
    if ((size_t)n < sizeof small) {
        return ntsim_dbgprint_capture(is_ex, component, level, small, (size_t)n, flags);
    }
    {
        uint32_t status;
        char *big = (char *)malloc((size_t)n + 1);
        if (big == NULL) {
            return ntsim_dbgprint_capture(is_ex, component, level, NULL, 0, flags | 1u);
        }
        vsnprintf(big, (size_t)n + 1, format, ap);
        status = ntsim_dbgprint_capture(is_ex, component, level, big, (size_t)n, flags);
        free(big);
        return status;
    }
}

uint32_t DbgPrint(const char *format, ...) {
    va_list ap;
    uint32_t status;
    va_start(ap, format);
    status = emit(0, NTSIM_DPFLTR_DEFAULT_ID, NTSIM_DPFLTR_INFO_LEVEL, format, ap);
    va_end(ap);
    return status;
}

uint32_t DbgPrintEx(uint32_t component, uint32_t level, const char *format, ...) {
    va_list ap;
    uint32_t status;
    va_start(ap, format);
    status = emit(1, component, level, format, ap);
    va_end(ap);
    return status;
}

void *ExAllocatePool2(uint64_t flags, size_t bytes, uint32_t tag) {
    return ntsim_pool_allocate(0u, flags, bytes, tag, __builtin_return_address(0));
}

void *ExAllocatePoolWithTag(int pool_type, size_t bytes, uint32_t tag) {
    return ntsim_pool_allocate(1u, (uint64_t)(int64_t)pool_type, bytes, tag, __builtin_return_address(0));
}

/* wdm/nf-wdm-exallocatepool: deprecated; allocations carry the tag 'None'. */
void *ExAllocatePool(int pool_type, size_t bytes) {
    return ntsim_pool_allocate(2u, (uint64_t)(int64_t)pool_type, bytes, 0x656E6F4Eu, __builtin_return_address(0));
}

void ExFreePool(void *block) {
    ntsim_pool_free(0u, block, 0u, __builtin_return_address(0));
}

void ExFreePoolWithTag(void *block, uint32_t tag) {
    ntsim_pool_free(1u, block, tag, __builtin_return_address(0));
}

/*
 * bcryptprimitives.dll shim for Wine 8.0 (kcallbacks test harness only).
 *
 * Rust's std for x86_64-pc-windows-gnu imports ProcessPrng from
 * bcryptprimitives.dll, which Wine 8.0 does not provide, so a std .exe fails
 * to start (c0000135). This DLL, placed next to kcbctl.exe in the Wine prefix,
 * exports ProcessPrng and fills the buffer with advapi32's SystemFunction036
 * (RtlGenRandom). Built by `cargo xtask build` with x86_64-w64-mingw32-gcc.
 * Never shipped; not needed on Windows 10+, whose own DLL has the export.
 */
#include <windows.h>

/* advapi32!SystemFunction036 (a.k.a. RtlGenRandom); declared here so the
 * shim does not depend on ntsecapi.h's macro spelling. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* Documented as always returning TRUE; a failure of the underlying generator
 * is reported as FALSE here rather than handing out unfilled bytes. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > (SIZE_T)0xFFFFFFFFu ? 0xFFFFFFFFu : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}

#ifndef SK_PARAMS_BASE_H
#define SK_PARAMS_BASE_H
// Shared by the host (Swift imports this C target) and the device (NVRTC receives every header of
// this folder as a named header). A device pointer field is SK_PTR(T): T* in device code, a 64-bit
// integer on the host — the same size and alignment, so one struct layout serves both sides.
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define SK_PTR(T) T*
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
#else
#define SK_PTR(T) unsigned long long
#endif
#endif

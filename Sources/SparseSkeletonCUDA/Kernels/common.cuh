// Plain types and thin PTX wrappers shared by every kernel. No toolkit #include at all, so NVRTC
// compiles every kernel without the CUDA toolkit headers (the static binary carries only these
// sources); kernels `#include "common.cuh"`, which NVRTC receives as a named header.
#pragma once
//
// 16-bit tensors travel as raw bit patterns (u16); bf16/fp16 is chosen at compile time with
// SK_BF16 = 1 / 0 and only matters where floats are packed (cvt) and in the mma instruction.

typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define SK_DEVICE __device__ __forceinline__

SK_DEVICE float sk_neg_inf() { return __int_as_float(0xff800000u); }

// Shared-memory address of a generic pointer (what ldmatrix / cp.async take).
SK_DEVICE u32 sk_smem_addr(const void* p) {
    u32 r;
    asm volatile("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(r) : "l"(p));
    return r;
}

// 16-byte global -> shared copy, asynchronous; `bytes` = 0 writes zeros (rows past N).
SK_DEVICE void sk_cp_async16(u32 dst, const void* src, int bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
SK_DEVICE void sk_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> SK_DEVICE void sk_cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// Four 8x8 b16 matrices from shared memory; lane l gives the row address of matrix l/8.
SK_DEVICE void sk_ldsm_x4(u32 (&r)[4], u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
SK_DEVICE void sk_ldsm_x4_trans(u32 (&r)[4], u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}

// D = A(16x16, row) * B(16x8, col) + D, fp32 accumulate, bf16 or fp16 operands.
SK_DEVICE void sk_mma16816(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1) {
#if SK_BF16
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
#endif
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats -> one register of two 16-bit values, `lo` in the low half (round to nearest even).
SK_DEVICE u32 sk_pack2(float lo, float hi) {
    u32 r;
#if SK_BF16
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
#else
    asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
#endif
    return r;
}

// One 16-bit element -> float.
SK_DEVICE float sk_to_float(u16 x) {
#if SK_BF16
    return __uint_as_float(((u32)x) << 16);
#else
    float f;
    asm("{ .reg .f16 h; mov.b16 h, %1; cvt.f32.f16 %0, h; }" : "=f"(f) : "h"(x));
    return f;
#endif
}

SK_DEVICE float sk_exp2(float x) { float y; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }
SK_DEVICE float sk_log2(float x) { float y; asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }

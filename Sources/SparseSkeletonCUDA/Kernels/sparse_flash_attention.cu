// Block-sparse causal FlashAttention forward (FA2 style: mma.sync m16n8k16, ldmatrix, cp.async).
//
// One CTA computes one (query head h, query block I): rows [I*BM, I*BM+BM) of O_h.
// It walks the key blocks J of its CSR row (rowOffsets / keyBlocks, built by the core's
// BlockMask: row r = h * queryBlocks + I), or every causal block 0...last when rowOffsets
// is null (dense: the same kernel with an implicit full mask). For each key tile:
//     S   = Q_I K_J^T                      (fp32 accumulators, tensor cores)
//     S  += -inf where key > query          (only tiles touching the diagonal)
//     m'  = max(m, rowmax(S) * c)            c = log2(e) / sqrt(d)  (log2 domain)
//     P   = 2^(S*c - m'),  l = l * 2^(m - m') + rowsum(P),  O = O * 2^(m - m') + P V_J
// and finally O /= l, LSE = (m + log2 l) * ln 2 (natural log of sum_j exp(s_ij / sqrt d)).
// A row that sees no unmasked key (possible with a sparse mask that skips the diagonal) gets
// O = 0 and LSE = -inf rather than NaN.
//
// GQA: query head h reads K/V head h / (qHeads / kvHeads) in place; nothing is copied.
// Layout: Q, O [N, qHeads, D]; K, V [N, kvHeads, D]; LSE [qHeads, N] (fp32).
//
// Kernel traits (compile-time, set with -D by the host; see KernelTraits.swift):
//   SK_HEAD_DIM D (64/128/256), SK_BLOCK_M BM and SK_BLOCK_N BN (the mask's tiles, 64/128),
//   SK_WARP_MT: 16-row MMA tiles per warp (warps = BM / (16 * MT)), SK_MIN_BLOCKS for
//   __launch_bounds__, SK_BF16.
//
// Pipeline (one K buffer, one V buffer, FA2's schedule): while S = Q K_J^T runs, V_J is in
// flight; while O += P V_J runs, K_{J+1} is in flight.
// Shared tiles are stored with a 16-byte-chunk XOR swizzle (chunk ^ (row & 7)) so that the
// eight row addresses of one ldmatrix hit eight different bank groups.

#ifndef SK_HEAD_DIM
#define SK_HEAD_DIM 128
#endif
#ifndef SK_BLOCK_M
#define SK_BLOCK_M 128
#endif
#ifndef SK_BLOCK_N
#define SK_BLOCK_N 64
#endif
#ifndef SK_WARP_MT
#define SK_WARP_MT 1
#endif
#ifndef SK_MIN_BLOCKS
#define SK_MIN_BLOCKS 1
#endif

constexpr int D = SK_HEAD_DIM;
constexpr int BM = SK_BLOCK_M;
constexpr int BN = SK_BLOCK_N;
constexpr int MT = SK_WARP_MT;
constexpr int WARP_ROWS = 16 * MT;
constexpr int WARPS = BM / WARP_ROWS;
constexpr int THREADS = WARPS * 32;
constexpr int CHUNKS = D / 8;  // 16-byte chunks per row

static_assert(BM % WARP_ROWS == 0, "BM must be a multiple of 16 * MT");
static_assert(D % 64 == 0, "head dim must be a multiple of 64 (swizzle needs >= 8 chunks)");
static_assert(BN % 16 == 0, "BN must be a multiple of 16");

// Element offset of (row, 16-byte chunk) in a swizzled [rows, D] tile.
SK_DEVICE int swz(int row, int chunk) { return row * D + ((chunk ^ (row & 7)) << 3); }
// The same when the caller knows row & 7 (every ldmatrix row address is 8·k + lane % 8, so the
// XOR term is one per-thread constant and the compiler can fold the rest into immediates).
SK_DEVICE int swz_known(int row, int chunk, int row7) { return row * D + ((chunk ^ row7) << 3); }

// Asynchronously copies rows [row0, row0 + ROWS) of one head (row stride `stride` elements)
// into a swizzled tile; rows at or past N are zero-filled.
template <int ROWS>
SK_DEVICE void load_tile(u16* tile, const u16* __restrict__ g, int row0, int n, int stride) {
    static_assert((ROWS * CHUNKS) % THREADS == 0, "tile chunks must split evenly over the threads");
#pragma unroll
    for (int it = 0; it < ROWS * CHUNKS / THREADS; ++it) {
        const int c = it * THREADS + (int)threadIdx.x;
        const int r = c / CHUNKS, ch = c % CHUNKS;
        const int gr = row0 + r;
        const bool ok = gr < n;
        const u16* src = g + (long long)(ok ? gr : 0) * stride + ch * 8;
        sk_cp_async16(sk_smem_addr(tile + swz(r, ch)), src, ok ? 16 : 0);
    }
}

extern "C" __global__ void __launch_bounds__(THREADS, SK_MIN_BLOCKS)
sparse_flash_fwd(const u16* __restrict__ q, const u16* __restrict__ k, const u16* __restrict__ v,
                 u16* __restrict__ o, float* __restrict__ lse,
                 const int* __restrict__ rowOffsets, const int* __restrict__ keyBlocks,
                 int n, int qHeads, int kvHeads, float scaleLog2) {
    extern __shared__ __align__(128) u16 smem[];
    u16* sQ = smem;
    u16* sK = sQ + BM * D;
    u16* sV = sK + BN * D;

    const int qBlocks = (n + BM - 1) / BM;
    const int qb = qBlocks - 1 - (int)blockIdx.x;  // longest rows first
    const int head = blockIdx.y;
    const int kvHead = head / (qHeads / kvHeads);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int strideQ = qHeads * D, strideKV = kvHeads * D;
    const u16* gQ = q + (long long)head * D;
    const u16* gK = k + (long long)kvHead * D;
    const u16* gV = v + (long long)kvHead * D;

    const int lastKeyBlock = (min((qb + 1) * BM, n) - 1) / BN;
    int begin = 0, count = lastKeyBlock + 1;
    if (rowOffsets != nullptr) {
        const int r = head * qBlocks + qb;
        begin = rowOffsets[r];
        count = rowOffsets[r + 1] - begin;
    }

    float accO[MT][D / 8][4];
    float rowMax[MT][2], rowSum[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int dt = 0; dt < D / 8; ++dt)
#pragma unroll
            for (int e = 0; e < 4; ++e) accO[mt][dt][e] = 0.f;
        rowMax[mt][0] = rowMax[mt][1] = sk_neg_inf();
        rowSum[mt][0] = rowSum[mt][1] = 0.f;
    }

    load_tile<BM>(sQ, gQ, qb * BM, n, strideQ);
    if (count > 0) {
        const int kb0 = rowOffsets != nullptr ? keyBlocks[begin] : 0;
        load_tile<BN>(sK, gK, kb0 * BN, n, strideKV);
    }
    sk_cp_async_commit();

    const int warpRow0 = qb * BM + warp * WARP_ROWS;  // first query row of this warp
    const int lane7 = lane & 7;
    const u32 sQaddr = sk_smem_addr(sQ), sKaddr = sk_smem_addr(sK), sVaddr = sk_smem_addr(sV);

    for (int i = 0; i < count; ++i) {
        const int kb = rowOffsets != nullptr ? keyBlocks[begin + i] : i;
        sk_cp_async_wait<0>();
        __syncthreads();  // K_J landed; every warp finished the previous P V (V buffer free)
        load_tile<BN>(sV, gV, kb * BN, n, strideKV);
        sk_cp_async_commit();

        // ---- S = Q K^T ----
        float s[MT][BN / 8][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
                for (int e = 0; e < 4; ++e) s[mt][nt][e] = 0.f;
#pragma unroll
        for (int kc = 0; kc < D / 16; ++kc) {
            u32 qa[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                const int row = warp * WARP_ROWS + mt * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
                sk_ldsm_x4(qa[mt], sQaddr + 2 * swz_known(row, kc * 2 + lane / 16, lane7));
            }
#pragma unroll
            for (int nt = 0; nt < BN / 8; nt += 2) {
                u32 b[4];
                const int krow = nt * 8 + (lane % 8) + (lane / 16) * 8;
                sk_ldsm_x4(b, sKaddr + 2 * swz_known(krow, kc * 2 + (lane / 8) % 2, lane7));
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    sk_mma16816(s[mt][nt], qa[mt], b[0], b[1]);
                    sk_mma16816(s[mt][nt + 1], qa[mt], b[2], b[3]);
                }
            }
        }

        // ---- causal mask (only tiles reaching past the block's first row) ----
        if (kb * BN + BN - 1 > qb * BM) {
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const int row = warpRow0 + mt * 16 + lane / 4 + (e >= 2 ? 8 : 0);
                        const int col = kb * BN + nt * 8 + (lane % 4) * 2 + (e & 1);
                        if (col > row) s[mt][nt][e] = sk_neg_inf();
                    }
        }

        // ---- online softmax (log2 domain); rows lane/4 and lane/4 + 8 of each 16-row tile ----
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                float mx = sk_neg_inf();
#pragma unroll
                for (int nt = 0; nt < BN / 8; ++nt) mx = fmaxf(mx, fmaxf(s[mt][nt][2 * h], s[mt][nt][2 * h + 1]));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                const float newMax = fmaxf(rowMax[mt][h], mx * scaleLog2);
                const float base = newMax == sk_neg_inf() ? 0.f : newMax;  // all masked so far
                const float alpha = sk_exp2(rowMax[mt][h] - base);
                rowMax[mt][h] = newMax;
                float sum = 0.f;
#pragma unroll
                for (int nt = 0; nt < BN / 8; ++nt) {
                    s[mt][nt][2 * h] = sk_exp2(fmaf(s[mt][nt][2 * h], scaleLog2, -base));
                    s[mt][nt][2 * h + 1] = sk_exp2(fmaf(s[mt][nt][2 * h + 1], scaleLog2, -base));
                    sum += s[mt][nt][2 * h] + s[mt][nt][2 * h + 1];
                }
                rowSum[mt][h] = rowSum[mt][h] * alpha + sum;  // per-thread partial; quad-reduced at the end
#pragma unroll
                for (int dt = 0; dt < D / 8; ++dt) {
                    accO[mt][dt][2 * h] *= alpha;
                    accO[mt][dt][2 * h + 1] *= alpha;
                }
            }

        sk_cp_async_wait<0>();
        __syncthreads();  // V_J landed; every warp finished reading K_J
        if (i + 1 < count) {
            const int nkb = rowOffsets != nullptr ? keyBlocks[begin + i + 1] : i + 1;
            load_tile<BN>(sK, gK, nkb * BN, n, strideKV);
        }
        sk_cp_async_commit();

        // ---- O += P V ----  (the S accumulator layout is the A-operand layout, two n8 tiles per k16)
#pragma unroll
        for (int kc = 0; kc < BN / 16; ++kc) {
            u32 pa[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                pa[mt][0] = sk_pack2(s[mt][2 * kc][0], s[mt][2 * kc][1]);
                pa[mt][1] = sk_pack2(s[mt][2 * kc][2], s[mt][2 * kc][3]);
                pa[mt][2] = sk_pack2(s[mt][2 * kc + 1][0], s[mt][2 * kc + 1][1]);
                pa[mt][3] = sk_pack2(s[mt][2 * kc + 1][2], s[mt][2 * kc + 1][3]);
            }
#pragma unroll
            for (int dt = 0; dt < D / 8; dt += 2) {
                u32 b[4];
                const int vrow = kc * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
                sk_ldsm_x4_trans(b, sVaddr + 2 * swz_known(vrow, dt + lane / 16, lane7));
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    sk_mma16816(accO[mt][dt], pa[mt], b[0], b[1]);
                    sk_mma16816(accO[mt][dt + 1], pa[mt], b[2], b[3]);
                }
            }
        }
    }
    sk_cp_async_wait<0>();

    // ---- epilogue: O /= l, LSE ----
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float l = rowSum[mt][h];
            l += __shfl_xor_sync(0xffffffffu, l, 1);
            l += __shfl_xor_sync(0xffffffffu, l, 2);
            const float inv = l > 0.f ? 1.f / l : 0.f;
            const int row = warpRow0 + mt * 16 + lane / 4 + 8 * h;
            if (row < n) {
                u16* dst = o + ((long long)row * qHeads + head) * D + (lane % 4) * 2;
#pragma unroll
                for (int dt = 0; dt < D / 8; ++dt)
                    *reinterpret_cast<u32*>(dst + dt * 8) = sk_pack2(accO[mt][dt][2 * h] * inv, accO[mt][dt][2 * h + 1] * inv);
                if (lane % 4 == 0)
                    lse[(long long)head * n + row] =
                        l > 0.f ? (rowMax[mt][h] + sk_log2(l)) * 0.6931471805599453f : sk_neg_inf();
            }
        }
}

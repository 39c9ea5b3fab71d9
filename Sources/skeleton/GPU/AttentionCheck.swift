import SparseSkeleton
import SparseSkeletonCUDA

/// One correctness case of `gpu-check`: a kernel variant on fresh random inputs against the
/// core's CPU reference (dense: float64; masked: the float32 FlashAttention twin).
struct AttentionCheckCase: CustomStringConvertible {
    enum MaskKind: String { case full, sparse }
    let dtype: DType
    let tokens: Int
    let queryHeads: Int
    let kvHeads: Int
    let traits: FlashKernelTraits
    let mask: MaskKind
    /// Real inputs (captured Q, K, V as floats, [N, heads, d]) instead of random ones, and their name.
    var given: (q: [Float], k: [Float], v: [Float], name: String)? = nil
    /// Persistent kernels: at most this many CTAs, so each walks many (query block, head) items.
    var gridCap: Int? = nil

    var description: String {
        "\(traits) N=\(tokens) heads \(queryHeads)/\(kvHeads) \(mask.rawValue)" + (given.map { " [\($0.name)]" } ?? "")
            + (gridCap.map { " grid≤\($0)" } ?? "")
    }

    /// Largest relative error allowed: ‖O − ref‖ / ‖ref‖.
    var tolerance: Double { dtype == .bf16 ? 1e-2 : 5e-3 }
}

struct AttentionCheckResult {
    let relError: Double
    let lseMaxAbsError: Double
    let nanCount: Int
    let unwrittenLSE: Int
    let density: Double
    /// Full masks: the CSR run and the dense (no CSR) run differ in this many output elements.
    let fullVsDenseMismatches: Int?
    let ok: Bool
}

enum AttentionCheck {
    /// The default sweep: bf16/fp16 × d 64/128/256 × MHA/GQA × full/sparse, N not a multiple of
    /// the tile, tiles alternating 64×64 / 128×64; plus longer sequences and the other kernel layouts.
    static func defaultCases() throws -> [AttentionCheckCase] {
        var cases: [AttentionCheckCase] = []
        let lengths = [200, 333, 517]
        var i = 0
        for dtype in [DType.bf16, .f16] {
            for d in [64, 128, 256] {
                for (hq, hkv) in [(4, 4), (8, 2)] {
                    for mask in [AttentionCheckCase.MaskKind.full, .sparse] {
                        let m = i % 2 == 0 ? 64 : 128
                        let t = try FlashKernelTraits(headDim: d, blockM: m, blockN: 64, dtype: dtype)
                        cases.append(AttentionCheckCase(dtype: dtype, tokens: lengths[i % 3], queryHeads: hq, kvHeads: hkv, traits: t, mask: mask))
                        i += 1
                    }
                }
            }
        }
        for mask in [AttentionCheckCase.MaskKind.full, .sparse] {
            cases.append(AttentionCheckCase(dtype: .bf16, tokens: 1500, queryHeads: 8, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: .bf16), mask: mask))
            cases.append(AttentionCheckCase(dtype: .bf16, tokens: 700, queryHeads: 4, kvHeads: 1,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 128, dtype: .bf16), mask: mask))
            cases.append(AttentionCheckCase(dtype: .bf16, tokens: 900, queryHeads: 4, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, warpTiles: 2, dtype: .bf16), mask: mask))
            cases.append(AttentionCheckCase(dtype: .f16, tokens: 450, queryHeads: 8, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 64, blockM: 128, blockN: 64, warpTiles: 2, dtype: .f16), mask: mask))
            cases.append(AttentionCheckCase(dtype: .f16, tokens: 777, queryHeads: 4, kvHeads: 4,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, warpTiles: 2, dtype: .f16), mask: mask))
            cases.append(AttentionCheckCase(dtype: .bf16, tokens: 800, queryHeads: 4, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, minBlocksPerSM: 2, dtype: .bf16), mask: mask))
            cases.append(AttentionCheckCase(dtype: .bf16, tokens: 650, queryHeads: 4, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 64, blockN: 64, minBlocksPerSM: 3, dtype: .bf16), mask: mask))
            cases.append(AttentionCheckCase(dtype: .f16, tokens: 1100, queryHeads: 6, kvHeads: 3,
                                            traits: try FlashKernelTraits(headDim: 256, blockM: 128, blockN: 64, dtype: .f16), mask: mask))
        }
        // the wgmma (sm_90a) kernel, the default on Hopper: the same sweep, tiles alternating
        // 64×64 / 128×64, plain and persistent alternating (persistent: 4 K/V stages where they fit,
        // grids capped at 5 CTAs so that every CTA walks several items, empty sparse rows included)
        i = 0
        for dtype in [DType.bf16, .f16] {
            for d in [64, 128, 256] {
                for (hq, hkv) in [(4, 4), (8, 2)] {
                    for mask in [AttentionCheckCase.MaskKind.full, .sparse] {
                        let m = i % 2 == 0 ? 64 : 128
                        let persistent = (i / 2) % 2 == 0
                        let t: FlashKernelTraits
                        if let p = try? FlashKernelTraits(headDim: d, blockM: m, blockN: 64, dtype: dtype, family: .wgmma, persistent: persistent,
                                                          stages: persistent ? 4 : 2) {
                            t = p
                        } else if let p = try? FlashKernelTraits(headDim: d, blockM: m, blockN: 64, dtype: dtype, family: .wgmma, persistent: persistent) {
                            t = p
                        } else {
                            t = try FlashKernelTraits(headDim: d, blockM: m, blockN: 64, dtype: dtype, family: .wgmma)
                        }
                        cases.append(AttentionCheckCase(dtype: dtype, tokens: lengths[i % 3], queryHeads: hq, kvHeads: hkv, traits: t, mask: mask,
                                                        gridCap: t.persistent ? 5 : nil))
                        i += 1
                    }
                }
            }
        }
        for mask in [AttentionCheckCase.MaskKind.full, .sparse] {
            cases.append(AttentionCheckCase(dtype: .bf16, tokens: 1500, queryHeads: 8, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: .bf16, family: .wgmma, persistent: true), mask: mask))
            cases.append(AttentionCheckCase(dtype: .bf16, tokens: 1500, queryHeads: 8, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: .bf16, family: .wgmma), mask: mask))
            cases.append(AttentionCheckCase(dtype: .f16, tokens: 1100, queryHeads: 6, kvHeads: 3,
                                            traits: try FlashKernelTraits(headDim: 256, blockM: 128, blockN: 64, dtype: .f16, family: .wgmma), mask: mask))
            cases.append(AttentionCheckCase(dtype: .bf16, tokens: 700, queryHeads: 4, kvHeads: 1,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 128, dtype: .bf16, family: .wgmma), mask: mask))
            cases.append(AttentionCheckCase(dtype: .bf16, tokens: 800, queryHeads: 4, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, minBlocksPerSM: 2, dtype: .bf16, family: .wgmma), mask: mask))
            cases.append(AttentionCheckCase(dtype: .bf16, tokens: 1500, queryHeads: 8, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: .bf16, family: .wgmma, persistent: true, stages: 4), mask: mask))
            cases.append(AttentionCheckCase(dtype: .f16, tokens: 1200, queryHeads: 4, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 64, blockN: 64, dtype: .f16, family: .wgmma, persistent: true, stages: 3),
                                            mask: mask, gridCap: 6))
            cases.append(AttentionCheckCase(dtype: .bf16, tokens: 1300, queryHeads: 8, kvHeads: 4,
                                            traits: try FlashKernelTraits(headDim: 64, blockM: 128, blockN: 64, minBlocksPerSM: 2, dtype: .bf16, family: .wgmma, persistent: true, stages: 4),
                                            mask: mask, gridCap: 4))
            cases.append(AttentionCheckCase(dtype: .f16, tokens: 1000, queryHeads: 8, kvHeads: 2,  // the d = 64 default
                                            traits: try FlashKernelTraits(headDim: 64, blockM: 128, blockN: 64, minBlocksPerSM: 2, dtype: .f16, family: .wgmma),
                                            mask: mask))
            cases.append(AttentionCheckCase(dtype: .f16, tokens: 2100, queryHeads: 4, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 64, blockM: 64, blockN: 64, dtype: .f16, family: .wgmma, persistent: true), mask: mask,
                                            gridCap: 3))
        }
        return cases
    }

    /// Cases on captured real Q/K/V (one layer): bf16 and fp16, full and sparse mask, default kernel.
    static func capturedCases(inputs x: AttentionInputs, name: String) throws -> [AttentionCheckCase] {
        guard let v = x.v else { throw SkeletonError.invalidArgument("\(name): captured V is missing") }
        let sh = x.shape
        var out: [AttentionCheckCase] = []
        for dtype in [DType.bf16, .f16] {
            for mask in [AttentionCheckCase.MaskKind.full, .sparse] {
                let g = try TileGeometry(tokens: sh.tokens, queryTile: 128, keyTile: 64)
                var c = AttentionCheckCase(dtype: dtype, tokens: sh.tokens, queryHeads: sh.queryHeads, kvHeads: sh.kvHeads,
                                           traits: try FlashKernelTraits.default(headDim: sh.headDim, geometry: g, dtype: dtype), mask: mask)
                c.given = (x.q, x.k, v, name)
                out.append(c)
            }
        }
        return out
    }

    /// A random causal mask keeping ~35% of tiles; the diagonal tile is dropped for ~20% of
    /// rows and one row is left empty, so rows with no visible key (O = 0, LSE = −∞) are tested.
    static func randomMask(geometry: TileGeometry, heads: Int, rng: inout SplitMix64) throws -> BlockMask {
        var rows: [[Int32]] = []
        for h in 0..<heads {
            for qb in 0..<geometry.queryBlocks {
                let last = geometry.lastCausalKeyBlock(qb)
                if h == 0 && qb == geometry.queryBlocks / 2 { rows.append([]); continue }
                var row: [Int32] = []
                for kb in 0..<last where Double.random(in: 0..<1, using: &rng) < 0.35 { row.append(Int32(kb)) }
                if Double.random(in: 0..<1, using: &rng) < 0.8 { row.append(Int32(last)) }
                rows.append(row)
            }
        }
        return try BlockMask(geometry: geometry, heads: heads, rows: rows)
    }

    static func run(_ c: AttentionCheckCase, session s: GPUSession, seed: UInt64) throws -> AttentionCheckResult {
        var rng = SplitMix64(seed: seed)
        let shape = try AttentionShape(tokens: c.tokens, queryHeads: c.queryHeads, kvHeads: c.kvHeads, headDim: c.traits.headDim)
        let d = shape.headDim, n = shape.tokens
        func tensor(_ name: String, _ heads: Int, scale: Float) throws -> HeadTensor {
            if let g = c.given {
                return try HeadTensor(name: name, tokens: n, heads: heads, headDim: d, values: name == "Q" ? g.q : (name == "K" ? g.k : g.v), dtype: c.dtype)
            }
            return try HeadTensor(name: name, tokens: n, heads: heads, headDim: d,
                                  values: (0..<(n * heads * d)).map { _ in rng.roughNormal() * scale }, dtype: c.dtype)
        }
        // logits with standard deviation ~2: peaked enough that a wrong max/rescale shows
        let q = try tensor("Q", shape.queryHeads, scale: 1.2), k = try tensor("K", shape.kvHeads, scale: 1.2)
        let v = try tensor("V", shape.kvHeads, scale: 1)
        let inputs = try AttentionInputs(q: q, k: k, v: v)  // the rounded values: GPU and CPU see the same numbers
        let geometry = try TileGeometry(tokens: n, queryTile: c.traits.blockM, keyTile: c.traits.blockN)
        let hostMask: BlockMask = c.mask == .full ? try BlockMask.full(geometry: geometry, heads: shape.queryHeads)
                                                  : try randomMask(geometry: geometry, heads: shape.queryHeads, rng: &rng)

        let qd = try s.upload(q), kd = try s.upload(k), vd = try s.upload(v)
        let outCount = n * shape.queryHeads * d
        let o = try DeviceBuffer(device: s.device, byteCount: outCount * 2)
        let lse = try DeviceBuffer(device: s.device, byteCount: n * shape.queryHeads * 4)
        let deviceMask = try DeviceBlockMask(device: s.device, mask: hostMask)
        s.attention.persistentGridCap = c.gridCap
        defer { s.attention.persistentGridCap = nil }

        func launch(_ m: DeviceBlockMask?) throws -> ([Float], [Float]) {
            try o.fill32(0xFFFF_FFFF)  // NaN in bf16 and fp16: every element must be overwritten
            try lse.fill32(0x7FC0_0000)  // Float NaN
            try s.attention.forward(shape: shape, traits: c.traits, q: qd, k: kd, v: vd, o: o, lse: lse, mask: m, stream: s.stream)
            try s.stream.synchronize()
            return (try s.downloadFloats(o, count: outCount, dtype: c.dtype), try lse.download(Float.self, count: n * shape.queryHeads))
        }
        let (out, lseOut) = try launch(deviceMask)
        var mismatches: Int? = nil
        if c.mask == .full {
            let (denseOut, _) = try launch(nil)
            mismatches = zip(out, denseOut).reduce(0) { $0 + ($1.0.bitPattern == $1.1.bitPattern ? 0 : 1) }
        }
        let ref = c.mask == .full ? try ReferenceAttention.dense(inputs, precision: .float64)
                                  : try ReferenceAttention.masked(inputs, mask: hostMask)
        var num = 0.0, den = 0.0, nan = 0
        for (g, r) in zip(out, ref.output) {
            if g.isNaN { nan += 1; continue }
            num += Double(g - r) * Double(g - r); den += Double(r) * Double(r)
        }
        var lseErr = 0.0, unwritten = 0
        let refLSE = ref.logSumExp ?? []
        for (i, g) in lseOut.enumerated() where i < refLSE.count {
            let r = refLSE[i]
            if g.isNaN { unwritten += 1; continue }
            if r == -.infinity || g == -.infinity {
                if r != g { lseErr = .infinity }
                continue
            }
            lseErr = max(lseErr, Double(abs(g - r)))
        }
        let rel = den > 0 ? (num / den).squareRoot() : num.squareRoot()
        let ok = nan == 0 && unwritten == 0 && rel <= c.tolerance && lseErr <= 2e-2 && (mismatches ?? 0) == 0
        return AttentionCheckResult(relError: rel, lseMaxAbsError: lseErr, nanCount: nan, unwrittenLSE: unwritten,
                                    density: hostMask.density, fullVsDenseMismatches: mismatches, ok: ok)
    }
}

import SparseSkeleton
import SparseSkeletonCUDA

/// `skeleton gpu-check`'s matrix: every attention kernel variant on fresh random inputs (or
/// captured real Q/K/V) against the core's CPU reference (dense: float64; masked: the float32
/// FlashAttention twin), outputs poisoned with NaN first.
public enum AttentionCheck {
    /// One case: a kernel variant, a shape, a mask kind.
    public struct Case: Sendable, CustomStringConvertible {
        public enum MaskKind: String, Sendable { case full, sparse }
        public let dtype: DType
        public let tokens: Int
        public let queryHeads: Int
        public let kvHeads: Int
        public let traits: FlashKernelTraits
        public let mask: MaskKind
        /// Real inputs (captured Q, K, V as floats, [N, heads, d]) instead of random ones, and their name.
        public var given: (q: [Float], k: [Float], v: [Float], name: String)? = nil
        /// Persistent kernels: at most this many CTAs, so each walks many (query block, head) items.
        public var gridCap: Int? = nil
        /// The hopper kernel's items in L2 sections of this many query heads (dense walks through the queue).
        public var headSection: Int? = nil

        public var description: String {
            "\(traits) N=\(tokens) heads \(queryHeads)/\(kvHeads) \(mask.rawValue)" + (given.map { " [\($0.name)]" } ?? "")
                + (gridCap.map { " grid≤\($0)" } ?? "") + (headSection.map { " sections of \($0) heads" } ?? "")
        }

        /// Largest relative error allowed: ‖O − ref‖ / ‖ref‖.
        public var tolerance: Double { dtype == .bf16 ? 1e-2 : 5e-3 }
    }

    /// One case's outcome: the numbers of gpu-check's table and the verdict.
    public struct Row: Sendable {
        public let relError: Double
        public let lseMaxAbsError: Double
        public let nanCount: Int
        public let unwrittenLSE: Int
        public let density: Double
        /// Full masks: the CSR run and the dense (no CSR) run differ in this many output elements.
        public let fullVsDenseMismatches: Int?
        /// Persistent kernel on a CSR mask: the work-queue run and the static-order run differ in this many output elements.
        public let queueVsStaticMismatches: Int?
        public let ok: Bool
    }

    /// Largest |LSE − reference LSE| allowed.
    public static let lseTolerance = 2e-2

    /// The default matrix (`defaultCases()`); its traits are constants, valid by construction.
    public static var cases: [Case] {
        do { return try defaultCases() } catch { preconditionFailure("gpu-check's default cases: \(error)") }
    }

    /// Runs `cases` (those whose description contains `filter`) and prints gpu-check's table:
    /// case i gets seed `seed + 7919 i`. A case that throws counts as a failure.
    public static func runAll(_ cases: [Case], session: GPUSession, seed: UInt64, filter: String? = nil,
                              log: (String) -> Void = { print($0) }) -> CheckSummary {
        log("gpu-check on \(session.banner); seed \(seed)")
        log("case | kept | rel.err | tol | LSE max|err| | NaN | full==dense | queue==static | verdict")
        var sum = CheckSummary()
        for (i, c) in cases.enumerated() {
            if let f = filter, !c.description.contains(f) { continue }
            sum.ran += 1
            do {
                let r = try run(c, session: session, seed: seed &+ UInt64(i) &* 7919)
                if !r.ok { sum.failed += 1 }
                let eq = r.fullVsDenseMismatches.map { $0 == 0 ? "yes" : "NO (\($0) differ)" } ?? "-"
                let order = r.queueVsStaticMismatches.map { $0 == 0 ? "yes" : "NO (\($0) differ)" } ?? "-"
                log("\(c) | \(r.density.f(2)) | \(r.relError.sci) | \(c.tolerance.sci) | \(r.lseMaxAbsError.sci) | \(r.nanCount + r.unwrittenLSE) | \(eq) | \(order) | \(r.ok ? "ok" : "FAIL")")
            } catch {
                sum.failed += 1
                log("\(c) | error: \(error) | FAIL")
            }
        }
        log("gpu-check: \(sum.passed)/\(sum.ran) cases passed")
        return sum
    }

    /// The default sweep: bf16/fp16 × d 64/128/256 × MHA/GQA × full/sparse, N not a multiple of
    /// the tile, tiles alternating 64×64 / 128×64; plus longer sequences and the other kernel layouts.
    public static func defaultCases() throws -> [Case] {
        var cases: [Case] = []
        let lengths = [200, 333, 517]
        var i = 0
        for dtype in [DType.bf16, .f16] {
            for d in [64, 128, 256] {
                for (hq, hkv) in [(4, 4), (8, 2)] {
                    for mask in [Case.MaskKind.full, .sparse] {
                        let m = i % 2 == 0 ? 64 : 128
                        let t = try FlashKernelTraits(headDim: d, blockM: m, blockN: 64, dtype: dtype)
                        cases.append(Case(dtype: dtype, tokens: lengths[i % 3], queryHeads: hq, kvHeads: hkv, traits: t, mask: mask))
                        i += 1
                    }
                }
            }
        }
        for mask in [Case.MaskKind.full, .sparse] {
            cases.append(Case(dtype: .bf16, tokens: 1500, queryHeads: 8, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: .bf16), mask: mask))
            cases.append(Case(dtype: .bf16, tokens: 700, queryHeads: 4, kvHeads: 1,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 128, dtype: .bf16), mask: mask))
            cases.append(Case(dtype: .bf16, tokens: 900, queryHeads: 4, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, warpTiles: 2, dtype: .bf16), mask: mask))
            cases.append(Case(dtype: .f16, tokens: 450, queryHeads: 8, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 64, blockM: 128, blockN: 64, warpTiles: 2, dtype: .f16), mask: mask))
            cases.append(Case(dtype: .f16, tokens: 777, queryHeads: 4, kvHeads: 4,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, warpTiles: 2, dtype: .f16), mask: mask))
            cases.append(Case(dtype: .bf16, tokens: 800, queryHeads: 4, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, minBlocksPerSM: 2, dtype: .bf16), mask: mask))
            cases.append(Case(dtype: .bf16, tokens: 650, queryHeads: 4, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 64, blockN: 64, minBlocksPerSM: 3, dtype: .bf16), mask: mask))
            cases.append(Case(dtype: .f16, tokens: 1100, queryHeads: 6, kvHeads: 3,
                                            traits: try FlashKernelTraits(headDim: 256, blockM: 128, blockN: 64, dtype: .f16), mask: mask))
        }
        // the wgmma (sm_90a) kernel, the default on Hopper: the same sweep, tiles alternating
        // 64×64 / 128×64, plain and persistent alternating (persistent: 4 K/V stages where they fit,
        // grids capped at 5 CTAs so that every CTA walks several items, empty sparse rows included)
        i = 0
        for dtype in [DType.bf16, .f16] {
            for d in [64, 128, 256] {
                for (hq, hkv) in [(4, 4), (8, 2)] {
                    for mask in [Case.MaskKind.full, .sparse] {
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
                        cases.append(Case(dtype: dtype, tokens: lengths[i % 3], queryHeads: hq, kvHeads: hkv, traits: t, mask: mask,
                                                        gridCap: t.persistent ? 5 : nil))
                        i += 1
                    }
                }
            }
        }
        // the warp-specialized TMA kernel (the default for 128-row tiles on sm_90a): the same sweep, key
        // tiles alternating 64 / 128 where the head dim takes both, grids alternating full / capped at 5 CTAs
        i = 0
        for dtype in [DType.bf16, .f16] {
            for d in [64, 128, 256] {
                for (hq, hkv) in [(4, 4), (8, 2)] {
                    for mask in [Case.MaskKind.full, .sparse] {
                        let bn = i % 2 == 0 || d == 256 ? 64 : 128
                        guard let t = FlashKernelTraits.hopper(headDim: d, blockN: bn, dtype: dtype) else { continue }
                        cases.append(Case(dtype: dtype, tokens: lengths[i % 3], queryHeads: hq, kvHeads: hkv, traits: t, mask: mask,
                                          gridCap: (i / 2) % 2 == 0 ? 5 : nil))
                        i += 1
                    }
                }
            }
        }
        // the hopper kernel with paired 64-key tiles (the default for masks at d ≤ 128): odd and even row counts,
        // rows whose last pair has one tile, grids alternating full / capped at 5 CTAs
        i = 0
        for dtype in [DType.bf16, .f16] {
            for d in [64, 128] {
                for (hq, hkv) in [(4, 4), (8, 2)] {
                    for mask in [Case.MaskKind.full, .sparse] {
                        guard let t = FlashKernelTraits.hopper(headDim: d, blockN: 64, dtype: dtype, paired: true) else { continue }
                        cases.append(Case(dtype: dtype, tokens: lengths[(i + 1) % 3], queryHeads: hq, kvHeads: hkv, traits: t, mask: mask,
                                          gridCap: (i / 2) % 2 == 1 ? 5 : nil))
                        i += 1
                    }
                }
            }
        }
        for mask in [Case.MaskKind.full, .sparse] {  // the hopper kernel with the item overlap (an option), many items per CTA
            if let t = FlashKernelTraits.hopper(headDim: 128, blockN: 64, dtype: .bf16, paired: true, itemOverlap: true) {
                cases.append(Case(dtype: .bf16, tokens: 1500, queryHeads: 8, kvHeads: 2, traits: t, mask: mask, gridCap: 3))
            }
        }
        for (mask, heads) in [(Case.MaskKind.full, 2), (.sparse, 2), (.full, 4), (.sparse, 4)] {  // L2 sections, many items per CTA
            if let t = FlashKernelTraits.hopper(headDim: 128, blockN: 64, dtype: .bf16, paired: true) {
                var c = Case(dtype: .bf16, tokens: 1500, queryHeads: 8, kvHeads: 2, traits: t, mask: mask, gridCap: 3)
                c.headSection = heads
                cases.append(c)
            }
        }
        for mask in [Case.MaskKind.full, .sparse] {  // the hopper kernel's register epilogue (its d 256 default) at d 128, many items per CTA
            if let t = FlashKernelTraits.hopper(headDim: 128, blockN: 64, dtype: .bf16, tmaStore: false) {
                cases.append(Case(dtype: .bf16, tokens: 1500, queryHeads: 8, kvHeads: 2, traits: t, mask: mask, gridCap: 3))
            }
        }
        for mask in [Case.MaskKind.full, .sparse] {
            cases.append(Case(dtype: .bf16, tokens: 1500, queryHeads: 8, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: .bf16, family: .wgmma, persistent: true), mask: mask))
            cases.append(Case(dtype: .bf16, tokens: 1500, queryHeads: 8, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: .bf16, family: .wgmma), mask: mask))
            cases.append(Case(dtype: .f16, tokens: 1100, queryHeads: 6, kvHeads: 3,
                                            traits: try FlashKernelTraits(headDim: 256, blockM: 128, blockN: 64, dtype: .f16, family: .wgmma), mask: mask))
            cases.append(Case(dtype: .bf16, tokens: 700, queryHeads: 4, kvHeads: 1,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 128, dtype: .bf16, family: .wgmma), mask: mask))
            cases.append(Case(dtype: .bf16, tokens: 800, queryHeads: 4, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, minBlocksPerSM: 2, dtype: .bf16, family: .wgmma), mask: mask))
            cases.append(Case(dtype: .bf16, tokens: 1500, queryHeads: 8, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: .bf16, family: .wgmma, persistent: true, stages: 4), mask: mask))
            cases.append(Case(dtype: .f16, tokens: 1200, queryHeads: 4, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 128, blockM: 64, blockN: 64, dtype: .f16, family: .wgmma, persistent: true, stages: 3),
                                            mask: mask, gridCap: 6))
            cases.append(Case(dtype: .bf16, tokens: 1300, queryHeads: 8, kvHeads: 4,
                                            traits: try FlashKernelTraits(headDim: 64, blockM: 128, blockN: 64, minBlocksPerSM: 2, dtype: .bf16, family: .wgmma, persistent: true, stages: 4),
                                            mask: mask, gridCap: 4))
            cases.append(Case(dtype: .f16, tokens: 1000, queryHeads: 8, kvHeads: 2,  // the d = 64 default
                                            traits: try FlashKernelTraits(headDim: 64, blockM: 128, blockN: 64, minBlocksPerSM: 2, dtype: .f16, family: .wgmma),
                                            mask: mask))
            cases.append(Case(dtype: .f16, tokens: 2100, queryHeads: 4, kvHeads: 2,
                                            traits: try FlashKernelTraits(headDim: 64, blockM: 64, blockN: 64, dtype: .f16, family: .wgmma, persistent: true), mask: mask,
                                            gridCap: 3))
        }
        return cases
    }

    /// Cases on captured real Q/K/V (one layer): bf16 and fp16, full and sparse mask, default kernel.
    public static func capturedCases(inputs x: AttentionInputs, name: String) throws -> [Case] {
        guard let v = x.v else { throw SkeletonError.invalidArgument("\(name): captured V is missing") }
        let sh = x.shape
        var out: [Case] = []
        for dtype in [DType.bf16, .f16] {
            for mask in [Case.MaskKind.full, .sparse] {
                let g = try TileGeometry(tokens: sh.tokens, queryTile: 128, keyTile: 64)
                var c = Case(dtype: dtype, tokens: sh.tokens, queryHeads: sh.queryHeads, kvHeads: sh.kvHeads,
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

    /// Runs one case; `seed` draws its inputs and its random mask.
    public static func run(_ c: Case, session s: GPUSession, seed: UInt64 = 1) throws -> Row {
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
        let order = s.attention.workOrder
        if let h = c.headSection { s.attention.workOrder.forcedHeads = h }
        defer { s.attention.persistentGridCap = nil; s.attention.workOrder = order }

        func launch(_ m: DeviceBlockMask?) throws -> ([Float], [Float]) {
            try o.fill32(0xFFFF_FFFF)  // NaN in bf16 and fp16: every element must be overwritten
            try lse.fill32(0x7FC0_0000)  // Float NaN
            try s.attention.forward(shape: shape, traits: c.traits, q: qd, k: kd, v: vd, o: o, lse: lse, mask: m, stream: s.stream)
            try s.stream.synchronize()
            return (try s.downloadFloats(o, count: outCount, dtype: c.dtype), try lse.download(Float.self, count: n * shape.queryHeads))
        }
        let (out, lseOut) = try launch(deviceMask)
        var mismatches: Int? = nil
        var wideDense: [Float]? = nil  // dense in the hopper kernel's 128-key tiles (what a dense forward runs)
        if c.mask == .full {
            s.attention.denseKeyTiles128 = false  // the same tiles as the mask: bit for bit
            let (denseOut, _) = try launch(nil)
            s.attention.denseKeyTiles128 = true
            mismatches = zip(out, denseOut).reduce(0) { $0 + ($1.0.bitPattern == $1.1.bitPattern ? 0 : 1) }
            let (wide, _) = try launch(nil)
            if zip(wide, denseOut).contains(where: { $0.0.bitPattern != $0.1.bitPattern }) { wideDense = wide }
        }
        var orderMismatches: Int? = nil
        if SparseFlashAttention.hasWorkQueue(s.attention.runnable(c.traits)) {  // the same mask in the static snake order: bit for bit
            s.attention.dynamicSparseOrder = false
            defer { s.attention.dynamicSparseOrder = true }
            let (staticOut, _) = try launch(deviceMask)
            orderMismatches = zip(out, staticOut).reduce(0) { $0 + ($1.0.bitPattern == $1.1.bitPattern ? 0 : 1) }
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
        var rel = den > 0 ? (num / den).squareRoot() : num.squareRoot()
        if let wide = wideDense {  // judged against the same float64 reference; the larger error is reported
            var wn = 0.0
            for (g, r) in zip(wide, ref.output) {
                if g.isNaN { nan += 1; continue }
                wn += Double(g - r) * Double(g - r)
            }
            rel = max(rel, den > 0 ? (wn / den).squareRoot() : wn.squareRoot())
        }
        let ok = nan == 0 && unwritten == 0 && rel <= c.tolerance && lseErr <= lseTolerance && (mismatches ?? 0) == 0 && (orderMismatches ?? 0) == 0
        return Row(relError: rel, lseMaxAbsError: lseErr, nanCount: nan, unwrittenLSE: unwritten,
                                    density: hostMask.density, fullVsDenseMismatches: mismatches, queueVsStaticMismatches: orderMismatches, ok: ok)
    }
}

import Dispatch

/// Exact attention of ONE query head, kept at tile granularity so any mask can be scored without
/// recomputing attention:
///
///     mass[i, J]    = Σ_{j∈J, j≤i} A[i, j]                    (N × keyBlocks)
///     partial[i, J] = Σ_{j∈J, j≤i} A[i, j] · v_j              (N × keyBlocks × d, when V is given)
///
/// For a mask M, row i's recall is Σ_{J∈M(I)} mass[i, J], and the masked attention output (softmax
/// restricted to the kept tiles, as the block-sparse kernel computes it) is exactly
///
///     Ô_i = Σ_{J∈M(I)} partial[i, J] / Σ_{J∈M(I)} mass[i, J],
///
/// because the masked softmax is the dense one renormalised over the kept keys. The dense output is
/// the sum over all causal J. Under a spec with a window, tiles the window does not reach have mass
/// 0 and keys left of a row's window are never seen (the truth of windowed attention). Memory: N·N/B·(d + 1) floats (≈ 270 MB at N = 8192, B = 64, d = 64),
/// one head at a time. Cost: one dense pass (Gemm for Q·Kᵀ and per-tile P·V).
///
/// `outputRowStride` k > 1 keeps `partial` and `dense` for the rows i ≡ k − 1 (mod k) only, so the
/// output error is measured on every k-th row (recall stays on every row): at N = 32768, d = 256
/// the full partials are 17 GB per head, every 16th row's about 1 GB.
public struct AttentionTruth: Sendable {
    public let geometry: TileGeometry
    public let head: Int
    public let headDim: Int
    public let mass: [Float]
    /// Rows (i / outputRowStride) × keyBlocks × d, for the sampled rows only.
    public let partial: [Float]?
    /// Dense output O_i = Σ_J partial[i, J] (sampled rows × d), cached for scoring.
    public let dense: [Float]?
    /// The output error is scored on rows i with i % outputRowStride == outputRowStride − 1.
    public let outputRowStride: Int

    public init(_ x: AttentionInputs, head: Int, geometry g: TileGeometry, spec: AttentionSpec = .causal,
                withOutputs: Bool = true, outputRowStride: Int = 1) throws {
        let spec = try spec.checked(for: "the attention truth")
        guard outputRowStride >= 1 else { throw SkeletonError.invalidArgument("output row stride \(outputRowStride) must be at least 1") }
        try g.requireTokens(of: x.shape)
        guard head >= 0, head < x.shape.queryHeads else {
            throw SkeletonError.invalidArgument("head \(head) is outside 0..<\(x.shape.queryHeads)")
        }
        let n = g.tokens, kb = g.keyBlocks, d = x.shape.headDim
        let kvh = x.shape.kvHead(forQueryHead: head)
        let useV = withOutputs && x.v != nil
        let stride = outputRowStride, sampled = n / stride
        var mass = [Float](repeating: 0, count: n * kb)
        var partial = [Float](repeating: 0, count: useV ? sampled * kb * d : 0)
        for qb in 0..<g.queryBlocks {
            let rows = Array(g.queryRows(qb))
            let (p, width, _) = try ExactRows.probabilities(x, head: head, rows: rows, spec: spec)
            p.withUnsafeBufferPointer { pb in
                for (r, i) in rows.enumerated() {
                    let row = pb.baseAddress! + r * width
                    for b in 0...g.lastCausalKeyBlock(qb) {
                        var t: Float = 0
                        for j in g.keyColumns(b) where j < width { t += row[j] }
                        mass[i * kb + b] = t
                    }
                }
            }
            // the block's sampled rows are equally spaced by `stride`: one Gemm with lda = stride · width
            let firstLocal = (stride - 1 - rows[0] % stride + stride) % stride
            guard useV, let v = x.v, firstLocal < rows.count else { continue }
            let count = (rows.count - 1 - firstLocal) / stride + 1, firstSample = (rows[0] + firstLocal) / stride
            try p.withUnsafeBufferPointer { pa in
                try v.withUnsafeBufferPointer { va in
                    try partial.withUnsafeMutableBufferPointer { oa in
                        for b in 0...g.lastCausalKeyBlock(qb) {
                            let cols = g.keyColumns(b)
                            let w = min(cols.upperBound, width) - cols.lowerBound
                            guard w > 0 else { continue }
                            try Gemm.multiply(m: count, n: d, k: w,
                                              a: pa.baseAddress! + firstLocal * width + cols.lowerBound, lda: stride * width,
                                              b: va.baseAddress! + x.kOffset(token: cols.lowerBound, kvHead: kvh), ldb: x.shape.kvHeads * d,
                                              c: oa.baseAddress! + (firstSample * kb + b) * d, ldc: kb * d)
                        }
                    }
                }
            }
        }
        self.geometry = g; self.head = head; headDim = d; self.mass = mass; self.partial = useV ? partial : nil
        self.outputRowStride = stride
        if useV {
            var o = [Float](repeating: 0, count: sampled * d)
            o.withUnsafeMutableBufferPointer { ob in
                partial.withUnsafeBufferPointer { pb in
                    for s in 0..<sampled {
                        let i = s * stride + stride - 1
                        let out = ob.baseAddress! + s * d
                        for b in 0...(i / g.keyTile) { let src = pb.baseAddress! + (s * kb + b) * d; for t in 0..<d { out[t] += src[t] } }
                    }
                }
            }
            dense = o
        } else { dense = nil }
    }

    /// A truth from masses computed elsewhere (the GPU's exact pass, `ExactTileMass`): `mass` is one
    /// head's [N, keyBlocks] row masses; no partial outputs, so `score` gives recall only.
    public init(masses mass: [Float], head: Int, headDim: Int, geometry g: TileGeometry) throws {
        guard mass.count == g.tokens * g.keyBlocks else {
            throw SkeletonError.shapeMismatch("\(mass.count) row masses for \(g.tokens) rows × \(g.keyBlocks) key tiles")
        }
        geometry = g; self.head = head; self.headDim = headDim; self.mass = mass
        partial = nil; dense = nil; outputRowStride = 1
    }

    /// The `q`-quantile (0 < q < 1, lower) of `mask`'s row recalls of head `maskHead` (e.g. 0.05:
    /// the 5th percentile, a worst-row figure that one row cannot set alone).
    public func rowRecallQuantile(_ mask: BlockMask, maskHead: Int, _ q: Double) -> Double {
        let g = geometry, kb = g.keyBlocks
        var recalls = [Float](repeating: 0, count: g.tokens)
        mass.withUnsafeBufferPointer { m in
            for qb in 0..<g.queryBlocks {
                let kept = mask.keyBlocks(head: maskHead, queryBlock: qb)
                for i in g.queryRows(qb) {
                    var r: Float = 0
                    for b in kept { r += m[i * kb + Int(b)] }
                    recalls[i] = r
                }
            }
        }
        recalls.sort()
        return Double(recalls[min(recalls.count - 1, max(0, Int((q * Double(recalls.count)).rounded(.down))))])
    }

    /// The head's true tile masses in TileMasses layout (mean over each query block's rows).
    public func tileMasses(into out: inout TileMasses, as outHead: Int) {
        let g = geometry, kb = g.keyBlocks
        for qb in 0..<g.queryBlocks {
            let rows = g.queryRows(qb)
            for b in 0...g.lastCausalKeyBlock(qb) {
                var s = 0.0
                for i in rows { s += Double(mass[i * kb + b]) }
                out[outHead, qb, b] = s / Double(rows.count)
            }
        }
    }

    /// How one head of a mask fares against the truth.
    public struct Score: Sendable {
        public var recallMin: Double
        public var recallMean: Double
        /// Σ_i ‖O_i − Ô_i‖² and Σ_i ‖O_i‖² (add over heads, then relative error = √(a/b)).
        public var errorSquared: Double
        public var outputSquared: Double
        public var keptTiles: Int
    }

    /// Σ_i ‖O_i − Ô'_i‖² of the row-exact zeroth-order correction, the ceiling of any mean-V correction
    /// at row granularity: Ô'_i = K_i · Ô_i + Σ_{J dropped} mass[i, J] · mean V_J with the TRUE row masses
    /// (`meanV`: `MeanCorrection.tileMeanV`, [kvHeads][keyBlocks][d]; `kvHead` this head's).
    public func rowExactCorrectionErrorSquared(_ mask: BlockMask, maskHead: Int, meanV: [Float], kvHead: Int) -> Double {
        guard let partial, let dense else { return .nan }
        let g = geometry, kb = g.keyBlocks, d = headDim
        var e2 = 0.0
        var oHat = [Double](repeating: 0, count: d)
        for qb in 0..<g.queryBlocks {
            var kept = [Bool](repeating: false, count: kb)
            for b in mask.keyBlocks(head: maskHead, queryBlock: qb) { kept[Int(b)] = true }
            for i in g.queryRows(qb) where i % outputRowStride == outputRowStride - 1 {
                let s = i / outputRowStride
                for t in 0..<d { oHat[t] = 0 }
                for b in 0...g.lastCausalKeyBlock(qb) {
                    let m = Double(mass[i * kb + b])
                    if kept[b] { let o = (s * kb + b) * d; for t in 0..<d { oHat[t] += Double(partial[o + t]) } }
                    else if m > 0 { let o = (kvHead * kb + b) * d; for t in 0..<d { oHat[t] += m * Double(meanV[o + t]) } }
                }
                for t in 0..<d { let diff = Double(dense[s * d + t]) - oHat[t]; e2 += diff * diff }
            }
        }
        return e2
    }

    /// Recall per row (min and mean) and, with `outputs`, the output error of `mask`'s head `maskHead`
    /// (after `correction`'s zeroth-order add-back of the dropped tiles, when given).
    /// The inner loops run on raw pointers (every index is < N·keyBlocks·d by construction), so the
    /// per-element loops vectorise without bounds checks; the arithmetic and its order are those of
    /// the plain loops.
    public func score(_ mask: BlockMask, maskHead: Int, outputs: Bool, correction: MeanCorrection? = nil) -> Score {
        let g = geometry, kb = g.keyBlocks, d = headDim
        var rmin = Double.infinity, rsum = 0.0, e2 = 0.0, o2 = 0.0
        let oHat = UnsafeMutablePointer<Float>.allocate(capacity: max(d, 1))
        defer { oHat.deallocate() }
        mass.withUnsafeBufferPointer { massBuffer in
            let massBase = massBuffer.baseAddress!
            for qb in 0..<g.queryBlocks {
                let kept = mask.keyBlocks(head: maskHead, queryBlock: qb)
                for i in g.queryRows(qb) {
                    let massRow = massBase + i * kb
                    var r: Float = 0
                    for b in kept { r += massRow[Int(b)] }
                    rmin = min(rmin, Double(r)); rsum += Double(r)
                    guard outputs, let partial, let dense, i % outputRowStride == outputRowStride - 1 else { continue }
                    let sample = i / outputRowStride
                    partial.withUnsafeBufferPointer { partialBuffer in
                        dense.withUnsafeBufferPointer { denseBuffer in
                            let oFull = denseBuffer.baseAddress! + sample * d
                            let partialRow = partialBuffer.baseAddress! + sample * kb * d
                            oHat.update(repeating: 0, count: d)
                            for b in kept {
                                let src = partialRow + Int(b) * d
                                for t in 0..<d { oHat[t] += src[t] }
                            }
                            let inv: Float = r > 0 ? 1 / r : 0
                            for t in 0..<d { oHat[t] *= inv }
                            if let correction { correction.correct(oHat, head: maskHead, token: i) }
                            for t in 0..<d {
                                let diff = Double(oFull[t] - oHat[t])
                                e2 += diff * diff
                                o2 += Double(oFull[t]) * Double(oFull[t])
                            }
                        }
                    }
                }
            }
        }
        return Score(recallMin: rmin, recallMean: rsum / Double(g.tokens), errorSquared: e2, outputSquared: o2,
                     keptTiles: mask.keptTiles(head: maskHead))
    }
}

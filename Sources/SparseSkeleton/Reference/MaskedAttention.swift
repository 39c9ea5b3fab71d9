import Dispatch
import Foundation

extension ReferenceAttention {
    /// Block-sparse causal attention computing exactly the tiles of `mask`, the way a
    /// FlashAttention forward kernel does (the CPU twin of the GPU kernel):
    ///
    /// per (query head h, query block I), with running row max m_i = −∞, running sum ℓ_i = 0 and
    /// accumulator a_i = 0, for each kept key block J in ascending order:
    ///
    ///     S = cap(scale · Q_I·K_Jᵀ)        (S_ij = −∞ for keys i does not see: j > i, or left of the window)
    ///     m'_i = max(m_i, max_j S_ij)
    ///     P_ij = exp(S_ij − m'_i),  c_i = exp(m_i − m'_i)
    ///     ℓ_i ← c_i·ℓ_i + Σ_j P_ij,   a_i ← c_i·a_i + P·V_J,   m_i ← m'_i
    ///
    /// then O_i = a_i / ℓ_i and LSE_i = m_i + log ℓ_i. The two tile products use `Gemm`; the
    /// (head, query block) items run on all cores (Dispatch). With the full mask this equals dense
    /// attention up to float rounding.
    ///
    /// Rows that see no key (every kept tile lies in their future, or their list is empty) get
    /// O_i = 0 and LSE_i = −∞: the softmax over an empty set is undefined, and 0 / −∞ are what a
    /// kernel that skips everything leaves behind. The result's `density` is the mask's over the
    /// tiles the spec's window reaches (`BlockMask.density(spec:)`).
    ///
    /// With `correction`, the dropped tiles are added back at zeroth order (`MeanCorrection`:
    /// O ← K̂ · O + c, LSE ← LSE − log K̂ per query block), as a kernel's epilogue would.
    ///
    /// Throws `shapeMismatch` if the mask's heads or tokens differ from the inputs', and
    /// `invalidArgument` without V.
    public static func masked(_ inputs: AttentionInputs, mask: BlockMask, spec: AttentionSpec = .causal,
                              correction: MeanCorrection? = nil) throws -> AttentionResult {
        let result = try maskedUncorrected(inputs, mask: mask, spec: spec)
        guard let correction else { return result }
        guard correction.geometry.queryTile == mask.geometry.queryTile, correction.geometry.tokens == mask.geometry.tokens,
              correction.heads == mask.heads else {
            throw SkeletonError.shapeMismatch("the mean correction was built for another mask geometry or head count")
        }
        return try correction.applied(to: result)
    }

    private static func maskedUncorrected(_ inputs: AttentionInputs, mask: BlockMask, spec: AttentionSpec) throws -> AttentionResult {
        let spec = try spec.checked(for: "the CPU masked attention")
        let v = try inputs.requireV()
        let shape = inputs.shape
        guard mask.heads == shape.queryHeads else {
            throw SkeletonError.shapeMismatch("mask has \(mask.heads) heads but the inputs have \(shape.queryHeads) query heads")
        }
        guard mask.geometry.tokens == shape.tokens else {
            throw SkeletonError.shapeMismatch("mask covers \(mask.geometry.tokens) tokens but the inputs have \(shape.tokens)")
        }
        return try Gemm.withSingleThreadedBLAS {
            try maskedBody(q: inputs.q, k: inputs.k, v: v, shape: shape, mask: mask, spec: spec)
        }
    }

    private static func maskedBody(q qArray: [Float], k kArray: [Float], v: [Float], shape: AttentionShape,
                                   mask: BlockMask, spec: AttentionSpec) throws -> AttentionResult {
        let g = mask.geometry
        let n = shape.tokens, hq = shape.queryHeads, d = shape.headDim
        var output = [Float](repeating: 0, count: n * hq * d)
        var lse = [Float](repeating: -.infinity, count: hq * n)
        let failure = FirstError()
        qArray.withUnsafeBufferPointer { qb in
            kArray.withUnsafeBufferPointer { kb in
                v.withUnsafeBufferPointer { vb in
                    output.withUnsafeMutableBufferPointer { ob in
                        lse.withUnsafeMutableBufferPointer { lb in
                            let q = qb.baseAddress!, k = kb.baseAddress!, vp = vb.baseAddress!
                            let o = SharedPointer(ob.baseAddress!), l = SharedPointer(lb.baseAddress!)
                            DispatchQueue.concurrentPerform(iterations: hq * g.queryBlocks) { item in
                                let head = item / g.queryBlocks
                                let block = g.queryBlocks - 1 - item % g.queryBlocks  // long rows first
                                do {
                                    try onlineSoftmaxBlock(q: q, k: k, v: vp, shape: shape, geometry: g, head: head,
                                                           queryBlock: block, keyBlocks: mask.keyBlocks(head: head, queryBlock: block),
                                                           spec: spec, output: o.base, lse: l.base)
                                } catch { failure.record(error) }
                            }
                        }
                    }
                }
            }
        }
        try failure.rethrow()
        return AttentionResult(output: output, logSumExp: lse, density: mask.density(spec: spec))
    }

    /// One (head, query block) of `masked`: writes O rows and LSE entries of that block only.
    private static func onlineSoftmaxBlock(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                           shape: AttentionShape, geometry g: TileGeometry, head: Int, queryBlock: Int,
                                           keyBlocks: ArraySlice<Int32>, spec: AttentionSpec,
                                           output: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>) throws {
        let d = shape.headDim, hq = shape.queryHeads, n = shape.tokens
        let rows = g.queryRows(queryBlock)
        let r = rows.count
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: r * g.keyTile)
        let acc = UnsafeMutablePointer<Float>.allocate(capacity: r * d)
        defer { scores.deallocate(); acc.deallocate() }
        acc.initialize(repeating: 0, count: r * d)
        var runningMax = [Float](repeating: -.infinity, count: r)
        var runningSum = [Float](repeating: 0, count: r)
        let kvHead = shape.kvHead(forQueryHead: head)

        for kb in keyBlocks {
            let keys = g.keyColumns(Int(kb))
            let c = keys.count
            try CausalScores.compute(q: q, k: k, shape: shape, head: head, rows: rows, keys: keys, spec: spec,
                                     into: scores, ldOut: c)
            for t in 0..<r {
                let row = scores + t * c
                let seen = spec.visibleOffsets(query: rows.lowerBound + t, keys: keys)
                guard !seen.isEmpty else {
                    // row i sees no key of this tile (all in its future or left of its window)
                    row.update(repeating: 0, count: c)
                    continue
                }
                let newMax = max(runningMax[t], VectorMath.maximum(row + seen.lowerBound, count: seen.count))
                let correction = runningMax[t] == -.infinity ? 0 : VectorMath.exp(runningMax[t] - newMax)
                let tileSum = VectorMath.expShifted(row + seen.lowerBound, count: seen.count, shift: newMax)
                row.update(repeating: 0, count: seen.lowerBound)
                (row + seen.upperBound).update(repeating: 0, count: c - seen.upperBound)
                runningSum[t] = runningSum[t] * correction + tileSum
                runningMax[t] = newMax
                if correction != 1 {
                    let a = acc + t * d
                    for e in 0..<d { a[e] *= correction }
                }
            }
            // a ← a + P · V_J
            try Gemm.multiply(m: r, n: d, k: c, a: scores, lda: c,
                              b: v + (keys.lowerBound * shape.kvHeads + kvHead) * d, ldb: shape.kvHeads * d,
                              beta: 1, c: acc, ldc: d)
        }
        for t in 0..<r {
            let i = rows.lowerBound + t
            let out = output + (i * hq + head) * d
            if runningSum[t] > 0 {
                let inv = 1 / runningSum[t]
                for e in 0..<d { out[e] = acc[t * d + e] * inv }
                lse[head * n + i] = runningMax[t] + Foundation.log(runningSum[t])
            } else {
                out.update(repeating: 0, count: d)
                lse[head * n + i] = -.infinity
            }
        }
    }
}

import Dispatch

/// Exact block masses and row-level mask recall from Q and K, one pass, O(N²·d) time.
///
/// Per (query head h, query block I) — items spread over all cores — the scores of I's rows
/// against every key they may see, S = cap(scale · Q_I·K_{0..<end(I)}ᵀ) (the spec's scale and
/// softcap), come from one `Gemm`
/// (|I| × end(I) floats of scratch per worker, at most tile · N). Then per row i:
/// m_i = max_{j seen} S_ij, z_i = Σ_{j seen} e^(S_ij − m_i), and for each causal key block J the
/// row's share p_i(J) = Σ_{j∈J seen} e^(S_ij − m_i) / z_i (row i sees j ≤ i inside the window;
/// tiles the window does not reach get mass 0). Tile masses are Σ_i p_i(J); a mask's row
/// recall is Σ_{J kept} p_i(J). Only the per-row shares of one query block are held at a time,
/// so memory stays O(N²/tile²) for the table plus O(tile·N) per worker.
public enum ExactAttentionMass {
    /// The mass table and, for each mask in `masks` (same heads and geometry), its row recall.
    public static func compute(_ inputs: AttentionInputs, geometry: TileGeometry, spec: AttentionSpec = .causal,
                               recallOf masks: [BlockMask] = []) throws -> (masses: BlockMassTable, recalls: [MaskRecall]) {
        let spec = try spec.checked(for: "the exact attention mass")
        let shape = inputs.shape
        guard geometry.tokens == shape.tokens else {
            throw SkeletonError.shapeMismatch("tile geometry covers \(geometry.tokens) tokens but the inputs have \(shape.tokens)")
        }
        let heads = shape.queryHeads
        for mask in masks {
            guard mask.heads == heads else {
                throw SkeletonError.shapeMismatch("mask has \(mask.heads) heads but the inputs have \(heads) query heads")
            }
            guard mask.geometry == geometry else {
                throw SkeletonError.shapeMismatch("mask geometry \(mask.geometry) differs from \(geometry)")
            }
        }
        return try Gemm.withSingleThreadedBLAS { try computeBody(inputs, geometry: geometry, spec: spec, masks: masks) }
    }

    private static func computeBody(_ inputs: AttentionInputs, geometry: TileGeometry, spec: AttentionSpec,
                                    masks: [BlockMask]) throws -> (masses: BlockMassTable, recalls: [MaskRecall]) {
        let shape = inputs.shape, heads = shape.queryHeads
        let qBlocks = geometry.queryBlocks
        let starts = BlockMassTable.rowStarts(geometry)
        let tilesPerHead = geometry.causalTilesPerHead
        var values = [Double](repeating: 0, count: heads * tilesPerHead)
        // per mask, per (head, query block): min and sum of row recall (≥ 1 slot so buffers have an address)
        var rowMin = [Double](repeating: 1, count: max(1, masks.count * heads * qBlocks))
        var rowSum = [Double](repeating: 0, count: max(1, masks.count * heads * qBlocks))
        let failure = FirstError()

        inputs.withQK { q, k in
            values.withUnsafeMutableBufferPointer { vb in
                rowMin.withUnsafeMutableBufferPointer { minb in
                    rowSum.withUnsafeMutableBufferPointer { sumb in
                        let out = SharedPointer(vb.baseAddress!)
                        let mins = SharedPointer(minb.baseAddress!)
                        let sums = SharedPointer(sumb.baseAddress!)
                        DispatchQueue.concurrentPerform(iterations: heads * qBlocks) { item in
                            let head = item / qBlocks, block = qBlocks - 1 - item % qBlocks  // long rows first
                            do {
                                let shares = try rowShares(q: q, k: k, shape: shape, geometry: geometry, head: head, queryBlock: block, spec: spec)
                                defer { shares.deallocate() }
                                let rows = geometry.queryRows(block).count
                                let nb = geometry.lastCausalKeyBlock(block) + 1
                                let tile = out.base + head * tilesPerHead + starts[block]
                                for j in 0..<nb {
                                    var s = 0.0
                                    for t in 0..<rows { s += Double(shares[t * nb + j]) }
                                    tile[j] = s
                                }
                                for (m, mask) in masks.enumerated() {
                                    let kept = mask.keyBlocks(head: head, queryBlock: block)
                                    var lo = Double.infinity, total = 0.0
                                    for t in 0..<rows {
                                        var r = 0.0
                                        for kb in kept { r += Double(shares[t * nb + Int(kb)]) }
                                        lo = min(lo, r); total += r
                                    }
                                    let slot = (m * heads + head) * qBlocks + block
                                    mins.base[slot] = lo; sums.base[slot] = total
                                }
                            } catch { failure.record(error) }
                        }
                    }
                }
            }
        }
        try failure.rethrow()

        let recalls = (0..<masks.count).map { m -> MaskRecall in
            var perMin = [Double](repeating: 1, count: heads), perMean = [Double](repeating: 0, count: heads)
            for h in 0..<heads {
                let base = (m * heads + h) * qBlocks
                perMin[h] = rowMin[base..<(base + qBlocks)].min() ?? 1
                perMean[h] = rowSum[base..<(base + qBlocks)].reduce(0, +) / Double(shape.tokens)
            }
            return MaskRecall(perHeadMin: perMin, perHeadMean: perMean)
        }
        return (BlockMassTable(geometry: geometry, heads: heads, values: values), recalls)
    }

    /// Row recall of each mask (computes the masses on the way; use `compute` to keep them).
    public static func recall(_ inputs: AttentionInputs, masks: [BlockMask], spec: AttentionSpec = .causal) throws -> [MaskRecall] {
        guard let g = masks.first?.geometry else { return [] }
        return try compute(inputs, geometry: g, spec: spec, recallOf: masks).recalls
    }

    /// For the rows of (head, query block): shares[t · nb + J] = p_i(J), the fraction of row i's
    /// attention in key block J (nb = causal key blocks). The caller deallocates.
    static func rowShares(q: UnsafePointer<Float>, k: UnsafePointer<Float>, shape: AttentionShape,
                          geometry g: TileGeometry, head: Int, queryBlock: Int,
                          spec: AttentionSpec) throws -> UnsafeMutablePointer<Float> {
        let rows = g.queryRows(queryBlock)
        let keys = 0..<rows.upperBound
        let nb = g.lastCausalKeyBlock(queryBlock) + 1
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows.count * keys.count)
        defer { scores.deallocate() }
        try CausalScores.compute(q: q, k: k, shape: shape, head: head, rows: rows, keys: keys, spec: spec,
                                 into: scores, ldOut: keys.count)
        let shares = UnsafeMutablePointer<Float>.allocate(capacity: rows.count * nb)
        for (t, i) in rows.enumerated() {
            let row = scores + t * keys.count
            let seen = spec.visibleOffsets(query: i, keys: keys)
            let m = VectorMath.maximum(row + seen.lowerBound, count: seen.count)
            let share = shares + t * nb
            var total: Float = 0
            for j in 0..<nb {
                let cols = g.keyColumns(j)
                let inTile = spec.visibleOffsets(query: i, keys: cols)
                let s = inTile.isEmpty ? 0 : VectorMath.expShifted(row + cols.lowerBound + inTile.lowerBound,
                                                                   count: inTile.count, shift: m)
                share[j] = s
                total += s
            }
            let inv = 1 / total
            for j in 0..<nb { share[j] *= inv }
        }
        return shares
    }
}

import SparseSkeleton

/// Synthetic block masks of a chosen density for kernel timing, built straight as CSR arrays
/// (a 1M-token mask has ~10⁸ entries; `BlockMask`'s per-row sorting would be far too slow).
///
/// Row (h, I) with L = I's causal key blocks keeps c = clamp(round(density · L), 1, L) blocks
/// spread evenly over 0...L−1: block ⌊j·(L−1)/(c−1)⌋ for j = 0..<c, so the sink block 0 and the
/// diagonal block L−1 are always kept (c = 1 keeps the diagonal only). Every head gets the same
/// pattern, or each its own density (`graded`). The speed of a tile does not depend on which tiles
/// are kept, only their count; how the counts spread over heads decides the kernel's balance.
struct StridedMask {
    let offsets: [Int32]
    let indices: [Int32]
    /// Causal (i, j) pairs the mask computes, over all heads.
    let computedPairs: Int

    init(geometry g: TileGeometry, heads: Int, density: Double) {
        self.init(geometry: g, headDensities: [Double](repeating: density, count: heads))
    }

    /// Head h keeps the strided pattern of `headDensities[h]`.
    init(geometry g: TileGeometry, headDensities: [Double]) {
        var patterns: [Double: (rows: [[Int32]], pairs: Int)] = [:]
        func pattern(_ density: Double) -> (rows: [[Int32]], pairs: Int) {
            if let p = patterns[density] { return p }
            var rowBlocks: [[Int32]] = []
            var pairs = 0
            for qb in 0..<g.queryBlocks {
                let l = g.lastCausalKeyBlock(qb) + 1
                let c = max(1, min(l, Int((density * Double(l)).rounded())))
                var row: [Int32] = []
                row.reserveCapacity(c)
                if c == 1 { row.append(Int32(l - 1)) } else {
                    for j in 0..<c { row.append(Int32(j * (l - 1) / (c - 1))) }
                }
                let rows = g.queryRows(qb)
                for kb in row {
                    let cols = g.keyColumns(Int(kb))
                    // a tile entirely at or below the diagonal holds rows × cols causal pairs
                    pairs += cols.upperBound - 1 <= rows.lowerBound ? rows.count * cols.count : g.causalPairs(queryBlock: qb, keyBlock: Int(kb))
                }
                rowBlocks.append(row)
            }
            patterns[density] = (rowBlocks, pairs)
            return (rowBlocks, pairs)
        }
        let perHead = headDensities.map(pattern)
        var offsets = [Int32](repeating: 0, count: headDensities.count * g.queryBlocks + 1)
        var indices: [Int32] = []
        indices.reserveCapacity(perHead.reduce(0) { $0 + $1.rows.reduce(0) { $0 + $1.count } })
        var r = 0
        for head in perHead {
            for row in head.rows {
                indices.append(contentsOf: row)
                r += 1
                offsets[r] = Int32(indices.count)
            }
        }
        self.offsets = offsets; self.indices = indices; computedPairs = perHead.reduce(0) { $0 + $1.pairs }
    }

    /// Heads that differ as a real layer's do: head densities spread evenly over 0.1–1.9× `meanDensity`
    /// (capped at 1), in a fixed shuffled order, so neighbouring heads and every residue class of
    /// heads mix light and heavy rows.
    static func graded(geometry g: TileGeometry, heads: Int, meanDensity: Double) -> StridedMask {
        var densities = (0..<heads).map { h in min(1, meanDensity * (0.1 + 1.8 * Double(h) / Double(max(heads - 1, 1)))) }
        var rng = Xoshiro256StarStar(seed: 2026)
        for i in stride(from: heads - 1, to: 0, by: -1) { densities.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        return StridedMask(geometry: g, headDensities: densities)
    }
}

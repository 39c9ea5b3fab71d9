import SparseSkeleton

/// Synthetic block masks of a chosen density for kernel timing, built straight as CSR arrays
/// (a 1M-token mask has ~10⁸ entries; `BlockMask`'s per-row sorting would be far too slow).
///
/// Row (h, I) with L = I's causal key blocks keeps c = clamp(round(density · L), 1, L) blocks
/// spread evenly over 0...L−1: block ⌊j·(L−1)/(c−1)⌋ for j = 0..<c, so the sink block 0 and the
/// diagonal block L−1 are always kept (c = 1 keeps the diagonal only). Every head gets the
/// same pattern. The speed of a tile does not depend on which tiles are kept, only their count.
struct StridedMask {
    let offsets: [Int32]
    let indices: [Int32]
    /// Causal (i, j) pairs the mask computes, over all heads.
    let computedPairs: Int

    init(geometry g: TileGeometry, heads: Int, density: Double) {
        var rowBlocks: [[Int32]] = []
        var pairsPerHead = 0
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
                pairsPerHead += cols.upperBound - 1 <= rows.lowerBound ? rows.count * cols.count : g.causalPairs(queryBlock: qb, keyBlock: Int(kb))
            }
            rowBlocks.append(row)
        }
        let perHead = rowBlocks.reduce(0) { $0 + $1.count }
        var offsets = [Int32](repeating: 0, count: heads * g.queryBlocks + 1)
        var indices = [Int32](repeating: 0, count: heads * perHead)
        var at = 0, r = 0
        for _ in 0..<heads {
            for row in rowBlocks {
                for b in row { indices[at] = b; at += 1 }
                r += 1
                offsets[r] = Int32(at)
            }
        }
        self.offsets = offsets; self.indices = indices; computedPairs = pairsPerHead * heads
    }
}

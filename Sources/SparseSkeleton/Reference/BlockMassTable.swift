/// The true attention mass of every causal tile, per query head:
///
///     mass(h, I, J) = Σ_{i∈I} Σ_{j∈J, j≤i} softmax_i(j)       (softmax over j ≤ i of QKᵀ/√d)
///
/// Stored compactly: for each head and query block I only the causal key blocks 0...last(I), so
/// memory is O(heads · N²/tile²), never N². A row of the table sums to |I| (every query row has
/// total mass 1); `fraction` divides by |I| and is what "recall of query block I" means.
public struct BlockMassTable: Sendable {
    public let geometry: TileGeometry
    public let heads: Int
    /// Offset of query block I's causal key blocks inside one head's slice of `values`.
    public let blockRowStart: [Int]
    /// Causal tiles of one head (= geometry.causalTilesPerHead).
    public let tilesPerHead: Int
    /// heads · tilesPerHead masses, head after head, query block after query block.
    public let values: [Double]

    init(geometry: TileGeometry, heads: Int, values: [Double]) {
        self.geometry = geometry
        self.heads = heads
        self.blockRowStart = Self.rowStarts(geometry)
        self.tilesPerHead = geometry.causalTilesPerHead
        self.values = values
    }

    static func rowStarts(_ g: TileGeometry) -> [Int] {
        var starts = [Int](repeating: 0, count: g.queryBlocks)
        var total = 0
        for qb in 0..<g.queryBlocks { starts[qb] = total; total += g.lastCausalKeyBlock(qb) + 1 }
        return starts
    }

    /// The causal key blocks' masses of (head, query block), key block 0 first.
    public func row(head: Int, queryBlock: Int) -> ArraySlice<Double> {
        let start = head * tilesPerHead + blockRowStart[queryBlock]
        return values[start..<(start + geometry.lastCausalKeyBlock(queryBlock) + 1)]
    }

    /// mass(h, I, J); 0 for key blocks in the causal future (J > last(I)) or out of range.
    public func mass(head: Int, queryBlock: Int, keyBlock: Int) -> Double {
        guard head >= 0, head < heads, queryBlock >= 0, queryBlock < geometry.queryBlocks,
              keyBlock >= 0, keyBlock <= geometry.lastCausalKeyBlock(queryBlock) else { return 0 }
        return values[head * tilesPerHead + blockRowStart[queryBlock] + keyBlock]
    }

    /// mass(h, I, J) / |I|: the share of query block I's attention that tile (I, J) holds.
    public func fraction(head: Int, queryBlock: Int, keyBlock: Int) -> Double {
        guard queryBlock >= 0, queryBlock < geometry.queryBlocks else { return 0 }
        return mass(head: head, queryBlock: queryBlock, keyBlock: keyBlock) / Double(geometry.queryRows(queryBlock).count)
    }

    /// Per head, the mean over rows of the kept attention mass (= Σ kept tile masses / N).
    /// Needs no pass over Q/K; the row minimum does (`ExactAttentionMass.compute(recallOf:)`).
    public func meanRecall(of mask: BlockMask) throws -> [Double] {
        try checkCompatible(mask)
        return (0..<heads).map { h in
            var kept = 0.0
            for qb in 0..<geometry.queryBlocks {
                let row = self.row(head: h, queryBlock: qb)
                for kb in mask.keyBlocks(head: h, queryBlock: qb) { kept += row[row.startIndex + Int(kb)] }
            }
            return kept / Double(geometry.tokens)
        }
    }

    func checkCompatible(_ mask: BlockMask) throws {
        guard mask.heads == heads else {
            throw SkeletonError.shapeMismatch("mask has \(mask.heads) heads, the block masses \(heads)")
        }
        guard mask.geometry == geometry else {
            throw SkeletonError.shapeMismatch("mask geometry \(mask.geometry) differs from the block masses' \(geometry)")
        }
    }
}

/// Row-level recall of one mask: for each query row i of head h the attention mass the mask keeps,
/// r_i = Σ_{kept tiles (I∋i, J)} Σ_{j∈J, j≤i} softmax_i(j); summarised per head and overall.
public struct MaskRecall: Sendable, Equatable {
    /// min over rows, per head.
    public let perHeadMin: [Double]
    /// mean over rows, per head.
    public let perHeadMean: [Double]

    public init(perHeadMin: [Double], perHeadMean: [Double]) {
        self.perHeadMin = perHeadMin; self.perHeadMean = perHeadMean
    }

    /// min over every row of every head.
    public var min: Double { perHeadMin.min() ?? 1 }
    /// mean over every row of every head (heads have equal row counts).
    public var mean: Double { perHeadMean.isEmpty ? 1 : perHeadMean.reduce(0, +) / Double(perHeadMean.count) }
}

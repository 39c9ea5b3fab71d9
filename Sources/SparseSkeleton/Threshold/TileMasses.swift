/// Per-tile attention mass of one layer: for every head, query block I and causal key block J,
///
///     m[h, I, J] = (1 / |I|) · Σ_{i ∈ I} Σ_{j ∈ J, j ≤ i} A_h[i, j]
///
/// i.e. the mean, over the block's rows, of the probability mass a row puts on the tile. For a
/// true softmax every query block's masses sum to 1, so m[h, I, J] is exactly the contribution of
/// tile (I, J) to the block's mean attention-mass recall. Estimators fill it with estimates (not
/// necessarily normalised; `normalisedPerQueryBlock()` rescales), the oracle with the truth, and
/// every threshold policy in this folder reads it — so each policy works for ANY estimator.
///
/// Storage is the causal triangle only: head after head, query block after query block, key blocks
/// 0...lastCausalKeyBlock(I). That is O(heads · N² / B²) doubles — 8 256 per head at N = 8192, B = 64.
public struct TileMasses: Sendable {
    public let geometry: TileGeometry
    public let heads: Int
    /// Offset of (query block I, key block 0) inside one head's slab; `rowStart[queryBlocks]` = tiles per head.
    public let rowStart: [Int]
    public var values: [Double]

    public init(geometry: TileGeometry, heads: Int, fill: Double = 0) throws {
        guard heads > 0 else { throw SkeletonError.invalidArgument("tile masses need at least one head") }
        var starts = [Int](); starts.reserveCapacity(geometry.queryBlocks + 1)
        var n = 0
        for qb in 0..<geometry.queryBlocks { starts.append(n); n += geometry.lastCausalKeyBlock(qb) + 1 }
        starts.append(n)
        self.geometry = geometry; self.heads = heads; rowStart = starts
        values = [Double](repeating: fill, count: heads * n)
    }

    @inline(__always) public var tilesPerHead: Int { rowStart[geometry.queryBlocks] }
    /// Number of causal key blocks of query block I.
    @inline(__always) public func rowLength(_ queryBlock: Int) -> Int { rowStart[queryBlock + 1] - rowStart[queryBlock] }
    @inline(__always) public func index(head: Int, queryBlock: Int, keyBlock: Int) -> Int {
        head * tilesPerHead + rowStart[queryBlock] + keyBlock
    }
    /// Range of `values` holding (head, query block)'s causal key blocks in order.
    @inline(__always) public func rowRange(head: Int, queryBlock: Int) -> Range<Int> {
        let base = head * tilesPerHead
        return (base + rowStart[queryBlock])..<(base + rowStart[queryBlock + 1])
    }
    public subscript(head: Int, queryBlock: Int, keyBlock: Int) -> Double {
        get { values[index(head: head, queryBlock: queryBlock, keyBlock: keyBlock)] }
        set { values[index(head: head, queryBlock: queryBlock, keyBlock: keyBlock)] = newValue }
    }

    /// Rescales every (head, query block) row to sum to 1 over the tiles the spec's window
    /// reaches; unreachable tiles become 0. Rows summing to 0 (or non-finite) become uniform over
    /// the reachable tiles, which is the maximum-entropy reading of "no information". This is the
    /// one place every tile-mass estimator drops what the window cannot see.
    public func normalisedPerQueryBlock(spec: AttentionSpec = .causal) -> TileMasses {
        var out = self
        for h in 0..<heads {
            for qb in 0..<geometry.queryBlocks {
                let full = rowRange(head: h, queryBlock: qb)
                let r = (full.lowerBound + geometry.firstReachableKeyBlock(qb, spec: spec))..<full.upperBound
                for i in full.lowerBound..<r.lowerBound { out.values[i] = 0 }
                var s = 0.0
                for i in r { s += max(0, values[i]) }
                if s > 0, s.isFinite {
                    for i in r { out.values[i] = max(0, values[i]) / s }
                } else {
                    for i in r { out.values[i] = 1.0 / Double(r.count) }
                }
            }
        }
        return out
    }

    /// Mean over a head's query blocks, weighted by rows, of the mass a mask keeps — what the
    /// masses predict for the head's mean per-row recall.
    public func keptMass(of mask: BlockMask, head: Int) -> Double {
        var total = 0.0
        for qb in 0..<geometry.queryBlocks {
            var kept = 0.0
            for kb in mask.keyBlocks(head: head, queryBlock: qb) { kept += self[head, qb, Int(kb)] }
            total += kept * Double(geometry.queryRows(qb).count)
        }
        return total / Double(geometry.tokens)
    }
}

extension TileMasses {
    /// Builds the mask from one kept row per (head, query block) — `row` returns the kept key
    /// blocks and their estimated mass in a per-block normalised table — and the estimated recall
    /// per head: the kept mass averaged over the head's rows (a query block weighs its row count).
    func maskFromRows(_ row: (_ head: Int, _ queryBlock: Int) -> ([Int32], Double)) throws -> MaskEstimate {
        let g = geometry
        var rows: [[Int32]] = []
        rows.reserveCapacity(heads * g.queryBlocks)
        var recall = [Double](repeating: 0, count: heads)
        for h in 0..<heads {
            var weighted = 0.0
            for qb in 0..<g.queryBlocks {
                let (kept, mass) = row(h, qb)
                rows.append(kept)
                weighted += mass * Double(g.queryRows(qb).count)
            }
            recall[h] = weighted / Double(g.tokens)
        }
        return MaskEstimate(mask: try BlockMask(geometry: g, heads: heads, rows: rows), estimatedRecall: recall)
    }
}

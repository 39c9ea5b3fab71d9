/// Which tiles a spec's window leaves reachable. A tile (I, J) is reachable when at least one of
/// its (i, j) pairs is seen. The keys query block I's rows see, together, are the contiguous range
/// [firstKey(first row of I), last row of I], so the reachable key blocks of I form one range too.
extension TileGeometry {
    /// The key blocks of query block I holding at least one seen (i, j) pair (causal specs only).
    @inline(__always) public func reachableKeyBlocks(_ queryBlock: Int, spec: AttentionSpec) -> ClosedRange<Int> {
        let first = spec.firstKey(query: queryRows(queryBlock).lowerBound) / keyTile
        return first...lastCausalKeyBlock(queryBlock)
    }

    /// The first reachable key block of query block I (0 without a window).
    @inline(__always) public func firstReachableKeyBlock(_ queryBlock: Int, spec: AttentionSpec) -> Int {
        spec.firstKey(query: queryRows(queryBlock).lowerBound) / keyTile
    }

    /// Reachable tiles of one head (= `causalTilesPerHead` without a window).
    public func reachableTilesPerHead(spec: AttentionSpec) -> Int {
        (0..<queryBlocks).reduce(0) { $0 + reachableKeyBlocks($1, spec: spec).count }
    }

    /// Seen (i, j) pairs inside tile (I, J) (= `causalPairs` without a window).
    public func seenPairs(queryBlock: Int, keyBlock: Int, spec: AttentionSpec) -> Int {
        let cols = keyColumns(keyBlock)
        var n = 0
        for i in queryRows(queryBlock) { n += spec.visibleOffsets(query: i, keys: cols).count }
        return n
    }

    /// Seen (i, j) pairs of one head over the whole sequence.
    public func seenPairsPerHead(spec: AttentionSpec) -> Int {
        var n = 0
        for i in 0..<tokens { n += spec.visibleOffsets(query: i, keys: 0..<tokens).count }
        return n
    }
}

extension BlockMask {
    /// Reachable tiles of every head under `spec` (= `causalTiles` without a window).
    public func reachableTiles(spec: AttentionSpec) -> Int { heads * geometry.reachableTilesPerHead(spec: spec) }

    /// Kept tiles that are reachable under `spec`.
    public func keptReachableTiles(head: Int, spec: AttentionSpec) -> Int {
        guard spec.window != nil else { return keptTiles(head: head) }
        var n = 0
        for qb in 0..<geometry.queryBlocks {
            let r = geometry.reachableKeyBlocks(qb, spec: spec)
            n += keyBlocks(head: head, queryBlock: qb).filter { r.contains(Int($0)) }.count
        }
        return n
    }

    /// Kept reachable tiles over reachable tiles, all heads (= `density` without a window).
    public func density(spec: AttentionSpec) -> Double {
        guard spec.window != nil else { return density }
        let kept = (0..<heads).reduce(0) { $0 + keptReachableTiles(head: $1, spec: spec) }
        return Double(kept) / Double(reachableTiles(spec: spec))
    }

    /// Kept reachable tiles over reachable tiles of one head.
    public func density(head: Int, spec: AttentionSpec) -> Double {
        guard spec.window != nil else { return density(head: head) }
        return Double(keptReachableTiles(head: head, spec: spec)) / Double(geometry.reachableTilesPerHead(spec: spec))
    }

    /// Seen (i, j) pairs the mask computes (= `computedPairs` without a window).
    public func computedPairs(spec: AttentionSpec) -> Int {
        guard spec.window != nil else { return computedPairs }
        var n = 0
        for h in 0..<heads {
            for qb in 0..<geometry.queryBlocks {
                for kb in keyBlocks(head: h, queryBlock: qb) { n += geometry.seenPairs(queryBlock: qb, keyBlock: Int(kb), spec: spec) }
            }
        }
        return n
    }

    /// Every reachable tile of every head: dense (windowed) attention as a mask.
    public static func full(geometry: TileGeometry, heads: Int, spec: AttentionSpec) throws -> BlockMask {
        var rows: [[Int32]] = []
        for _ in 0..<heads {
            for qb in 0..<geometry.queryBlocks { rows.append(geometry.reachableKeyBlocks(qb, spec: spec).map(Int32.init)) }
        }
        return try BlockMask(geometry: geometry, heads: heads, rows: rows)
    }
}

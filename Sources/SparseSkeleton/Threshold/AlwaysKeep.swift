/// Tiles every mask keeps whatever the estimate says, because missing them is catastrophic and
/// they are cheap:
/// - the **sink** key blocks 0..<sinkBlocks (the first tokens soak up a large share of every row's
///   mass in trained LLMs — "attention sinks");
/// - the **local band**: the diagonal tile and `localBlocks − 1` tiles left of it (every row's own
///   position and its neighbours; the diagonal tile also guarantees every row keeps ≥ 1 key, so the
///   masked softmax is always defined);
/// - the **row-exact band** of `bandTokens` = w tokens: every key tile holding one of the last w keys
///   of some row of the block, so EVERY row i keeps its keys (i − w, i]. A query block's first rows
///   have their local window in the key tile before the diagonal; without the band a mask may drop
///   it and those rows lose their strongest keys. w = keyTile keeps, for 64×64 tiles, the diagonal
///   tile and the one before it; for 128-row query blocks the three last key tiles.
public struct AlwaysKeep: Hashable, Sendable {
    public var sinkBlocks: Int
    public var localBlocks: Int
    public var bandTokens: Int
    public init(sinkBlocks: Int = 1, localBlocks: Int = 1, bandTokens: Int = 0) {
        self.sinkBlocks = max(0, sinkBlocks); self.localBlocks = max(1, localBlocks); self.bandTokens = max(0, bandTokens)
    }
    /// Sink block 0 and the diagonal tile (the baselines' and the oracle-free default).
    public static let standard = AlwaysKeep()
    /// The skeleton's default: `standard` plus the row-exact band of 64 tokens.
    public static let banded = AlwaysKeep(bandTokens: 64)

    /// The first key block of query block I's local band (its last `localBlocks` tiles, widened to
    /// the row-exact band): `last − first + 1` tiles end the row.
    @inline(__always) public func firstLocalBlock(queryBlock: Int, geometry g: TileGeometry) -> Int {
        let last = g.lastCausalKeyBlock(queryBlock)
        var first = max(0, last - localBlocks + 1)
        if bandTokens > 0 { first = min(first, max(0, g.queryRows(queryBlock).lowerBound - bandTokens + 1) / g.keyTile) }
        return first
    }

    /// The always-kept key blocks of query block I, ascending, unique, causal; blocks the spec's
    /// window does not reach are left out (a sink far behind the window is never seen).
    public func keyBlocks(queryBlock: Int, geometry: TileGeometry, spec: AttentionSpec = .causal) -> [Int] {
        let last = geometry.lastCausalKeyBlock(queryBlock)
        let first = geometry.firstReachableKeyBlock(queryBlock, spec: spec)
        var out: [Int] = []
        for b in first..<max(first, min(sinkBlocks, last + 1)) { out.append(b) }
        for b in max(first, firstLocalBlock(queryBlock: queryBlock, geometry: geometry))...last where b >= sinkBlocks { out.append(b) }
        return out
    }
}

/// Tiles every mask keeps whatever the estimate says, because missing them is catastrophic and
/// they are cheap:
/// - the **sink** key blocks 0..<sinkBlocks (the first tokens soak up a large share of every row's
///   mass in trained LLMs — "attention sinks");
/// - the **local band**: the diagonal tile and `localBlocks − 1` tiles left of it (every row's own
///   position and its neighbours; the diagonal tile also guarantees every row keeps ≥ 1 key, so the
///   masked softmax is always defined).
public struct AlwaysKeep: Hashable, Sendable {
    public var sinkBlocks: Int
    public var localBlocks: Int
    public init(sinkBlocks: Int = 1, localBlocks: Int = 1) {
        self.sinkBlocks = max(0, sinkBlocks); self.localBlocks = max(1, localBlocks)
    }
    public static let standard = AlwaysKeep()

    /// The always-kept key blocks of query block I, ascending, unique, causal; blocks the spec's
    /// window does not reach are left out (a sink far behind the window is never seen).
    public func keyBlocks(queryBlock: Int, geometry: TileGeometry, spec: AttentionSpec = .causal) -> [Int] {
        let last = geometry.lastCausalKeyBlock(queryBlock)
        let first = geometry.firstReachableKeyBlock(queryBlock, spec: spec)
        var out: [Int] = []
        for b in first..<max(first, min(sinkBlocks, last + 1)) { out.append(b) }
        for b in max(first, last - localBlocks + 1)...last where b >= sinkBlocks { out.append(b) }
        return out
    }
}

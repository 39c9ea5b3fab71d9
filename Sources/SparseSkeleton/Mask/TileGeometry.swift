/// How a causal N×N attention matrix is cut into tiles: `queryTile` rows by `keyTile` keys.
/// Query block I covers rows [I·queryTile, min((I+1)·queryTile, N)); key block J likewise.
public struct TileGeometry: Hashable, Sendable, CustomStringConvertible {
    public let tokens: Int
    public let queryTile: Int
    public let keyTile: Int

    public init(tokens: Int, queryTile: Int = 64, keyTile: Int = 64) throws {
        guard tokens > 0 else { throw SkeletonError.emptySequence("the tile geometry") }
        for t in [queryTile, keyTile] where !SkeletonError.supportedTileSizes.contains(t) {
            throw SkeletonError.unsupportedTileSize(t)
        }
        self.tokens = tokens; self.queryTile = queryTile; self.keyTile = keyTile
    }

    public var queryBlocks: Int { (tokens + queryTile - 1) / queryTile }
    public var keyBlocks: Int { (tokens + keyTile - 1) / keyTile }
    public var description: String { "N=\(tokens) tiles \(queryTile)x\(keyTile)" }

    @inline(__always) public func queryRows(_ block: Int) -> Range<Int> {
        (block * queryTile)..<min((block + 1) * queryTile, tokens)
    }
    @inline(__always) public func keyColumns(_ block: Int) -> Range<Int> {
        (block * keyTile)..<min((block + 1) * keyTile, tokens)
    }
    /// The last key block any row of query block I may attend to (causality).
    @inline(__always) public func lastCausalKeyBlock(_ queryBlock: Int) -> Int {
        (queryRows(queryBlock).upperBound - 1) / keyTile
    }
    /// Causal tiles of one head: tiles holding at least one (i, j) with j ≤ i.
    public var causalTilesPerHead: Int {
        (0..<queryBlocks).reduce(0) { $0 + lastCausalKeyBlock($1) + 1 }
    }
    /// Causal (i, j) pairs inside tile (I, J): the useful work a kernel does there.
    public func causalPairs(queryBlock: Int, keyBlock: Int) -> Int {
        let cols = keyColumns(keyBlock)
        var n = 0
        for i in queryRows(queryBlock) where i >= cols.lowerBound { n += min(i, cols.upperBound - 1) - cols.lowerBound + 1 }
        return n
    }
}

extension TileGeometry {
    /// Refuses inputs of another length than the geometry's N.
    public func requireTokens(of shape: AttentionShape) throws {
        guard tokens == shape.tokens else {
            throw SkeletonError.shapeMismatch("tile geometry has N = \(tokens) but the inputs have N = \(shape.tokens)")
        }
    }
}

/// A block-sparse causal attention mask in CSR form: for every (query head, query block)
/// the ascending list of key blocks the kernel computes. Row r = head · queryBlocks + I.
/// Int32 indices so the arrays upload to the GPU unchanged.
public struct BlockMask: Equatable, Sendable {
    public let geometry: TileGeometry
    public let heads: Int
    /// heads · queryBlocks + 1 offsets into `keyBlockIndices`.
    public let rowOffsets: [Int32]
    /// Sorted, unique, causal key-block indices, row after row.
    public let keyBlockIndices: [Int32]

    /// Builds a mask from one key-block list per (head, query block); sorts and de-duplicates
    /// each list and rejects blocks outside the causal range.
    public init(geometry: TileGeometry, heads: Int, rows: [[Int32]]) throws {
        guard heads > 0 else { throw SkeletonError.invalidArgument("a mask needs at least one head") }
        guard rows.count == heads * geometry.queryBlocks else {
            throw SkeletonError.shapeMismatch("mask has \(rows.count) rows, \(heads) heads × \(geometry.queryBlocks) query blocks need \(heads * geometry.queryBlocks)")
        }
        var offsets: [Int32] = [0]
        offsets.reserveCapacity(rows.count + 1)
        var indices: [Int32] = []
        for (r, row) in rows.enumerated() {
            let qb = r % geometry.queryBlocks
            let last = geometry.lastCausalKeyBlock(qb)
            var sorted: [Int32] = []
            for b in row.sorted() where sorted.last != b { sorted.append(b) }
            if let bad = sorted.first(where: { $0 < 0 || Int($0) > last }) {
                throw SkeletonError.invalidArgument("key block \(bad) is outside 0...\(last) for query block \(qb) (causal)")
            }
            indices.append(contentsOf: sorted)
            offsets.append(Int32(indices.count))
        }
        self.geometry = geometry; self.heads = heads; rowOffsets = offsets; keyBlockIndices = indices
    }

    /// Every causal tile of every head: dense causal attention as a mask.
    public static func full(geometry: TileGeometry, heads: Int) throws -> BlockMask {
        var rows: [[Int32]] = []
        for _ in 0..<heads {
            for qb in 0..<geometry.queryBlocks { rows.append((0...geometry.lastCausalKeyBlock(qb)).map(Int32.init)) }
        }
        return try BlockMask(geometry: geometry, heads: heads, rows: rows)
    }

    @inline(__always) public func row(head: Int, queryBlock: Int) -> Int { head * geometry.queryBlocks + queryBlock }

    public func keyBlocks(head: Int, queryBlock: Int) -> ArraySlice<Int32> {
        let r = row(head: head, queryBlock: queryBlock)
        return keyBlockIndices[Int(rowOffsets[r])..<Int(rowOffsets[r + 1])]
    }

    public func contains(head: Int, queryBlock: Int, keyBlock: Int) -> Bool {
        let list = keyBlocks(head: head, queryBlock: queryBlock)
        // binary search: lists are sorted
        var lo = list.startIndex, hi = list.endIndex
        while lo < hi {
            let mid = (lo + hi) / 2
            if Int(list[mid]) < keyBlock { lo = mid + 1 } else { hi = mid }
        }
        return lo < list.endIndex && Int(list[lo]) == keyBlock
    }

    public var keptTiles: Int { keyBlockIndices.count }
    public var causalTiles: Int { heads * geometry.causalTilesPerHead }
    /// Kept causal tiles over all causal tiles (1 = dense).
    public var density: Double { Double(keptTiles) / Double(causalTiles) }

    public func keptTiles(head: Int) -> Int {
        Int(rowOffsets[(head + 1) * geometry.queryBlocks] - rowOffsets[head * geometry.queryBlocks])
    }
    public func density(head: Int) -> Double { Double(keptTiles(head: head)) / Double(geometry.causalTilesPerHead) }

    /// Causal (i, j) pairs the mask computes: the useful FLOPs are 4 · d · this (QKᵀ and PV).
    public var computedPairs: Int {
        var n = 0
        for h in 0..<heads {
            for qb in 0..<geometry.queryBlocks {
                for kb in keyBlocks(head: h, queryBlock: qb) { n += geometry.causalPairs(queryBlock: qb, keyBlock: Int(kb)) }
            }
        }
        return n
    }

    /// Per KV group, the union of its query heads' tiles, so a K/V tile loads once per group.
    public func unionPerGroup(groupSize: Int) throws -> BlockMask {
        guard groupSize > 0, heads % groupSize == 0 else { throw SkeletonError.headsNotDivisible(queryHeads: heads, kvHeads: groupSize) }
        var rows: [[Int32]] = []
        rows.reserveCapacity(heads * geometry.queryBlocks)
        for h in 0..<heads {
            let g0 = (h / groupSize) * groupSize
            for qb in 0..<geometry.queryBlocks {
                var set = Set<Int32>()
                for m in g0..<(g0 + groupSize) { set.formUnion(keyBlocks(head: m, queryBlock: qb)) }
                rows.append(Array(set))
            }
        }
        return try BlockMask(geometry: geometry, heads: heads, rows: rows)
    }

    /// The same mask on key tiles `factor` times wider: a wide tile is kept when any of its narrow tiles is
    /// (a superset, so recall only grows), for kernels whose key tile is wider than the estimator's.
    public func widenedKeyTiles(by factor: Int) throws -> BlockMask {
        guard factor >= 1 else { throw SkeletonError.invalidArgument("key-tile widening factor \(factor) must be ≥ 1") }
        let wide = try TileGeometry(tokens: geometry.tokens, queryTile: geometry.queryTile, keyTile: geometry.keyTile * factor)
        var rows: [[Int32]] = []
        rows.reserveCapacity(heads * geometry.queryBlocks)
        for h in 0..<heads {
            for qb in 0..<geometry.queryBlocks {
                var last: Int32 = -1
                var row: [Int32] = []
                for kb in keyBlocks(head: h, queryBlock: qb) where kb / Int32(factor) != last {
                    last = kb / Int32(factor)
                    row.append(last)
                }
                rows.append(row)
            }
        }
        return try BlockMask(geometry: wide, heads: heads, rows: rows)
    }
}

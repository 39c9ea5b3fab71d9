import SparseSkeleton

/// A block mask resident on the GPU in the core's CSR format (row r = head · queryBlocks + I;
/// Int32 offsets, then ascending Int32 key-block indices), as the attention kernel reads it.
///
/// Two origins: uploaded from a host `BlockMask` (or raw host CSR arrays), or built on the GPU
/// by an estimator (`init(device:geometry:heads:rowOffsets:keyBlocks:)`), in which case nothing
/// about it is known on the host until `stats()` or `download()` reads it back — the attention
/// kernel itself never needs the host to look.
public final class DeviceBlockMask: @unchecked Sendable {
    public struct Stats: Sendable {
        public let keptTiles: Int
        /// Causal (i, j) pairs the mask computes (useful FLOPs = 4 · d · pairs).
        public let computedPairs: Int
        public let density: Double
    }

    public let geometry: TileGeometry
    public let heads: Int
    public let rowOffsets: DeviceBuffer
    public let keyBlocks: DeviceBuffer
    private var cachedStats: Stats?

    public convenience init(device: GPUDevice, mask: BlockMask) throws {
        try self.init(device: device, geometry: mask.geometry, heads: mask.heads, rowOffsets: mask.rowOffsets,
                      keyBlocks: mask.keyBlockIndices, computedPairs: mask.computedPairs, validate: false)
    }

    /// Uploads raw CSR arrays (built without `BlockMask`, e.g. for 1M-token benchmark masks).
    /// With `validate`, checks sizes, monotone offsets and causal, ascending indices.
    public init(device: GPUDevice, geometry: TileGeometry, heads: Int, rowOffsets: [Int32], keyBlocks: [Int32],
                computedPairs: Int, validate: Bool = true) throws {
        let rows = heads * geometry.queryBlocks
        guard rowOffsets.count == rows + 1, rowOffsets.first == 0, Int(rowOffsets[rows]) == keyBlocks.count else {
            throw SkeletonError.shapeMismatch("CSR mask: \(rowOffsets.count) offsets for \(rows) rows, last offset vs \(keyBlocks.count) indices")
        }
        if validate { try Self.validate(geometry: geometry, heads: heads, rowOffsets: rowOffsets, keyBlocks: keyBlocks) }
        self.geometry = geometry; self.heads = heads
        self.rowOffsets = try DeviceBuffer(device: device, byteCount: rowOffsets.count * 4)
        try self.rowOffsets.upload(rowOffsets)
        self.keyBlocks = try DeviceBuffer(device: device, byteCount: max(keyBlocks.count, 1) * 4)
        try self.keyBlocks.upload(keyBlocks)
        cachedStats = Stats(keptTiles: keyBlocks.count, computedPairs: computedPairs,
                            density: Double(keyBlocks.count) / Double(heads * geometry.causalTilesPerHead))
    }

    /// Wraps CSR buffers an estimator filled on the GPU (no copy, no host look). `rowOffsets` must
    /// hold heads · queryBlocks + 1 Int32, `keyBlocks` room for every causal tile it may name.
    public init(geometry: TileGeometry, heads: Int, rowOffsets: DeviceBuffer, keyBlocks: DeviceBuffer) throws {
        guard rowOffsets.byteCount >= (heads * geometry.queryBlocks + 1) * 4 else {
            throw SkeletonError.shapeMismatch("CSR offsets buffer of \(rowOffsets.byteCount) B is too small for \(heads) heads × \(geometry.queryBlocks) query blocks")
        }
        self.geometry = geometry; self.heads = heads; self.rowOffsets = rowOffsets; self.keyBlocks = keyBlocks
    }

    /// Reads the CSR back into a host `BlockMask` (validated: ascending, unique, causal).
    public func download() throws -> BlockMask {
        let rows = heads * geometry.queryBlocks
        let offsets = try rowOffsets.download(Int32.self, count: rows + 1)
        guard offsets[0] == 0, Int(offsets[rows]) * 4 <= keyBlocks.byteCount else {
            throw SkeletonError.invalidArgument("device CSR mask is corrupt: offsets start at \(offsets[0]), end at \(offsets[rows]) for a \(keyBlocks.byteCount) B index buffer")
        }
        let indices = try keyBlocks.download(Int32.self, count: Int(offsets[rows]))
        try Self.validate(geometry: geometry, heads: heads, rowOffsets: offsets, keyBlocks: indices)
        var list: [[Int32]] = []
        list.reserveCapacity(rows)
        for r in 0..<rows { list.append(Array(indices[Int(offsets[r])..<Int(offsets[r + 1])])) }
        return try BlockMask(geometry: geometry, heads: heads, rows: list)
    }

    /// Kept tiles, computed pairs and density (read back once for a GPU-built mask).
    public func stats() throws -> Stats {
        if let s = cachedStats { return s }
        let m = try download()
        let s = Stats(keptTiles: m.keyBlockIndices.count, computedPairs: m.computedPairs, density: m.density)
        cachedStats = s
        return s
    }

    static func validate(geometry: TileGeometry, heads: Int, rowOffsets: [Int32], keyBlocks: [Int32]) throws {
        let rows = heads * geometry.queryBlocks
        for r in 0..<rows {
            let last = Int32(geometry.lastCausalKeyBlock(r % geometry.queryBlocks))
            var prev: Int32 = -1
            guard rowOffsets[r] <= rowOffsets[r + 1] else { throw SkeletonError.invalidArgument("CSR offsets decrease at row \(r)") }
            for i in Int(rowOffsets[r])..<Int(rowOffsets[r + 1]) {
                let b = keyBlocks[i]
                guard b > prev, b <= last else {
                    throw SkeletonError.invalidArgument("row \(r): key block \(b) not ascending or past the causal limit \(last)")
                }
                prev = b
            }
        }
    }
}

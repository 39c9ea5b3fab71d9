import SparseSkeleton

/// A block mask resident on the GPU: the CSR arrays of `BlockMask` uploaded unchanged
/// (row r = head · queryBlocks + I; Int32 offsets and key-block indices).
public final class DeviceBlockMask: @unchecked Sendable {
    public let geometry: TileGeometry
    public let heads: Int
    public let rowOffsets: DeviceBuffer
    public let keyBlocks: DeviceBuffer
    public let keptTiles: Int
    /// Causal (i, j) pairs the mask computes (useful FLOPs = 4 · d · pairs).
    public let computedPairs: Int

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
        if validate {
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
        self.geometry = geometry; self.heads = heads; keptTiles = keyBlocks.count; self.computedPairs = computedPairs
        self.rowOffsets = try DeviceBuffer(device: device, byteCount: rowOffsets.count * 4)
        try self.rowOffsets.upload(rowOffsets)
        self.keyBlocks = try DeviceBuffer(device: device, byteCount: max(keyBlocks.count, 1) * 4)
        try self.keyBlocks.upload(keyBlocks)
    }

    public var density: Double { Double(keptTiles) / Double(heads * geometry.causalTilesPerHead) }
}

import SparseSkeleton

/// The compile-time shape of one block-sparse FlashAttention kernel (sparse_flash_attention.cu),
/// kept apart from the algorithm so a head dim / tile size gets its own tuning.
///
/// - `blockM` × `blockN` must equal the mask's query × key tile (the CSR indexes those tiles).
/// - each warp owns `warpTiles` 16-row MMA tiles, so warps = blockM / (16 · warpTiles).
/// - shared memory: Q tile + one K tile + one V tile, all [rows, d] 16-bit:
///   (blockM + 2 · blockN) · d · 2 bytes (64 KiB at 128×64, d = 128).
public struct FlashKernelTraits: Hashable, Sendable, CustomStringConvertible {
    public let headDim: Int
    public let blockM: Int
    public let blockN: Int
    public let warpTiles: Int
    public let minBlocksPerSM: Int
    public let dtype: DType

    public init(headDim: Int, blockM: Int, blockN: Int, warpTiles: Int = 1, minBlocksPerSM: Int = 1, dtype: DType) throws {
        guard SkeletonError.supportedHeadDims.contains(headDim) else { throw SkeletonError.unsupportedHeadDim(headDim) }
        guard dtype != .f32 else { throw CUDAError.unsupported("the attention kernel takes f16 or bf16 tensors, not f32") }
        for t in [blockM, blockN] where !SkeletonError.supportedTileSizes.contains(t) { throw SkeletonError.unsupportedTileSize(t) }
        guard [1, 2].contains(warpTiles), blockM % (16 * warpTiles) == 0 else {
            throw CUDAError.unsupported("warpTiles \(warpTiles) with blockM \(blockM)")
        }
        self.headDim = headDim; self.blockM = blockM; self.blockN = blockN
        self.warpTiles = warpTiles; self.minBlocksPerSM = minBlocksPerSM; self.dtype = dtype
    }

    /// The default kernel for a mask geometry, as measured on the H100 (bench/NOTES.md, v2): with
    /// 128-row query tiles and d ≤ 128, 4 warps × 32 rows (two 16-row MMA tiles per warp: each K/V
    /// fragment read from shared memory feeds two MMAs) ran 16% faster than 8 warps × 16 rows;
    /// d = 256 keeps one tile per warp (its O accumulator alone is 128 registers per thread).
    public static func `default`(headDim: Int, geometry: TileGeometry, dtype: DType) throws -> FlashKernelTraits {
        let twoTiles = geometry.queryTile == 128 && headDim <= 128
        return try FlashKernelTraits(headDim: headDim, blockM: geometry.queryTile, blockN: geometry.keyTile,
                                     warpTiles: twoTiles ? 2 : 1, dtype: dtype)
    }

    public var warps: Int { blockM / (16 * warpTiles) }
    public var threads: Int { warps * 32 }
    public var sharedBytes: Int { (blockM + 2 * blockN) * headDim * 2 }

    public var defines: [String: String] {
        ["SK_HEAD_DIM": "\(headDim)", "SK_BLOCK_M": "\(blockM)", "SK_BLOCK_N": "\(blockN)", "SK_WARP_MT": "\(warpTiles)",
         "SK_MIN_BLOCKS": "\(minBlocksPerSM)", "SK_BF16": dtype == .bf16 ? "1" : "0"]
    }

    public var description: String {
        "\(dtype.rawValue) d\(headDim) \(blockM)x\(blockN) \(warps)w mt\(warpTiles)" + (minBlocksPerSM > 1 ? " minB\(minBlocksPerSM)" : "")
    }

    /// Every variant the CLI runs and CI compiles: both dtypes × every head dim × the 64×64 and
    /// 128×64 tiles (and the two-tiles-per-warp default for d ≤ 128), plus, for bf16 d = 128, the
    /// 128×128 tile and the register-capped layouts (2 or 3 resident blocks per SM).
    public static var ciVariants: [FlashKernelTraits] {
        var out: [FlashKernelTraits] = []
        for dt in [DType.bf16, .f16] {
            for d in [64, 128, 256] {
                for (m, n) in [(64, 64), (128, 64)] {
                    if let t = try? FlashKernelTraits(headDim: d, blockM: m, blockN: n, dtype: dt) { out.append(t) }
                }
                if d <= 128, let t = try? FlashKernelTraits(headDim: d, blockM: 128, blockN: 64, warpTiles: 2, dtype: dt) { out.append(t) }
            }
        }
        if let t = try? FlashKernelTraits(headDim: 128, blockM: 128, blockN: 128, dtype: .bf16) { out.append(t) }
        if let t = try? FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, minBlocksPerSM: 2, dtype: .bf16) { out.append(t) }
        if let t = try? FlashKernelTraits(headDim: 128, blockM: 64, blockN: 64, minBlocksPerSM: 3, dtype: .bf16) { out.append(t) }
        return out
    }
}

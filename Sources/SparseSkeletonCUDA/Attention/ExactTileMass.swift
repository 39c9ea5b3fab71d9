import SparseSkeleton
import SparseSkeletonKernelParams

/// The exact attention mass of every (query row, 64-key tile) on the GPU (Kernels/exact_tile_mass.cu),
/// from the Q and K of a dense pass and that pass's row LSE (`SparseFlashAttention.forward`):
///
///     mass[h, i, J] = Σ_{j ∈ J, j ≤ i} exp(scale · q_i · k_j − lse[h, i])
///
/// [queryHeads, N, ceil(N/64)] fp32, 0 for tiles past row i. Any mask's row recall is a sum over
/// its kept tiles of this, so it is the truth of mask quality without anything of size N²
/// (`AttentionTruth(masses:)` on the host). Causal attention without a window or softcap only.
public final class ExactTileMass: @unchecked Sendable {
    public let library: KernelLibrary
    public static let keyTile = 64
    public static let sourceFile = "exact_tile_mass.cu"

    public init(library: KernelLibrary) { self.library = library }

    /// Key tiles per row for N tokens.
    public static func keyTiles(tokens n: Int) -> Int { (n + keyTile - 1) / keyTile }

    /// Bytes of the mass array for `shape`.
    public static func byteCount(_ shape: AttentionShape) -> Int { shape.queryHeads * shape.tokens * keyTiles(tokens: shape.tokens) * 4 }

    /// Queues the masses on `stream` into `mass` (asynchronous). q, k: `dtype` (f16/bf16) as the
    /// attention read them; lse: [queryHeads, N] natural log, as the attention wrote it.
    public func compute(shape: AttentionShape, dtype: DType, q: DeviceBuffer, k: DeviceBuffer, lse: DeviceBuffer,
                        spec: AttentionSpec, mass: DeviceBuffer, stream: GPUStream) throws {
        try SparseFlashAttention.requireSupported(spec)
        guard spec.window == nil else { throw CUDAError.unsupported("the exact tile masses take attention without a window (spec: \(spec))") }
        guard dtype != .f32 else { throw CUDAError.unsupported("the exact tile masses take f16 or bf16 Q/K, not f32") }
        guard shape.headDim % 32 == 0 else { throw CUDAError.unsupported("the exact tile masses need a head dim that is a multiple of 32, got \(shape.headDim)") }
        let n = shape.tokens, e = dtype.byteSize, tiles = Self.keyTiles(tokens: n)
        for (name, buf, need) in [("Q", q, n * shape.queryHeads * shape.headDim * e), ("K", k, n * shape.kvHeads * shape.headDim * e),
                                  ("LSE", lse, n * shape.queryHeads * 4), ("mass", mass, Self.byteCount(shape))] where buf.byteCount < need {
            throw SkeletonError.shapeMismatch("\(name) buffer holds \(buf.byteCount) B, \(shape) needs \(need) B")
        }
        guard tiles <= 65535 else { throw CUDAError.unsupported("N = \(n): more query blocks than a grid dimension holds") }
        let kern = try library.kernel("exact_tile_mass", file: Self.sourceFile, defines: ["SK_BF16": dtype == .bf16 ? "1" : "0"], threads: 256)
        try kern.launch(grid: (tiles, tiles, shape.queryHeads), stream: stream, params: SKTileMassParams(
            q: q.pointer, k: k.pointer, lse: lse.pointer, mass: mass.pointer, tokens: Int32(n), queryHeads: Int32(shape.queryHeads),
            kvHeads: Int32(shape.kvHeads), headDim: Int32(shape.headDim), keyTiles: Int32(tiles),
            scaleLog2: SparseFlashAttention.scaleLog2(spec: spec, headDim: shape.headDim)))
    }
}

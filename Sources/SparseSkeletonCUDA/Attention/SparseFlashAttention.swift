import SparseSkeleton

/// The block-sparse FlashAttention forward on the GPU (Kernels/sparse_flash_attention.cu):
/// O = softmax(QKᵀ/√d, causal, restricted to the mask's tiles) · V and the row LSE.
/// Dense attention is the same kernel with no CSR (every causal tile).
///
/// Kernels are compiled on first use per `FlashKernelTraits` (NVRTC, disk-cached) and kept.
public final class SparseFlashAttention: @unchecked Sendable {
    public let device: GPUDevice
    public let compiler: KernelCompiler
    private var kernels: [FlashKernelTraits: GPUKernel] = [:]

    public init(device: GPUDevice, compiler: KernelCompiler) {
        self.device = device; self.compiler = compiler
    }

    public static let sourceFile = "sparse_flash_attention.cu"
    public static let entry = "sparse_flash_fwd"

    /// The kernel's source text as embedded in the binary.
    public static func embeddedSource() throws -> String {
        guard let src = KernelSources.files[sourceFile] else { throw CUDAError.unsupported("kernel source \(sourceFile) is not embedded") }
        return src
    }

    /// Compiles (or fetches) and loads the kernel for `traits`.
    public func kernel(_ traits: FlashKernelTraits) throws -> GPUKernel {
        if let k = kernels[traits] { return k }
        let compiled = try compiler.compile(name: "sparse_flash_fwd[\(traits)]", entry: Self.entry, source: Self.embeddedSource(),
                                            arch: device.arch, defines: traits.defines)
        let k = try GPUKernel(device: device, compiled: compiled, threads: traits.threads, sharedBytes: traits.sharedBytes)
        kernels[traits] = k
        return k
    }

    /// Launches one forward pass on `stream` (asynchronous).
    /// - q, o: [N, queryHeads, d] 16-bit; k, v: [N, kvHeads, d]; lse: [queryHeads, N] Float.
    /// - mask: nil = dense causal; else its geometry must match `traits` tiles and N, its heads
    ///   the query heads.
    public func forward(shape: AttentionShape, traits: FlashKernelTraits, q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer,
                        o: DeviceBuffer, lse: DeviceBuffer, mask: DeviceBlockMask?, stream: GPUStream) throws {
        guard traits.headDim == shape.headDim else {
            throw SkeletonError.shapeMismatch("kernel built for d = \(traits.headDim), inputs have d = \(shape.headDim)")
        }
        let n = shape.tokens, e = traits.dtype.byteSize
        for (name, buf, need) in [("Q", q, n * shape.queryHeads * shape.headDim * e), ("K", k, n * shape.kvHeads * shape.headDim * e),
                                  ("V", v, n * shape.kvHeads * shape.headDim * e), ("O", o, n * shape.queryHeads * shape.headDim * e),
                                  ("LSE", lse, n * shape.queryHeads * 4)] where buf.byteCount < need {
            throw SkeletonError.shapeMismatch("\(name) buffer holds \(buf.byteCount) B, \(shape) needs \(need) B")
        }
        if let mask {
            guard mask.geometry.tokens == n, mask.heads == shape.queryHeads else {
                throw SkeletonError.shapeMismatch("mask is \(mask.heads) heads × \(mask.geometry.tokens) tokens, inputs \(shape)")
            }
            guard mask.geometry.queryTile == traits.blockM, mask.geometry.keyTile == traits.blockN else {
                throw SkeletonError.shapeMismatch("mask tiles \(mask.geometry.queryTile)x\(mask.geometry.keyTile) differ from the kernel's \(traits.blockM)x\(traits.blockN)")
            }
        }
        guard n <= Int(Int32.max) / max(shape.queryHeads, 1) else { throw CUDAError.unsupported("N = \(n) too large for 32-bit LSE indexing") }
        let kern = try kernel(traits)
        let queryBlocks = (n + traits.blockM - 1) / traits.blockM
        let scaleLog2 = Float(1.4426950408889634 / Double(shape.headDim).squareRoot())
        try kern.launch(grid: (queryBlocks, shape.queryHeads, 1), stream: stream, args: [
            .buffer(q), .buffer(k), .buffer(v), .buffer(o), .buffer(lse),
            .buffer(mask?.rowOffsets), .buffer(mask?.keyBlocks),
            .int32(Int32(n)), .int32(Int32(shape.queryHeads)), .int32(Int32(shape.kvHeads)), .float(scaleLog2),
        ])
    }
}

import SparseSkeleton
import SparseSkeletonKernelParams

/// Device-side random fill of 16-bit tensors (Kernels/fill_random.cu): benchmark inputs of any
/// size without host generation. Values have mean 0 and standard deviation `scale`.
public final class GPUFill: @unchecked Sendable {
    public let library: KernelLibrary

    public init(library: KernelLibrary) { self.library = library }

    public func random(_ buffer: DeviceBuffer, count: Int, dtype: DType, seed: UInt32, scale: Float, stream: GPUStream) throws {
        guard dtype != .f32 else { throw CUDAError.unsupported("random fill is for f16/bf16 buffers") }
        guard count * 2 <= buffer.byteCount else { throw CUDAError.unsupported("fill of \(count) elements into \(buffer.byteCount) B") }
        let k = try library.kernel("fill_random", file: "fill_random.cu", defines: ["SK_BF16": dtype == .bf16 ? "1" : "0"], threads: 256)
        let blocks = min((count + 255) / 256, library.device.multiprocessors * 32)
        try k.launch(grid: (max(blocks, 1), 1, 1), stream: stream,
                     params: SKFillRandomParams(out: buffer.pointer, count: Int64(count), seed: seed, scale: scale))
    }
}

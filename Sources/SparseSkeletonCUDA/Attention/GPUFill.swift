import SparseSkeleton

/// Device-side random fill of 16-bit tensors (Kernels/fill_random.cu): benchmark inputs of any
/// size without host generation. Values have mean 0 and standard deviation `scale`.
public final class GPUFill: @unchecked Sendable {
    let device: GPUDevice
    private var kernels: [DType: GPUKernel] = [:]
    private let compiler: KernelCompiler

    public init(device: GPUDevice, compiler: KernelCompiler) { self.device = device; self.compiler = compiler }

    public func random(_ buffer: DeviceBuffer, count: Int, dtype: DType, seed: UInt32, scale: Float, stream: GPUStream) throws {
        guard dtype != .f32 else { throw CUDAError.unsupported("random fill is for f16/bf16 buffers") }
        guard count * 2 <= buffer.byteCount else { throw CUDAError.unsupported("fill of \(count) elements into \(buffer.byteCount) B") }
        let k: GPUKernel
        if let cached = kernels[dtype] { k = cached } else {
            guard let src = KernelSources.files["fill_random.cu"] else { throw CUDAError.unsupported("fill_random.cu not embedded") }
            let c = try compiler.compile(name: "fill_random[\(dtype.rawValue)]", entry: "fill_random", source: src, arch: device.arch,
                                         defines: ["SK_BF16": dtype == .bf16 ? "1" : "0"])
            k = try GPUKernel(device: device, compiled: c, threads: 256, sharedBytes: 0)
            kernels[dtype] = k
        }
        let blocks = min((count + 255) / 256, device.multiprocessors * 32)
        try k.launch(grid: (max(blocks, 1), 1, 1), stream: stream,
                     args: [.buffer(buffer), .pointer(UInt64(count)), .int32(Int32(bitPattern: seed)), .float(scale)])
    }
}

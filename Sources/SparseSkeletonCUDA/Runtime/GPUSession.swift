import SparseSkeleton

/// What a GPU caller holds: one device, the compiler, the device's kernel library, one stream of
/// its own, the attention op and the random filler; plus host <-> device helpers for 16-bit tensors. The CLI's checks and
/// benches, the tests and the C ABI each open one.
public final class GPUSession: @unchecked Sendable {
    public let device: GPUDevice
    public let compiler: KernelCompiler
    public let library: KernelLibrary
    public let stream: GPUStream
    public let attention: SparseFlashAttention
    public let fill: GPUFill

    /// Opens device `ordinal` (its primary context), loads NVRTC and creates a stream.
    /// Throws when there is no driver, no GPU or no NVRTC.
    public init(ordinal: Int = 0) throws {
        device = try GPUDevice(ordinal: ordinal)
        compiler = try KernelCompiler()
        library = KernelLibrary(device: device, compiler: compiler)
        stream = try GPUStream(device: device)
        attention = SparseFlashAttention(library: library)
        fill = GPUFill(library: library)
    }

    /// A session on device 0, or nil after printing "no GPU: skipped <test> (<reason>)": how a test
    /// that needs a GPU opens one, so a machine without a GPU path (driver, device, NVRTC) skips it with that line.
    public static func forTest(_ test: String) -> GPUSession? {
        do { return try GPUSession() } catch {
            print("no GPU: skipped \(test) (\(error))")
            return nil
        }
    }

    /// Device name, arch, SMs, driver and NVRTC versions: the line every GPU command prints first.
    public var banner: String {
        "\(device.name) \(device.arch), \(device.multiprocessors) SMs, driver \(device.driverVersionString), NVRTC \(compiler.nvrtcVersion.major).\(compiler.nvrtcVersion.minor)"
    }

    /// Uploads a 16-bit host tensor (its raw bits).
    public func upload(_ t: HeadTensor) throws -> DeviceBuffer {
        guard case .bits16(let bits) = t.storage else { throw CUDAError.unsupported("\(t.name) must be f16/bf16 for the GPU") }
        let b = try DeviceBuffer(device: device, byteCount: bits.count * 2)
        try b.upload(bits)
        return b
    }

    /// Downloads `count` 16-bit values and widens them to Float.
    public func downloadFloats(_ b: DeviceBuffer, count: Int, dtype: DType) throws -> [Float] {
        let bits = try b.download(UInt16.self, count: count)
        return dtype == .bf16 ? bits.map(HalfBits.bf16ToFloat) : bits.map(HalfBits.f16ToFloat)
    }
}

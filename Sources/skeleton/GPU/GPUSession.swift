import SparseSkeleton
import SparseSkeletonCUDA

/// Everything a GPU command holds: the device, the compiler, one stream, the attention op and
/// the random filler; plus host <-> device helpers for 16-bit tensors.
final class GPUSession {
    let device: GPUDevice
    let compiler: KernelCompiler
    let library: KernelLibrary
    let stream: GPUStream
    let attention: SparseFlashAttention
    let fill: GPUFill

    init() throws {
        device = try GPUDevice()
        compiler = try KernelCompiler()
        stream = try GPUStream(device: device)
        library = KernelLibrary(device: device, compiler: compiler)
        attention = SparseFlashAttention(library: library)
        fill = GPUFill(library: library)
    }

    var banner: String {
        "\(device.name) \(device.arch), \(device.multiprocessors) SMs, driver \(device.driverVersionString), NVRTC \(compiler.nvrtcVersion.major).\(compiler.nvrtcVersion.minor)"
    }

    /// Uploads a 16-bit host tensor (its raw bits).
    func upload(_ t: HeadTensor) throws -> DeviceBuffer {
        guard case .bits16(let bits) = t.storage else { throw CUDAError.unsupported("\(t.name) must be f16/bf16 for the GPU") }
        let b = try DeviceBuffer(device: device, byteCount: bits.count * 2)
        try b.upload(bits)
        return b
    }

    /// Downloads `count` 16-bit values and widens them to Float.
    func downloadFloats(_ b: DeviceBuffer, count: Int, dtype: DType) throws -> [Float] {
        let bits = try b.download(UInt16.self, count: count)
        return dtype == .bf16 ? bits.map(HalfBits.bf16ToFloat) : bits.map(HalfBits.f16ToFloat)
    }
}

extension SplitMix64 {
    /// Approximately standard normal (sum of 4 uniforms, rescaled): check inputs, reproducible from
    /// the seed each check prints.
    mutating func roughNormal() -> Float {
        var s: Float = 0
        for _ in 0..<4 { s += Float.random(in: 0..<1, using: &self) }
        return (s - 2) * 1.7320508
    }
}

extension HeadTensor {
    /// Random check inputs: roughly normal values × `scale`, rounded to `dtype` (scale 1.2 gives
    /// logits with a standard deviation near 2 at any d: rows peaked as in real heads).
    static func roughNormal(name: String, tokens: Int, heads: Int, headDim: Int, dtype: DType, scale: Float,
                            rng: inout SplitMix64) throws -> HeadTensor {
        try HeadTensor(name: name, tokens: tokens, heads: heads, headDim: headDim,
                       values: (0..<(tokens * heads * headDim)).map { _ in rng.roughNormal() * scale }, dtype: dtype)
    }
}

extension Double {
    func f(_ digits: Int) -> String { fixed(self, digits) }
    /// Scientific notation with 2 significant decimals ("3.14e-03").
    var sci: String {
        guard self.isFinite, self != 0 else { return self == 0 ? "0" : "\(self)" }
        var e = 0, m = abs(self)
        while m >= 10 { m /= 10; e += 1 }
        while m < 1 { m *= 10; e -= 1 }
        let es = e < 0 ? "-" + (abs(e) < 10 ? "0" : "") + "\(abs(e))" : "+" + (e < 10 ? "0" : "") + "\(e)"
        return (self < 0 ? "-" : "") + fixed(m, 2) + "e" + es
    }
}

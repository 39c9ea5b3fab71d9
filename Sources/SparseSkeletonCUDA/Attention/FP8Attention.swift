import SparseSkeleton
import SparseSkeletonKernelParams

/// Attention inputs quantised to FP8 (e4m3) with one scale per head, in the layouts the hopper kernel's
/// FP8 build reads: Q [N][queryHeads][d] and K [N][kvHeads][d] row-major, V transposed to
/// [kvHeads][d][paddedTokens] with its keys permuted inside each group of 32 (fp8_quantize.cu says why),
/// zeros past N. `scales` holds the dequantisation scales (value ≈ code · scale): [queryHeads] of Q, then
/// [kvHeads] of K, then [kvHeads] of V. Allocated once per shape and refilled by `FP8Quantizer`.
public final class FP8AttentionInputs: @unchecked Sendable {
    public let shape: AttentionShape
    /// N rounded up to the FP8 kernel's 128-key tile (V's transposed rows are this long).
    public let paddedTokens: Int
    public let q: DeviceBuffer
    public let k: DeviceBuffer
    public let vTransposed: DeviceBuffer
    public let scales: DeviceBuffer
    /// The per-head |max| of Q, K, V as float bits, the quantiser's scratch.
    let amax: DeviceBuffer

    public var scaleCount: Int { shape.queryHeads + 2 * shape.kvHeads }

    public init(device: GPUDevice, shape: AttentionShape) throws {
        guard shape.headDim % 8 == 0, shape.headDim <= 256 else {
            throw CUDAError.unsupported("FP8 inputs: d = \(shape.headDim) (the quantiser takes d ≤ 256, a multiple of 8)")
        }
        self.shape = shape
        paddedTokens = (shape.tokens + 127) / 128 * 128
        let (n, d) = (shape.tokens, shape.headDim)
        q = try DeviceBuffer(device: device, byteCount: n * shape.queryHeads * d)
        k = try DeviceBuffer(device: device, byteCount: n * shape.kvHeads * d)
        vTransposed = try DeviceBuffer(device: device, byteCount: shape.kvHeads * d * paddedTokens)
        scales = try DeviceBuffer(device: device, byteCount: (shape.queryHeads + 2 * shape.kvHeads) * 4)
        amax = try DeviceBuffer(device: device, byteCount: (shape.queryHeads + 2 * shape.kvHeads) * 4)
    }
}

/// Quantises 16-bit Q, K, V to `FP8AttentionInputs` on the GPU (Kernels/fp8_quantize.cu): the per-head
/// |max| in one pass, then e4m3 = x · 448 / |max| rounded to nearest even. Asynchronous on `stream`.
public final class FP8Quantizer: @unchecked Sendable {
    public let library: KernelLibrary
    public static let sourceFile = "fp8_quantize.cu"

    public init(library: KernelLibrary) { self.library = library }

    public func quantize(q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer, dtype: DType, into x: FP8AttentionInputs, stream: GPUStream) throws {
        guard dtype != .f32 else { throw CUDAError.unsupported("FP8 quantisation takes bf16 or fp16 tensors, not f32") }
        let sh = x.shape, n = sh.tokens, d = sh.headDim
        for (name, buf, heads) in [("Q", q, sh.queryHeads), ("K", k, sh.kvHeads), ("V", v, sh.kvHeads)] where buf.byteCount < n * heads * d * 2 {
            throw SkeletonError.shapeMismatch("\(name) buffer holds \(buf.byteCount) B, \(sh) needs \(n * heads * d * 2) B")
        }
        for (name, buf) in [("Q", q), ("K", k), ("V", v)] where buf.pointer % 16 != 0 {
            throw CUDAError.unsupported("FP8 quantisation reads 16-byte vectors: \(name) at 0x\(String(buf.pointer, radix: 16)) is not 16-byte aligned")
        }
        let defines = ["SK_BF16": dtype == .bf16 ? "1" : "0"]
        func kernel(_ entry: String) throws -> GPUKernel { try library.kernel(entry, file: Self.sourceFile, defines: defines, threads: 256) }
        let clear = try kernel("fp8_clear"), amax = try kernel("fp8_amax"), rows = try kernel("fp8_rows"), transpose = try kernel("fp8_transpose")
        func params(_ src: DeviceBuffer, _ dst: DeviceBuffer, heads: Int, offset: Int) -> SKFP8QuantizeParams {
            SKFP8QuantizeParams(src: src.pointer, dst: dst.pointer, amax: x.amax.pointer + UInt64(offset * 4), scales: x.scales.pointer + UInt64(offset * 4),
                                tokens: Int32(n), heads: Int32(heads), headDim: Int32(d), paddedTokens: Int32(x.paddedTokens))
        }
        var all = params(q, x.q, heads: x.scaleCount, offset: 0)
        all.heads = Int32(x.scaleCount)
        try clear.launch(grid: (1, 1, 1), stream: stream, params: all)
        let sms = library.device.multiprocessors
        let jobs = [(q, x.q, sh.queryHeads, 0), (k, x.k, sh.kvHeads, sh.queryHeads), (v, x.vTransposed, sh.kvHeads, sh.queryHeads + sh.kvHeads)]
        for (src, dst, heads, offset) in jobs {
            // about eight blocks per SM in all (enough 16-byte loads in flight), whatever the head count
            let perHead = max(1, min((n * d / 8 + 255) / 256, 8 * sms / heads))
            try amax.launch(grid: (perHead, heads, 1), stream: stream, params: params(src, dst, heads: heads, offset: offset))
        }
        for (src, dst, heads, offset) in jobs.prefix(2) {
            let chunks = n * heads * d / 8
            try rows.launch(grid: (max(1, min((chunks + 255) / 256, 8 * sms)), 1, 1), stream: stream, params: params(src, dst, heads: heads, offset: offset))
        }
        let (src, dst, heads, offset) = jobs[2]
        try transpose.launch(grid: (x.paddedTokens / 64, heads, 1), stream: stream, params: params(src, dst, heads: heads, offset: offset))
    }
}

extension SparseFlashAttention {
    /// The FP8 forward: `forward` on quantised inputs with `traits.fp8` (the hopper kernel, d 128, 128×128 tiles);
    /// O in `traits.dtype` and LSE as there. Needs sm_90a with TMA (no fallback kernel).
    public func forwardFP8(traits: FlashKernelTraits, inputs: FP8AttentionInputs, o: DeviceBuffer, lse: DeviceBuffer,
                           mask: DeviceBlockMask?, spec: AttentionSpec = .causal, stream: GPUStream) throws {
        guard traits.fp8 else { throw CUDAError.unsupported("\(traits) is not an FP8 kernel (FlashKernelTraits.hopper(…, fp8: true))") }
        guard device.hasTensorMaps else { throw CUDAError.unsupported("FP8 attention needs sm_90a with TMA tensor maps; this GPU is \(device.arch)") }
        try launch(shape: inputs.shape, traits: traits, inputs: .fp8(inputs), o: o, lse: lse, mask: mask, spec: spec, stream: stream)
    }
}

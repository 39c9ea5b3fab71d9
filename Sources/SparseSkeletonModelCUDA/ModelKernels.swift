import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonKernelParams

/// The model's element-wise kernels (Kernels/model_kernels.cu), loaded through the device's
/// kernel library and launched with their parameter structs (sk_model_params.h).
public final class ModelKernels: @unchecked Sendable {
    let embed: GPUKernel, rmsNorm: GPUKernel, ropeSplit: GPUKernel, glu: GPUKernel
    let qkNormRopeSplit: GPUKernel, rmsNormResidual: GPUKernel, targetLogProb: GPUKernel
    static let threads = 256
    public static let sourceFile = "model_kernels.cu"
    public static let entries = ["model_embed", "model_rmsnorm_bf16", "model_rope_split", "model_glu", "model_qknorm_rope_split",
                                       "model_rmsnorm_residual", "model_target_logprob"]
    /// This target's embedded kernel sources (file name → text).
    public static var sources: [String: String] { KernelSources.files }

    /// Compiles the model source for `arch` (no GPU needed); used by the CI test.
    public static func compile(compiler: KernelCompiler, arch: String) throws -> CompiledKernel {
        guard let text = sources[sourceFile] else { throw CUDAError.unsupported("kernel source \(sourceFile) is not embedded") }
        return try KernelLibrary.compile(compiler: compiler, file: sourceFile, source: text, arch: arch, defines: [:])
    }

    public init(library: KernelLibrary) throws {
        try library.register(sources: Self.sources)
        func load(_ entry: String) throws -> GPUKernel { try library.kernel(entry, file: Self.sourceFile, threads: Self.threads) }
        embed = try load("model_embed"); rmsNorm = try load("model_rmsnorm_bf16")
        ropeSplit = try load("model_rope_split"); glu = try load("model_glu")
        qkNormRopeSplit = try load("model_qknorm_rope_split"); rmsNormResidual = try load("model_rmsnorm_residual")
        targetLogProb = try load("model_target_logprob")
    }

    static func blocks(_ count: Int) -> Int { (count + threads - 1) / threads }

    func embed(ids: DeviceBuffer, table: DeviceBuffer, x: DeviceBuffer, tokens: Int, width: Int, vocab: Int, stream: GPUStream) throws {
        try embed.launch(grid: (tokens, 1, 1), stream: stream, params: SKModelEmbedParams(
            ids: ids.pointer, table: table.pointer, x: x.pointer, tokens: Int32(tokens), width: Int32(width), vocab: Int32(vocab)))
    }

    /// y[0..<rows] = RMSNorm(x[firstRow ..< firstRow + rows]) · gain, as bf16.
    func rmsNorm(x: DeviceBuffer, gain: DeviceBuffer, y: DeviceBuffer, rows: Int, width: Int, epsilon: Float,
                 firstRow: Int = 0, stream: GPUStream) throws {
        try rmsNorm.launch(grid: (rows, 1, 1), stream: stream, params: SKModelRMSNormParams(
            x: x.pointer, gain: gain.pointer, y: y.pointer, rows: Int32(rows), width: Int32(width), epsilon: epsilon, firstRow: Int32(firstRow)))
    }

    func ropeSplit(qkv: DeviceBuffer, cos: DeviceBuffer, sin: DeviceBuffer, q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer,
                   tokens: Int, heads: Int, kvHeads: Int, headDim: Int, stream: GPUStream) throws {
        let count = tokens * (heads + 2 * kvHeads) * headDim / 2
        try ropeSplit.launch(grid: (Self.blocks(count), 1, 1), stream: stream, params: Self.split(
            qkv: qkv, cos: cos, sin: sin, q: q, k: k, v: v, tokens: tokens, heads: heads, kvHeads: kvHeads, headDim: headDim))
    }

    static func split(qkv: DeviceBuffer, cos: DeviceBuffer, sin: DeviceBuffer, q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer,
                      tokens: Int, heads: Int, kvHeads: Int, headDim: Int) -> SKModelRopeSplitParams {
        SKModelRopeSplitParams(qkv: qkv.pointer, cosTable: cos.pointer, sinTable: sin.pointer, q: q.pointer, k: k.pointer, v: v.pointer,
                               tokens: Int32(tokens), heads: Int32(heads), kvHeads: Int32(kvHeads), headDim: Int32(headDim))
    }

    /// As `ropeSplit`, each Q and K head RMSNorm'ed (· qGain, kGain) before its rotation (QK-norm).
    func qkNormRopeSplit(qkv: DeviceBuffer, cos: DeviceBuffer, sin: DeviceBuffer, qGain: DeviceBuffer, kGain: DeviceBuffer,
                         q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer, tokens: Int, heads: Int, kvHeads: Int, headDim: Int,
                         epsilon: Float, stream: GPUStream) throws {
        try qkNormRopeSplit.launch(grid: (tokens * (heads + 2 * kvHeads), 1, 1), stream: stream, params: SKModelQKNormRopeSplitParams(
            split: Self.split(qkv: qkv, cos: cos, sin: sin, q: q, k: k, v: v, tokens: tokens, heads: heads, kvHeads: kvHeads, headDim: headDim),
            qGain: qGain.pointer, kGain: kGain.pointer, epsilon: epsilon))
    }

    /// x[0..<rows] += RMSNorm(y[0..<rows]) · gain (fp32): a post-norm into the residual stream.
    func rmsNormResidual(y: DeviceBuffer, gain: DeviceBuffer, x: DeviceBuffer, rows: Int, width: Int, epsilon: Float,
                         stream: GPUStream) throws {
        try rmsNormResidual.launch(grid: (rows, 1, 1), stream: stream, params: SKModelRMSNormResidualParams(
            y: y.pointer, gain: gain.pointer, x: x.pointer, rows: Int32(rows), width: Int32(width), epsilon: epsilon))
    }

    /// The feed-forward's gated activation: SwiGLU (Llama) or GeGLU with the tanh GELU (Gemma-3).
    enum GatedActivation: Int32 {
        case silu = 0      // SK_GLU_SILU
        case geluTanh = 1  // SK_GLU_GELU_TANH
    }

    func glu(_ activation: GatedActivation, gateUp: DeviceBuffer, out: DeviceBuffer, tokens: Int, feedForward: Int, stream: GPUStream) throws {
        try glu.launch(grid: (Self.blocks(tokens * feedForward), 1, 1), stream: stream, params: SKModelGLUParams(
            gateUp: gateUp.pointer, out: out.pointer, tokens: Int32(tokens), feedForward: Int32(feedForward), activation: activation.rawValue))
    }

    /// out[first + r] = log softmax(logits[r, :])[targets[first + r]], r < rows (out fp64, targets
    /// int32, logits fp32 [rows, vocab]).
    func targetLogProb(logits: DeviceBuffer, targets: DeviceBuffer, out: DeviceBuffer, first: Int = 0, rows: Int, vocab: Int,
                       stream: GPUStream) throws {
        guard (first + rows) * 4 <= targets.byteCount, (first + rows) * 8 <= out.byteCount, rows * vocab * 4 <= logits.byteCount else {
            throw CUDAError.unsupported("target log-prob of rows \(first)..<\(first + rows) × \(vocab) overruns its buffers")
        }
        try targetLogProb.launch(grid: (rows, 1, 1), stream: stream, params: SKModelTargetLogProbParams(
            logits: logits.pointer, targets: targets.pointer + UInt64(first * 4), out: out.pointer + UInt64(first * 8),
            rows: Int32(rows), vocab: Int32(vocab)))
    }
}

import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel

/// How each layer's attention is computed on the GPU.
public enum GPUAttentionMode {
    /// Every causal tile (the sparse kernel with no mask).
    case dense
    /// A block mask per layer from a core `MaskEstimator`. For now the estimator runs on the CPU:
    /// the layer's post-RoPE Q and K (bf16) are copied back to the host, estimated there, and the
    /// CSR mask is uploaded — a host round trip per layer that a GPU estimator will remove.
    case estimated(MaskEstimator, MaskTarget)

    public var name: String {
        switch self {
        case .dense: return "dense"
        case .estimated(let e, let t): return "\(e.name)@\(t)"
        }
    }
}

/// What one GPU prefill measured. GPU times come from CUDA events on the prefill's stream;
/// `estimationMs` is host wall-clock (Q/K download, CPU estimation, mask upload) during which the
/// GPU waits, so it is inside `totalMs` too.
public struct GPUPrefillTimings: Sendable {
    /// Time to first token: embedding gather to the last position's logits (CUDA events).
    public let totalMs: Double
    /// Sum over layers of the attention kernel alone (CUDA events around each launch).
    public let attentionMs: Double
    /// Host time spent producing masks (0 for dense).
    public let estimationMs: Double
    /// Everything else: norms, projections (cuBLAS), RoPE, MLP, residuals, logits.
    public var otherMs: Double { max(0, totalMs - attentionMs - estimationMs) }
    /// Mask density of each layer (1 for dense).
    public let layerDensities: [Double]
    public var meanDensity: Double { layerDensities.isEmpty ? 1 : layerDensities.reduce(0, +) / Double(layerDensities.count) }
}

public struct GPUPrefillResult: Sendable {
    public let tokens: Int
    /// Logits of the last position, [V].
    public let lastLogits: [Float]
    public let timings: GPUPrefillTimings
}

/// A Llama-family prefill on one GPU, batch 1, the CPU model's maths (LlamaModel) in bf16/fp32:
///
///     x = E[tokens]                                          fp32 residual stream [N, E]
///     per layer:  h = bf16(RMSNorm(x)·g₁);  [q|k|v] = h·W_qkvᵀ (cuBLAS, fp32 out)
///                 q, k ← RoPE (half-split, angles from Double on the host);  q, k, v → bf16
///                 o = Attention(q, k, v)  (block-sparse FlashAttention; dense = no mask)
///                 x += o·W_oᵀ;  h = bf16(RMSNorm(x)·g₂);  [g|u] = h·W_guᵀ
///                 x += bf16(silu(g) ⊙ u)·W_dᵀ
///     logits = bf16(RMSNorm(x[N−1])·g)·W_vocabᵀ
///
/// Matrix products: bf16 operands, fp32 accumulation and output (residual adds fused into the
/// product as β = 1). The final activations stay on the device for `logits(rows:)`.
public final class GPULlamaPrefill: @unchecked Sendable {
    public let device: GPUDevice
    public let config: LlamaConfig
    public let weights: GPULlamaWeights
    public let queryTile: Int, keyTile: Int
    let stream: GPUStream
    let blas: CUBLASLibrary
    let kernels: ModelKernels
    let attention: SparseFlashAttention
    private var work: Workspace?

    /// Device buffers for one prompt length.
    struct Workspace {
        let tokens: Int
        let ids, x, h, qkv, q, k, v, o, lse, gateUp, act, hLast, logits, cos, sin: DeviceBuffer
    }

    public var cublasPath: String { blas.path }

    public init(device: GPUDevice, compiler: KernelCompiler, weights: LlamaWeights, queryTile: Int = 128, keyTile: Int = 64) throws {
        self.device = device
        config = weights.config
        guard config.headDim % 2 == 0 else { throw CUDAError.unsupported("RoPE needs an even head dim, model has \(config.headDim)") }
        for t in [queryTile, keyTile] where !SkeletonError.supportedTileSizes.contains(t) { throw SkeletonError.unsupportedTileSize(t) }
        self.queryTile = queryTile; self.keyTile = keyTile
        stream = try GPUStream(device: device)
        blas = try CUBLASLibrary(stream: stream.rawHandle)
        kernels = try ModelKernels(device: device, compiler: compiler)
        attention = SparseFlashAttention(device: device, compiler: compiler)
        self.weights = try GPULlamaWeights(device: device, weights: weights)
    }

    func workspace(tokens n: Int) throws -> Workspace {
        if let w = work, w.tokens == n { return w }
        work = nil
        let c = config, qkvWidth = (c.heads + 2 * c.kvHeads) * c.headDim
        func buf(_ bytes: Int) throws -> DeviceBuffer { try DeviceBuffer(device: device, byteCount: bytes) }
        // RoPE angles θ = pos / linearFactor · base^(−2i/d), as LlamaOps.RoPETable computes them (Double).
        let half = c.headDim / 2
        var cosT = [Float](repeating: 0, count: n * half), sinT = cosT
        for t in 0..<n {
            for i in 0..<half {
                let angle = Double(t) / c.ropeLinearFactor * Foundation.pow(c.ropeBase, -2 * Double(i) / Double(c.headDim))
                cosT[t * half + i] = Float(Foundation.cos(angle)); sinT[t * half + i] = Float(Foundation.sin(angle))
            }
        }
        let w = Workspace(tokens: n, ids: try buf(n * 4), x: try buf(n * c.embedding * 4), h: try buf(n * c.embedding * 2),
                          qkv: try buf(n * qkvWidth * 4), q: try buf(n * c.heads * c.headDim * 2),
                          k: try buf(n * c.kvHeads * c.headDim * 2), v: try buf(n * c.kvHeads * c.headDim * 2),
                          o: try buf(n * c.heads * c.headDim * 2), lse: try buf(n * c.heads * 4),
                          gateUp: try buf(n * 2 * c.feedForward * 4), act: try buf(n * c.feedForward * 2),
                          hLast: try buf(LogitsChunk.rows * c.embedding * 2), logits: try buf(LogitsChunk.rows * c.vocabSize * 4),
                          cos: try buf(n * half * 4), sin: try buf(n * half * 4))
        try w.cos.upload(cosT); try w.sin.upload(sinT)
        work = w
        return w
    }

    enum LogitsChunk { static let rows = 256 }

    /// Runs the prompt and returns the last position's logits with the stage times.
    public func prefill(tokens: [Int32], attention mode: GPUAttentionMode) throws -> GPUPrefillResult {
        let c = config, n = tokens.count
        guard n > 0 else { throw ModelError.invalidRequest("no tokens to run") }
        guard n <= c.contextLength else { throw ModelError.contextTooLong(requested: n, modelContext: c.contextLength) }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
            throw ModelError.invalidRequest("token id \(bad) is outside the vocabulary 0..<\(c.vocabSize)")
        }
        if case .estimated(_, let target) = mode { _ = try target.validated() }
        let w = try workspace(tokens: n)
        let shape = try AttentionShape(tokens: n, queryHeads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        let geometry = try TileGeometry(tokens: n, queryTile: queryTile, keyTile: keyTile)
        let traits = try FlashKernelTraits.default(headDim: c.headDim, geometry: geometry, dtype: .bf16)
        let qkvWidth = (c.heads + 2 * c.kvHeads) * c.headDim, attnWidth = c.heads * c.headDim
        try w.ids.upload(tokens.map { Int32($0) })

        let start = try GPUEvent(device: device), end = try GPUEvent(device: device)
        var attnEvents: [(GPUEvent, GPUEvent)] = []
        var masks: [DeviceBlockMask] = []   // kept alive until the stream has used them
        var densities: [Double] = []
        var estimationSeconds = 0.0

        try start.record(on: stream)
        try kernels.embed(ids: w.ids, table: weights.embedding, x: w.x, tokens: n, width: c.embedding, vocab: c.vocabSize, stream: stream)
        for layer in weights.layers {
            try kernels.rmsNorm(x: w.x, gain: layer.attentionNorm, y: w.h, rows: n, width: c.embedding, epsilon: c.rmsEpsilon, stream: stream)
            try blas.linear(a: w.h.pointer, w: layer.qkv.pointer, c: w.qkv.pointer, rows: n, inDim: c.embedding, outDim: qkvWidth, accumulate: false)
            try kernels.ropeSplit(qkv: w.qkv, cos: w.cos, sin: w.sin, q: w.q, k: w.k, v: w.v, tokens: n, heads: c.heads,
                                  kvHeads: c.kvHeads, headDim: c.headDim, stream: stream)
            var mask: DeviceBlockMask? = nil
            if case .estimated(let estimator, let target) = mode {
                try stream.synchronize()
                let t0 = ContinuousClock.now
                let q = try w.q.download(UInt16.self, count: n * c.heads * c.headDim).map(HalfBits.bf16ToFloat)
                let k = try w.k.download(UInt16.self, count: n * c.kvHeads * c.headDim).map(HalfBits.bf16ToFloat)
                let inputs = try AttentionInputs(shape: shape, q: q, k: k, v: nil)
                let estimate = try estimator.estimate(inputs, geometry: geometry, target: target)
                let m = try DeviceBlockMask(device: device, mask: estimate.mask)
                estimationSeconds += (ContinuousClock.now - t0).seconds
                masks.append(m); mask = m
                densities.append(estimate.mask.density)
            } else {
                densities.append(1)
            }
            let a0 = try GPUEvent(device: device), a1 = try GPUEvent(device: device)
            try a0.record(on: stream)
            try attention.forward(shape: shape, traits: traits, q: w.q, k: w.k, v: w.v, o: w.o, lse: w.lse, mask: mask, stream: stream)
            try a1.record(on: stream)
            attnEvents.append((a0, a1))
            try blas.linear(a: w.o.pointer, w: layer.output.pointer, c: w.x.pointer, rows: n, inDim: attnWidth, outDim: c.embedding, accumulate: true)
            try kernels.rmsNorm(x: w.x, gain: layer.ffnNorm, y: w.h, rows: n, width: c.embedding, epsilon: c.rmsEpsilon, stream: stream)
            try blas.linear(a: w.h.pointer, w: layer.gateUp.pointer, c: w.gateUp.pointer, rows: n, inDim: c.embedding,
                            outDim: 2 * c.feedForward, accumulate: false)
            try kernels.swiglu(gateUp: w.gateUp, out: w.act, tokens: n, feedForward: c.feedForward, stream: stream)
            try blas.linear(a: w.act.pointer, w: layer.down.pointer, c: w.x.pointer, rows: n, inDim: c.feedForward, outDim: c.embedding, accumulate: true)
        }
        try kernels.rmsNorm(x: w.x, gain: weights.outputNorm, y: w.hLast, rows: 1, width: c.embedding, epsilon: c.rmsEpsilon,
                            firstRow: n - 1, stream: stream)
        try blas.linear(a: w.hLast.pointer, w: weights.vocabulary.pointer, c: w.logits.pointer, rows: 1, inDim: c.embedding,
                        outDim: c.vocabSize, accumulate: false)
        try end.record(on: stream)
        try end.synchronize()
        let logits = try w.logits.download(Float.self, count: c.vocabSize)
        let attnMs = try attnEvents.reduce(0.0) { $0 + (try $1.1.milliseconds(since: $1.0)) }
        withExtendedLifetime(masks) {}
        let timings = GPUPrefillTimings(totalMs: try end.milliseconds(since: start), attentionMs: attnMs,
                                        estimationMs: estimationSeconds * 1000, layerDensities: densities)
        return GPUPrefillResult(tokens: n, lastLogits: logits, timings: timings)
    }

    /// Logits of positions `rows` of the last prefill ([rows.count, V], row-major), from the
    /// final residual stream still on the device (for perplexity checks; not part of TTFT).
    public func logits(rows: Range<Int>) throws -> [Float] {
        guard let w = work else { throw ModelError.invalidRequest("no prefill has run yet") }
        guard rows.lowerBound >= 0, rows.upperBound <= w.tokens else {
            throw ModelError.invalidRequest("rows \(rows) outside 0..<\(w.tokens)")
        }
        let c = config
        var out: [Float] = []
        out.reserveCapacity(rows.count * c.vocabSize)
        var first = rows.lowerBound
        while first < rows.upperBound {
            let count = min(LogitsChunk.rows, rows.upperBound - first)
            try kernels.rmsNorm(x: w.x, gain: weights.outputNorm, y: w.hLast, rows: count, width: c.embedding, epsilon: c.rmsEpsilon,
                                firstRow: first, stream: stream)
            try blas.linear(a: w.hLast.pointer, w: weights.vocabulary.pointer, c: w.logits.pointer, rows: count, inDim: c.embedding,
                            outDim: c.vocabSize, accumulate: false)
            try stream.synchronize()
            out += try w.logits.download(Float.self, count: count * c.vocabSize)
            first += count
        }
        return out
    }
}

extension Duration {
    var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) * 1e-18
    }
}


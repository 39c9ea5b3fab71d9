import Foundation
import SparseSkeleton

/// Post-RoPE Q, K, V of one layer, handed to a capture hook: Q [N, H, d], K and V [N, Hkv, d],
/// half-split RoPE layout, so q·k/√d are the model's true attention logits.
public struct LayerQKV {
    public let layer: Int
    public let shape: AttentionShape
    public let q: [Float], k: [Float], v: [Float]
}

/// What a prefill returns: the final hidden states (after the output RMSNorm), ready for the
/// vocabulary head, the attention density each layer used, and optionally the K/V cache.
public struct PrefillResult {
    public let tokens: Int
    public let hidden: [Float]        // [N, E]
    public let layerDensities: [Double]
    public let cache: KVCache?

    /// Mean of `layerDensities` (0 when there are none).
    public var meanDensity: Double { layerDensities.reduce(0, +) / Double(max(1, layerDensities.count)) }
}

/// A Llama-family decoder run on the CPU, batch 1, with pluggable attention.
///
/// Per block:  h = RMSNorm(x)·g₁;  q, k, v = h·W_qᵀ, h·W_kᵀ, h·W_vᵀ;  RoPE(q, k);
///             x += Attention(q, k, v)·W_oᵀ;  h = RMSNorm(x)·g₂;  x += (silu(h·W_gᵀ) ⊙ h·W_uᵀ)·W_dᵀ.
/// Every matrix product goes through `Gemm` (OpenBLAS when present); attention goes through the
/// `AttentionBackend` given to `prefill` (dense reference, masked with any estimator, GPU, …).
public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    public let weights: LlamaWeights
    public let tokenizer: BPETokenizer

    public convenience init(path: String) throws {
        try self.init(gguf: try GGUFFile(path: path))
    }

    public init(gguf: GGUFFile) throws {
        let config = try LlamaConfig(gguf: gguf)
        self.config = config
        tokenizer = try BPETokenizer(gguf: gguf)
        weights = try LlamaWeights(gguf: gguf, config: config)
    }

    public init(config: LlamaConfig, weights: LlamaWeights, tokenizer: BPETokenizer) {
        self.config = config; self.weights = weights; self.tokenizer = tokenizer
    }

    /// y = x·Wᵀ (+ y when `accumulate`): x [rows, inDim], W [outDim, inDim].
    static func linear(_ x: [Float], rows: Int, inDim: Int, _ w: [Float], outDim: Int,
                       into y: inout [Float], accumulate: Bool = false) throws {
        try x.withUnsafeBufferPointer { xb in
            try w.withUnsafeBufferPointer { wb in
                try y.withUnsafeMutableBufferPointer { yb in
                    try Gemm.multiply(transA: false, transB: true, m: rows, n: outDim, k: inDim,
                                      a: xb.baseAddress!, lda: inDim, b: wb.baseAddress!, ldb: inDim,
                                      beta: accumulate ? 1 : 0, c: yb.baseAddress!, ldc: outDim)
                }
            }
        }
    }

    static func linear(_ x: [Float], rows: Int, inDim: Int, _ w: [Float], outDim: Int) throws -> [Float] {
        var y = [Float](repeating: 0, count: rows * outDim)
        try linear(x, rows: rows, inDim: inDim, w, outDim: outDim, into: &y)
        return y
    }

    /// Rows of the embedding table for `tokens`.
    func embed(_ tokens: [Int32]) -> [Float] {
        let e = config.embedding
        var x = [Float](repeating: 0, count: tokens.count * e)
        for (t, id) in tokens.enumerated() {
            let src = Int(id) * e
            for c in 0..<e { x[t * e + c] = weights.tokenEmbedding[src + c] }
        }
        return x
    }

    /// Runs the whole prompt through the model.
    /// - capture: called with each layer's post-RoPE Q/K/V when `captureLayers` contains it.
    /// - keepCache: keep K/V of every layer for `GreedyDecoder`.
    /// - progress: called after each layer with (layers done, layers).
    public func prefill(tokens: [Int32], attention: AttentionBackend,
                        captureLayers: Set<Int> = [], capture: ((LayerQKV) throws -> Void)? = nil,
                        keepCache: Bool = false, progress: ((Int, Int) -> Void)? = nil) throws -> PrefillResult {
        try checkPrompt(tokens)
        let n = tokens.count, e = config.embedding, f = config.feedForward
        let hq = config.heads, hkv = config.kvHeads, d = config.headDim
        let shape = try AttentionShape(tokens: n, queryHeads: hq, kvHeads: hkv, headDim: d)
        let rope = LlamaOps.RoPETable(positions: 0..<n, headDim: d, base: config.ropeBase, linearFactor: config.ropeLinearFactor)
        var cache = keepCache ? KVCache(config: config, capacity: config.contextLength) : nil
        var x = embed(tokens)
        var densities: [Double] = []
        for (l, w) in weights.layers.enumerated() {
            let h = LlamaOps.rmsNorm(x, rows: n, width: e, gain: w.attentionNorm, epsilon: config.rmsEpsilon)
            var q = try Self.linear(h, rows: n, inDim: e, w.wq, outDim: hq * d)
            var k = try Self.linear(h, rows: n, inDim: e, w.wk, outDim: hkv * d)
            let v = try Self.linear(h, rows: n, inDim: e, w.wv, outDim: hkv * d)
            LlamaOps.applyRoPE(&q, tokens: n, heads: hq, headDim: d, table: rope)
            LlamaOps.applyRoPE(&k, tokens: n, heads: hkv, headDim: d, table: rope)
            if captureLayers.contains(l), let capture { try capture(LayerQKV(layer: l, shape: shape, q: q, k: k, v: v)) }
            cache?.append(layer: l, k: k, v: v, tokens: n)
            let inputs = try AttentionInputs(shape: shape, q: q, k: k, v: v)
            let result = try attention.attend(inputs, layer: l, spec: config.spec(layer: l))
            guard result.output.count == n * hq * d else {
                throw SkeletonError.shapeMismatch("attention backend \(attention.name) returned \(result.output.count) values, expected \(n * hq * d)")
            }
            densities.append(result.density)
            try Self.linear(result.output, rows: n, inDim: hq * d, w.wo, outDim: e, into: &x, accumulate: true)
            let h2 = LlamaOps.rmsNorm(x, rows: n, width: e, gain: w.ffnNorm, epsilon: config.rmsEpsilon)
            var gate = try Self.linear(h2, rows: n, inDim: e, w.gate, outDim: f)
            let up = try Self.linear(h2, rows: n, inDim: e, w.up, outDim: f)
            LlamaOps.siluMultiply(&gate, up)
            try Self.linear(gate, rows: n, inDim: f, w.down, outDim: e, into: &x, accumulate: true)
            progress?(l + 1, config.layers)
        }
        let hidden = LlamaOps.rmsNorm(x, rows: n, width: e, gain: weights.outputNorm, epsilon: config.rmsEpsilon)
        return PrefillResult(tokens: n, hidden: hidden, layerDensities: densities, cache: cache)
    }
}

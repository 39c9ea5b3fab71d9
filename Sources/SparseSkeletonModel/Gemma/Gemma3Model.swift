import Foundation
import SparseSkeleton

/// A Gemma-3 text decoder run on the CPU, batch 1, with pluggable attention.
///
///     x = embed(t)·√E
///     per block:  h = RMSNorm(x)·g_attn;  q, k, v = h·W_qᵀ, h·W_kᵀ, h·W_vᵀ;
///                 q, k ← RMSNorm per head (·g_q, ·g_k);  RoPE(q, k) with the layer's base;
///                 x += RMSNorm(Attention(q, k, v)·W_oᵀ)·g_post_attn;
///                 h = RMSNorm(x)·g_ffn;  x += RMSNorm((gelu_tanh(h·W_gᵀ) ⊙ h·W_uᵀ)·W_dᵀ)·g_post_ffn
///     hidden = RMSNorm(x)·g_out;  logits = hidden·Embᵀ (tied head)
///
/// Local layers attend within the sliding window and rotate with base 10000; global layers see
/// every earlier key and rotate with `config.ropeBase` (positions ÷ k under PI ×k). Each layer's
/// `AttentionSpec` (window, scale) goes to the `AttentionBackend`.
public final class Gemma3Model: @unchecked Sendable {
    public let config: Gemma3Config
    public let weights: Gemma3Weights
    public let tokenizer: SentencePieceTokenizer

    public convenience init(path: String, positionInterpolation: Int = 1) throws {
        try self.init(gguf: try GGUFFile(path: path), positionInterpolation: positionInterpolation)
    }

    public init(gguf: GGUFFile, positionInterpolation: Int = 1) throws {
        let config = try Gemma3Config(gguf: gguf, positionInterpolation: positionInterpolation)
        self.config = config
        tokenizer = try SentencePieceTokenizer(gguf: gguf)
        weights = try Gemma3Weights(gguf: gguf, config: config)
    }

    public init(config: Gemma3Config, weights: Gemma3Weights, tokenizer: SentencePieceTokenizer) {
        self.config = config; self.weights = weights; self.tokenizer = tokenizer
    }

    /// Rows of the embedding table for `tokens`, times √E.
    func embed(_ tokens: [Int32]) -> [Float] {
        let e = config.embedding
        let scale = Float(Double(e).squareRoot())
        var x = [Float](repeating: 0, count: tokens.count * e)
        for (t, id) in tokens.enumerated() {
            let src = Int(id) * e
            for c in 0..<e { x[t * e + c] = weights.tokenEmbedding[src + c] * scale }
        }
        return x
    }

    /// RoPE tables for positions `positions`: one for the local layers, one for the global ones.
    func ropeTables(_ positions: Range<Int>) -> (local: LlamaOps.RoPETable, global: LlamaOps.RoPETable) {
        let c = config
        return (LlamaOps.RoPETable(positions: positions, headDim: c.headDim, base: c.localRopeBase, linearFactor: 1),
                LlamaOps.RoPETable(positions: positions, headDim: c.headDim, base: c.ropeBase, linearFactor: Double(c.positionInterpolation)))
    }

    /// Q, K, V of `n` rows of `x` for layer `l`: projected, QK-normed per head, rotated.
    func projectQKV(_ x: [Float], rows n: Int, layer l: Int, rope: LlamaOps.RoPETable) throws -> (q: [Float], k: [Float], v: [Float]) {
        let c = config, w = weights.layers[l]
        let e = c.embedding, hq = c.heads, hkv = c.kvHeads, d = c.headDim
        let h = LlamaOps.rmsNorm(x, rows: n, width: e, gain: w.attentionNorm, epsilon: c.rmsEpsilon)
        var q = try LlamaModel.linear(h, rows: n, inDim: e, w.wq, outDim: hq * d)
        var k = try LlamaModel.linear(h, rows: n, inDim: e, w.wk, outDim: hkv * d)
        let v = try LlamaModel.linear(h, rows: n, inDim: e, w.wv, outDim: hkv * d)
        q = LlamaOps.rmsNorm(q, rows: n * hq, width: d, gain: w.queryNorm, epsilon: c.rmsEpsilon)
        k = LlamaOps.rmsNorm(k, rows: n * hkv, width: d, gain: w.keyNorm, epsilon: c.rmsEpsilon)
        LlamaOps.applyRoPE(&q, tokens: n, heads: hq, headDim: d, table: rope)
        LlamaOps.applyRoPE(&k, tokens: n, heads: hkv, headDim: d, table: rope)
        return (q, k, v)
    }

    /// The rest of block `l` after attention: output projection, post-attention norm, residual,
    /// then the GeGLU feed-forward between its two norms, residual.
    func finishBlock(_ x: inout [Float], attention o: [Float], rows n: Int, layer l: Int) throws {
        let c = config, w = weights.layers[l]
        let e = c.embedding, f = c.feedForward
        let projected = try LlamaModel.linear(o, rows: n, inDim: c.heads * c.headDim, w.wo, outDim: e)
        Gemma3Ops.add(&x, LlamaOps.rmsNorm(projected, rows: n, width: e, gain: w.postAttentionNorm, epsilon: c.rmsEpsilon))
        let h = LlamaOps.rmsNorm(x, rows: n, width: e, gain: w.ffnNorm, epsilon: c.rmsEpsilon)
        var gate = try LlamaModel.linear(h, rows: n, inDim: e, w.gate, outDim: f)
        let up = try LlamaModel.linear(h, rows: n, inDim: e, w.up, outDim: f)
        Gemma3Ops.geluTanhMultiply(&gate, up)
        let down = try LlamaModel.linear(gate, rows: n, inDim: f, w.down, outDim: e)
        Gemma3Ops.add(&x, LlamaOps.rmsNorm(down, rows: n, width: e, gain: w.postFFNNorm, epsilon: c.rmsEpsilon))
    }

    /// Runs the whole prompt through the model (arguments as `LlamaModel.prefill`).
    public func prefill(tokens: [Int32], attention: AttentionBackend,
                        captureLayers: Set<Int> = [], capture: ((LayerQKV) throws -> Void)? = nil,
                        keepCache: Bool = false, progress: ((Int, Int) -> Void)? = nil) throws -> PrefillResult {
        try checkPrompt(tokens)
        let n = tokens.count, c = config
        let shape = try AttentionShape(tokens: n, queryHeads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        let ropes = ropeTables(0..<n)
        var cache = keepCache ? KVCache(layers: c.layers, kvWidth: c.kvHeads * c.headDim, capacity: c.contextLength) : nil
        var x = embed(tokens)
        var densities: [Double] = []
        for l in 0..<c.layers {
            let (q, k, v) = try projectQKV(x, rows: n, layer: l, rope: c.isGlobal(layer: l) ? ropes.global : ropes.local)
            if captureLayers.contains(l), let capture { try capture(LayerQKV(layer: l, shape: shape, q: q, k: k, v: v)) }
            cache?.append(layer: l, k: k, v: v, tokens: n)
            let result = try attention.attend(try AttentionInputs(shape: shape, q: q, k: k, v: v), layer: l, spec: c.spec(layer: l))
            guard result.output.count == n * c.heads * c.headDim else {
                throw SkeletonError.shapeMismatch("attention backend \(attention.name) returned \(result.output.count) values, expected \(n * c.heads * c.headDim)")
            }
            densities.append(result.density)
            try finishBlock(&x, attention: result.output, rows: n, layer: l)
            progress?(l + 1, c.layers)
        }
        let hidden = LlamaOps.rmsNorm(x, rows: n, width: c.embedding, gain: weights.outputNorm, epsilon: c.rmsEpsilon)
        return PrefillResult(tokens: n, hidden: hidden, layerDensities: densities, cache: cache)
    }

    /// Logits of hidden rows `rows` ([rows.count, V], row-major), through the tied head.
    public func logits(_ result: PrefillResult, rows: Range<Int>) throws -> [Float] {
        try LlamaModel.headLogits(result, rows: rows, embedding: config.embedding, head: weights.tokenEmbedding, vocabSize: config.vocabSize)
    }
}

extension Gemma3Model: CausalLM {}

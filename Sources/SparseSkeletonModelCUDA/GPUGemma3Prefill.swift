import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel

/// The Gemma-3 family's layers on the GPU (the CPU model's maths, Gemma3Model, in bf16/fp32):
///
///     x = E[tokens]·√E                                       fp32 residual stream [N, E]
///     per layer:  h = bf16(RMSNorm(x)·g_attn);  [q|k|v] = h·W_qkvᵀ (cuBLAS, fp32 out)
///                 q, k ← RMSNorm per head (·g_q, ·g_k), then RoPE with the layer's table
///                        (local: base 10000; global: config.ropeBase, positions ÷ k under PI ×k)
///                 o = Attention(q, k, v; the layer's spec: local layers windowed)  (GPUModelPrefill)
///                 p = o·W_oᵀ;  x += RMSNorm(p)·g_post_attn
///                 h = bf16(RMSNorm(x)·g_ffn);  [g|u] = h·W_guᵀ;  p = bf16(gelu_tanh(g) ⊙ u)·W_dᵀ
///                 x += RMSNorm(p)·g_post_ffn
///     logits = bf16(RMSNorm(x)·g_out)·Embᵀ   (tied head)
///
/// Norm gains as the GGUF stores them (see Gemma3Weights). The √E embedding scale is applied once
/// at upload to the fp32 gather table (the same fp32 product the CPU model takes per token).
final class GPUGemma3Layers: GPUPrefillFamily {
    struct Layer {
        let attentionNorm: DeviceBuffer      // fp32 [E]
        let qkv: DeviceBuffer                // bf16 [(H + 2Hkv)d, E]
        let queryNorm, keyNorm: DeviceBuffer // fp32 [d]
        let output: DeviceBuffer             // bf16 [E, H·d]
        let postAttentionNorm: DeviceBuffer  // fp32 [E]
        let ffnNorm: DeviceBuffer            // fp32 [E]
        let gateUp: DeviceBuffer             // bf16 [2F, E]
        let down: DeviceBuffer               // bf16 [E, F]
        let postFFNNorm: DeviceBuffer        // fp32 [E]
    }

    let config: Gemma3Config
    let device: GPUDevice
    let dims: GPUModelDims
    let weightBytes: Int
    let embedding: DeviceBuffer      // fp32 [V, E], × √E
    let outputNorm: DeviceBuffer     // fp32 [E]
    let vocabulary: DeviceBuffer     // bf16 [V, E], the unscaled embedding (tied head)
    let layers: [Layer]
    /// Per prompt length: RoPE tables of the local and the global layers, and the fp32 [N, E]
    /// product that a post-norm reads before its residual add.
    private var local: GPURoPETable?, global: GPURoPETable?
    private var projected: DeviceBuffer?

    init(device: GPUDevice, model: Gemma3Model) throws {
        self.device = device
        let c = model.config, w = model.weights
        config = c
        dims = GPUModelDims(architecture: c.architecture, layers: c.layers, embedding: c.embedding, feedForward: c.feedForward,
                            heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, vocabSize: c.vocabSize,
                            contextLength: c.contextLength, rmsEpsilon: c.rmsEpsilon)
        var up = GPUWeightUpload(device: device)
        let scale = Float(Double(c.embedding).squareRoot())
        embedding = try up.f32(w.tokenEmbedding.map { $0 * scale })
        outputNorm = try up.f32(w.outputNorm)
        vocabulary = try up.bf16(w.tokenEmbedding)
        layers = try w.layers.map { l in
            Layer(attentionNorm: try up.f32(l.attentionNorm), qkv: try up.bf16(l.wq, l.wk, l.wv),
                  queryNorm: try up.f32(l.queryNorm), keyNorm: try up.f32(l.keyNorm), output: try up.bf16(l.wo),
                  postAttentionNorm: try up.f32(l.postAttentionNorm), ffnNorm: try up.f32(l.ffnNorm),
                  gateUp: try up.bf16(l.gate, l.up), down: try up.bf16(l.down), postFFNNorm: try up.f32(l.postFFNNorm))
        }
        weightBytes = up.byteCount
    }

    func spec(layer: Int) -> AttentionSpec { config.spec(layer: layer) }

    func prepare(tokens n: Int) throws {
        let c = config, d = c.headDim
        local = nil; global = nil; projected = nil
        local = try GPURoPETable(device: device, tokens: n, headDim: d, base: c.localRopeBase, linearFactor: 1)
        global = try GPURoPETable(device: device, tokens: n, headDim: d, base: c.ropeBase, linearFactor: Double(c.positionInterpolation))
        projected = try DeviceBuffer(device: device, byteCount: n * c.embedding * 4)
    }

    private func scratch(_ n: Int) throws -> (local: GPURoPETable, global: GPURoPETable, projected: DeviceBuffer) {
        guard let local, let global, let projected else { throw ModelError.invalidRequest("the Gemma-3 layers have no buffers for \(n) tokens") }
        return (local, global, projected)
    }

    func embed(_ w: GPUPrefillWorkspace, _ ops: GPUPrefillOps) throws {
        try ops.kernels.embed(ids: w.ids, table: embedding, x: w.x, tokens: w.tokens, width: config.embedding,
                              vocab: config.vocabSize, stream: ops.stream)
    }

    func attentionInputs(layer l: Int, _ w: GPUPrefillWorkspace, _ ops: GPUPrefillOps) throws {
        let c = config, layer = layers[l], n = w.tokens
        let s = try scratch(n), rope = c.isGlobal(layer: l) ? s.global : s.local
        try ops.kernels.rmsNorm(x: w.x, gain: layer.attentionNorm, y: w.h, rows: n, width: c.embedding, epsilon: c.rmsEpsilon, stream: ops.stream)
        try ops.blas.linear(a: w.h.pointer, w: layer.qkv.pointer, c: w.qkv.pointer, rows: n, inDim: c.embedding,
                            outDim: (c.heads + 2 * c.kvHeads) * c.headDim, accumulate: false)
        try ops.kernels.qkNormRopeSplit(qkv: w.qkv, cos: rope.cos, sin: rope.sin, qGain: layer.queryNorm, kGain: layer.keyNorm,
                                        q: w.q, k: w.k, v: w.v, tokens: n, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                                        epsilon: c.rmsEpsilon, stream: ops.stream)
    }

    func finishLayer(_ l: Int, _ w: GPUPrefillWorkspace, _ ops: GPUPrefillOps) throws {
        let c = config, layer = layers[l], n = w.tokens
        let p = try scratch(n).projected
        try ops.blas.linear(a: w.o.pointer, w: layer.output.pointer, c: p.pointer, rows: n, inDim: c.heads * c.headDim,
                            outDim: c.embedding, accumulate: false)
        try ops.kernels.rmsNormResidual(y: p, gain: layer.postAttentionNorm, x: w.x, rows: n, width: c.embedding, epsilon: c.rmsEpsilon,
                                        stream: ops.stream)
        try ops.kernels.rmsNorm(x: w.x, gain: layer.ffnNorm, y: w.h, rows: n, width: c.embedding, epsilon: c.rmsEpsilon, stream: ops.stream)
        try ops.blas.linear(a: w.h.pointer, w: layer.gateUp.pointer, c: w.gateUp.pointer, rows: n, inDim: c.embedding,
                            outDim: 2 * c.feedForward, accumulate: false)
        try ops.kernels.glu(.geluTanh, gateUp: w.gateUp, out: w.act, tokens: n, feedForward: c.feedForward, stream: ops.stream)
        try ops.blas.linear(a: w.act.pointer, w: layer.down.pointer, c: p.pointer, rows: n, inDim: c.feedForward,
                            outDim: c.embedding, accumulate: false)
        try ops.kernels.rmsNormResidual(y: p, gain: layer.postFFNNorm, x: w.x, rows: n, width: c.embedding, epsilon: c.rmsEpsilon,
                                        stream: ops.stream)
    }
}

extension GPUModelPrefill {
    /// The Gemma-3 prefill of `model` (weights uploaded once): local layers through the kernel's
    /// sliding window, global layers dense or with the mode's masks.
    public convenience init(library: KernelLibrary, gemma3 model: Gemma3Model, queryTile: Int = 128, keyTile: Int = 64) throws {
        try self.init(library: library, family: { try GPUGemma3Layers(device: $0, model: model) }, queryTile: queryTile, keyTile: keyTile)
    }
}

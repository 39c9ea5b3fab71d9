import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel

/// The Llama family's layers on the GPU (the CPU model's maths, LlamaModel, in bf16/fp32):
///
///     x = E[tokens]                                          fp32 residual stream [N, E]
///     per layer:  h = bf16(RMSNorm(x)·g₁);  [q|k|v] = h·W_qkvᵀ (cuBLAS, fp32 out)
///                 q, k ← RoPE (half-split, angles from Double on the host);  q, k, v → bf16
///                 o = Attention(q, k, v)                      (GPUModelPrefill)
///                 x += o·W_oᵀ;  h = bf16(RMSNorm(x)·g₂);  [g|u] = h·W_guᵀ
///                 x += bf16(silu(g) ⊙ u)·W_dᵀ
///
/// Residual adds are fused into the products as β = 1.
final class GPULlamaLayers: GPUPrefillFamily {
    let config: LlamaConfig
    let weights: GPULlamaWeights
    let device: GPUDevice
    let dims: GPUModelDims
    private var rope: GPURoPETable?

    init(device: GPUDevice, weights: LlamaWeights) throws {
        self.device = device
        config = weights.config
        let c = config
        dims = GPUModelDims(architecture: c.architecture, layers: c.layers, embedding: c.embedding, feedForward: c.feedForward,
                            heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, vocabSize: c.vocabSize,
                            contextLength: c.contextLength, rmsEpsilon: c.rmsEpsilon)
        self.weights = try GPULlamaWeights(device: device, weights: weights)
    }

    var weightBytes: Int { weights.byteCount }
    func spec(layer: Int) -> AttentionSpec { config.spec(layer: layer) }
    var outputNorm: DeviceBuffer { weights.outputNorm }
    var vocabulary: DeviceBuffer { weights.vocabulary }

    func prepare(tokens n: Int) throws {
        rope = try GPURoPETable(device: device, tokens: n, headDim: config.headDim, base: config.ropeBase, linearFactor: config.ropeLinearFactor)
    }

    func embed(_ w: GPUPrefillWorkspace, _ ops: GPUPrefillOps) throws {
        try ops.kernels.embed(ids: w.ids, table: weights.embedding, x: w.x, tokens: w.tokens, width: config.embedding,
                              vocab: config.vocabSize, stream: ops.stream)
    }

    func attentionInputs(layer l: Int, _ w: GPUPrefillWorkspace, _ ops: GPUPrefillOps) throws {
        let c = config, layer = weights.layers[l], n = w.tokens
        guard let rope else { throw ModelError.invalidRequest("the Llama layers have no RoPE table for \(n) tokens") }
        try ops.kernels.rmsNorm(x: w.x, gain: layer.attentionNorm, y: w.h, rows: n, width: c.embedding, epsilon: c.rmsEpsilon, stream: ops.stream)
        try ops.blas.linear(a: w.h.pointer, w: layer.qkv.pointer, c: w.qkv.pointer, rows: n, inDim: c.embedding,
                            outDim: (c.heads + 2 * c.kvHeads) * c.headDim, accumulate: false)
        try ops.kernels.ropeSplit(qkv: w.qkv, cos: rope.cos, sin: rope.sin, q: w.q, k: w.k, v: w.v, tokens: n, heads: c.heads,
                                  kvHeads: c.kvHeads, headDim: c.headDim, stream: ops.stream)
    }

    func finishLayer(_ l: Int, _ w: GPUPrefillWorkspace, _ ops: GPUPrefillOps) throws {
        let c = config, layer = weights.layers[l], n = w.tokens
        try ops.blas.linear(a: w.o.pointer, w: layer.output.pointer, c: w.x.pointer, rows: n, inDim: c.heads * c.headDim,
                            outDim: c.embedding, accumulate: true)
        try ops.kernels.rmsNorm(x: w.x, gain: layer.ffnNorm, y: w.h, rows: n, width: c.embedding, epsilon: c.rmsEpsilon, stream: ops.stream)
        try ops.blas.linear(a: w.h.pointer, w: layer.gateUp.pointer, c: w.gateUp.pointer, rows: n, inDim: c.embedding,
                            outDim: 2 * c.feedForward, accumulate: false)
        try ops.kernels.glu(.silu, gateUp: w.gateUp, out: w.act, tokens: n, feedForward: c.feedForward, stream: ops.stream)
        try ops.blas.linear(a: w.act.pointer, w: layer.down.pointer, c: w.x.pointer, rows: n, inDim: c.feedForward,
                            outDim: c.embedding, accumulate: true)
    }
}

extension GPUModelPrefill {
    /// The Llama-family prefill of `weights` (uploaded once).
    public convenience init(library: KernelLibrary, weights: LlamaWeights, queryTile: Int = 128, keyTile: Int = 64) throws {
        try self.init(library: library, family: { try GPULlamaLayers(device: $0, weights: weights) }, queryTile: queryTile, keyTile: keyTile)
    }
}

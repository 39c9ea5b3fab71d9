import Dispatch
import SparseSkeleton

/// One transformer block's weights, dequantised to Float once at load. Matrices are row-major
/// [out, in] (GGUF's dims [in, out]), so y = x·Wᵀ is `Gemm(transB: true)`.
public struct LlamaLayerWeights: Sendable {
    public let attentionNorm: [Float]   // [E]
    public let wq: [Float]              // [H·d, E], rows in half-split RoPE order (see LlamaWeights)
    public let wk: [Float]              // [Hkv·d, E], likewise
    public let wv: [Float]              // [Hkv·d, E]
    public let wo: [Float]              // [E, H·d]
    public let ffnNorm: [Float]         // [E]
    public let gate: [Float]            // [F, E]
    public let up: [Float]              // [F, E]
    public let down: [Float]            // [E, F]
}

/// All weights of a Llama-family model.
///
/// GGUF (llama.cpp's converter) stores the rows of attn_q and attn_k permuted so that llama.cpp
/// can rotate adjacent pairs (2i, 2i+1); Hugging Face rotates the half-split pairs (i, i + d/2).
/// Within each head the stored row 2i + j is the original row j·d/2 + i (j ∈ {0, 1}). We undo
/// that at load, so Q and K come out in the half-split layout the numpy reference and the
/// captures use; q·k is the same either way (both are permuted alike), only the layout differs.
public struct LlamaWeights: Sendable {
    public let config: LlamaConfig
    public let tokenEmbedding: [Float]  // [V, E]
    public let outputNorm: [Float]      // [E]
    /// [V, E]; the embedding itself when the model ties them (no output.weight).
    public let output: [Float]
    public let outputIsTied: Bool
    public let layers: [LlamaLayerWeights]

    public init(gguf: GGUFFile, config: LlamaConfig) throws {
        self.config = config
        let e = config.embedding, f = config.feedForward, d = config.headDim
        func load(_ name: String, _ dims: [Int]) throws -> [Float] {
            let info = try gguf.tensor(name)
            guard info.dims == dims else { throw ModelError.tensorShape(name: name, expected: dims, found: info.dims) }
            return try gguf.floats(name)
        }
        tokenEmbedding = try load("token_embd.weight", [e, config.vocabSize])
        outputNorm = try load("output_norm.weight", [e])
        if gguf.hasTensor("output.weight") {
            output = try load("output.weight", [e, config.vocabSize]); outputIsTied = false
        } else {
            output = tokenEmbedding; outputIsTied = true
        }
        var layers: [LlamaLayerWeights] = []
        for l in 0..<config.layers {
            let p = "blk.\(l)."
            layers.append(LlamaLayerWeights(
                attentionNorm: try load(p + "attn_norm.weight", [e]),
                wq: Self.unpermuteRoPERows(try load(p + "attn_q.weight", [e, config.heads * d]), heads: config.heads, headDim: d, columns: e),
                wk: Self.unpermuteRoPERows(try load(p + "attn_k.weight", [e, config.kvHeads * d]), heads: config.kvHeads, headDim: d, columns: e),
                wv: try load(p + "attn_v.weight", [e, config.kvHeads * d]),
                wo: try load(p + "attn_output.weight", [config.heads * d, e]),
                ffnNorm: try load(p + "ffn_norm.weight", [e]),
                gate: try load(p + "ffn_gate.weight", [e, f]),
                up: try load(p + "ffn_up.weight", [e, f]),
                down: try load(p + "ffn_down.weight", [f, e])))
        }
        self.layers = layers
    }

    /// Stored row 2i + j of each head → row j·d/2 + i (llama.cpp layout → half-split layout).
    static func unpermuteRoPERows(_ w: [Float], heads: Int, headDim d: Int, columns: Int) -> [Float] {
        var out = [Float](repeating: 0, count: w.count)
        let half = d / 2
        w.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for h in 0..<heads {
                    for i in 0..<half {
                        for j in 0..<2 {
                            let from = (h * d + 2 * i + j) * columns, to = (h * d + j * half + i) * columns
                            (dst.baseAddress! + to).update(from: src.baseAddress! + from, count: columns)
                        }
                    }
                }
            }
        }
        return out
    }
}

import SparseSkeleton

/// One Gemma-3 block's weights, dequantised to Float once at load; matrices row-major [out, in].
/// The norm gains are used as stored: llama.cpp's converter stores Gemma's (1 + w), so
/// y = RMSNorm(x) ⊙ g with g read from the file (checked against the reference's logits).
public struct Gemma3LayerWeights: Sendable {
    public let attentionNorm: [Float]      // [E]
    public let wq: [Float]                 // [H·d, E], half-split RoPE layout (NeoX: no permutation in GGUF)
    public let wk: [Float]                 // [Hkv·d, E]
    public let wv: [Float]                 // [Hkv·d, E]
    public let queryNorm: [Float]          // [d], RMSNorm of each query head
    public let keyNorm: [Float]            // [d]
    public let wo: [Float]                 // [E, H·d]
    public let postAttentionNorm: [Float]  // [E]
    public let ffnNorm: [Float]            // [E]
    public let gate: [Float]               // [F, E]
    public let up: [Float]                 // [F, E]
    public let down: [Float]               // [E, F]
    public let postFFNNorm: [Float]        // [E]
}

/// All weights of a Gemma-3 text model; the output head is the token embedding (tied).
public struct Gemma3Weights: Sendable {
    public let tokenEmbedding: [Float]  // [V, E]
    public let outputNorm: [Float]      // [E]
    public let layers: [Gemma3LayerWeights]

    public init(gguf: GGUFFile, config c: Gemma3Config) throws {
        let e = c.embedding, f = c.feedForward, d = c.headDim
        func load(_ name: String, _ dims: [Int]) throws -> [Float] {
            let info = try gguf.tensor(name)
            guard info.dims == dims else { throw ModelError.tensorShape(name: name, expected: dims, found: info.dims) }
            return try gguf.floats(name)
        }
        if gguf.hasTensor("output.weight") {
            throw ModelError.invalidMetadata(key: "output.weight", reason: "Gemma-3 ties its output head to the embedding; an untied head is not supported")
        }
        tokenEmbedding = try load("token_embd.weight", [e, c.vocabSize])
        outputNorm = try load("output_norm.weight", [e])
        layers = try (0..<c.layers).map { l in
            let p = "blk.\(l)."
            return Gemma3LayerWeights(
                attentionNorm: try load(p + "attn_norm.weight", [e]),
                wq: try load(p + "attn_q.weight", [e, c.heads * d]),
                wk: try load(p + "attn_k.weight", [e, c.kvHeads * d]),
                wv: try load(p + "attn_v.weight", [e, c.kvHeads * d]),
                queryNorm: try load(p + "attn_q_norm.weight", [d]),
                keyNorm: try load(p + "attn_k_norm.weight", [d]),
                wo: try load(p + "attn_output.weight", [c.heads * d, e]),
                postAttentionNorm: try load(p + "post_attention_norm.weight", [e]),
                ffnNorm: try load(p + "ffn_norm.weight", [e]),
                gate: try load(p + "ffn_gate.weight", [e, f]),
                up: try load(p + "ffn_up.weight", [e, f]),
                down: try load(p + "ffn_down.weight", [f, e]),
                postFFNNorm: try load(p + "post_ffw_norm.weight", [e]))
        }
    }
}

import Foundation
import SparseSkeleton

/// Greedy generation after a prefill, one token at a time against the K/V cache.
///
/// Decode attention is a single query row against all cached keys — a different operation from
/// prefill's causal N×N attention (and always dense here: sparse *prefill* is what is evaluated),
/// so it is computed directly: s_j = q·k_j/√d, p = softmax(s), o = Σ p_j v_j, in Double.
public struct GreedyDecoder {
    public let model: LlamaModel
    public init(model: LlamaModel) { self.model = model }

    /// Generates `count` tokens after the prompt whose prefill (with `keepCache: true`) is given;
    /// stops early at `stopTokens`.
    public func generate(after prefill: PrefillResult, lastPromptRow: Int? = nil, count: Int,
                         stopTokens: Set<Int32> = []) throws -> [Int32] {
        try model.greedyTokens(after: prefill, lastPromptRow: lastPromptRow, count: count, stopTokens: stopTokens) {
            try step(token: $0, cache: &$1)
        }
    }

    /// One token through every layer at position `cache.count`; returns its final hidden state.
    func step(token: Int32, cache: inout KVCache) throws -> [Float] {
        let c = model.config, w = model.weights
        let e = c.embedding, d = c.headDim, hq = c.heads, hkv = c.kvHeads
        let pos = cache.count
        try model.checkPrompt([token], startPosition: pos)
        let rope = LlamaOps.RoPETable(positions: pos..<(pos + 1), headDim: d, base: c.ropeBase, linearFactor: c.ropeLinearFactor)
        var x = model.embed([token])
        for (l, lw) in w.layers.enumerated() {
            let h = LlamaOps.rmsNorm(x, rows: 1, width: e, gain: lw.attentionNorm, epsilon: c.rmsEpsilon)
            var q = try LlamaModel.linear(h, rows: 1, inDim: e, lw.wq, outDim: hq * d)
            var k = try LlamaModel.linear(h, rows: 1, inDim: e, lw.wk, outDim: hkv * d)
            let v = try LlamaModel.linear(h, rows: 1, inDim: e, lw.wv, outDim: hkv * d)
            LlamaOps.applyRoPE(&q, tokens: 1, heads: hq, headDim: d, table: rope)
            LlamaOps.applyRoPE(&k, tokens: 1, heads: hkv, headDim: d, table: rope)
            cache.append(layer: l, k: k, v: v, tokens: 1)
            let spec = try c.spec(layer: l).checked(for: "greedy decoding")
            let o = cache.attend(query: q, position: pos, layer: l, heads: hq, kvHeads: hkv, headDim: d, spec: spec)
            try LlamaModel.linear(o, rows: 1, inDim: hq * d, lw.wo, outDim: e, into: &x, accumulate: true)
            let h2 = LlamaOps.rmsNorm(x, rows: 1, width: e, gain: lw.ffnNorm, epsilon: c.rmsEpsilon)
            var gate = try LlamaModel.linear(h2, rows: 1, inDim: e, lw.gate, outDim: c.feedForward)
            let up = try LlamaModel.linear(h2, rows: 1, inDim: e, lw.up, outDim: c.feedForward)
            LlamaOps.siluMultiply(&gate, up)
            try LlamaModel.linear(gate, rows: 1, inDim: c.feedForward, lw.down, outDim: e, into: &x, accumulate: true)
        }
        return LlamaOps.rmsNorm(x, rows: 1, width: e, gain: w.outputNorm, epsilon: c.rmsEpsilon)
    }
}

import Foundation
import SparseSkeleton

/// Greedy generation after a Gemma-3 prefill, one token at a time against the K/V cache; the
/// single query row attends densely (in Double) to the keys its layer's spec lets it see.
extension Gemma3Model {
    public func generate(after prefill: PrefillResult, count: Int, stopTokens: Set<Int32>) throws -> [Int32] {
        try greedyTokens(after: prefill, count: count, stopTokens: stopTokens) { try step(token: $0, cache: &$1) }
    }

    static func argmax(_ logits: [Float]) -> Int32 { greedyArgmax(logits) }

    /// One token through every layer at position `cache.count`; returns its final hidden state.
    func step(token: Int32, cache: inout KVCache) throws -> [Float] {
        let c = config, d = c.headDim, hq = c.heads, hkv = c.kvHeads
        let pos = cache.count
        try checkPrompt([token], startPosition: pos)
        let ropes = ropeTables(pos..<(pos + 1))
        var x = embed([token])
        for l in 0..<c.layers {
            let (q, k, v) = try projectQKV(x, rows: 1, layer: l, rope: c.isGlobal(layer: l) ? ropes.global : ropes.local)
            cache.append(layer: l, k: k, v: v, tokens: 1)
            let spec = try c.spec(layer: l).checked(for: "greedy decoding")
            let o = cache.attend(query: q, position: pos, layer: l, heads: hq, kvHeads: hkv, headDim: d, spec: spec)
            try finishBlock(&x, attention: o, rows: 1, layer: l)
        }
        return LlamaOps.rmsNorm(x, rows: 1, width: c.embedding, gain: weights.outputNorm, epsilon: c.rmsEpsilon)
    }
}

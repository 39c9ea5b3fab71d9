import Foundation
import SparseSkeleton

/// Greedy generation after a Gemma-3 prefill, one token at a time against the K/V cache; the
/// single query row attends densely (in Double) to the keys its layer's spec lets it see.
extension Gemma3Model {
    public func generate(after prefill: PrefillResult, count: Int, stopTokens: Set<Int32>) throws -> [Int32] {
        guard var cache = prefill.cache else {
            throw ModelError.invalidRequest("greedy decoding needs a prefill run with keepCache: true")
        }
        var next = Self.argmax(try logits(prefill, rows: (prefill.tokens - 1)..<prefill.tokens))
        var out: [Int32] = []
        while out.count < count {
            out.append(next)
            if stopTokens.contains(next) || out.count == count { break }
            guard cache.count < config.contextLength else { break }
            let hidden = try step(token: next, cache: &cache)
            next = Self.argmax(try logits(PrefillResult(tokens: 1, hidden: hidden, layerDensities: [], cache: nil), rows: 0..<1))
        }
        return out
    }

    static func argmax(_ logits: [Float]) -> Int32 {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return Int32(best)
    }

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

import Foundation
import SparseSkeleton

/// Greedy decoding, the same for every architecture: the next token is the argmax of the logits,
/// each one run through the model against the prefill's K/V cache by the architecture's `step`.
extension CausalLM {
    /// Up to `count` tokens after the prompt whose prefill (with `keepCache: true`) is given; stops
    /// early at `stopTokens` or at the context's end. `step` runs one token at position `cache.count`
    /// through every layer and returns its final hidden state.
    func greedyTokens(after prefill: PrefillResult, lastPromptRow: Int? = nil, count: Int, stopTokens: Set<Int32>,
                      step: (Int32, inout KVCache) throws -> [Float]) throws -> [Int32] {
        guard var cache = prefill.cache else {
            throw ModelError.invalidRequest("greedy decoding needs a prefill run with keepCache: true")
        }
        let row = lastPromptRow ?? (prefill.tokens - 1)
        var next = greedyArgmax(try logits(prefill, rows: row..<(row + 1)))
        var out: [Int32] = []
        while out.count < count {
            out.append(next)
            if stopTokens.contains(next) || out.count == count { break }
            guard cache.count < config.contextLength else { break }
            let hidden = try step(next, &cache)
            next = greedyArgmax(try logits(PrefillResult(tokens: 1, hidden: hidden, layerDensities: [], cache: nil), rows: 0..<1))
        }
        return out
    }
}

/// The first index of the largest logit.
public func greedyArgmax(_ logits: [Float]) -> Int32 {
    var best = 0
    for i in 1..<logits.count where logits[i] > logits[best] { best = i }
    return Int32(best)
}

extension KVCache {
    /// The attention of one new query row `q` ([heads · d], at position `pos`, whose K/V are already
    /// appended) over layer `layer`'s cached keys that `spec` lets it see, in float64: what greedy
    /// decoding computes for every architecture. Returns [heads · d].
    func attend(query q: [Float], position pos: Int, layer l: Int, heads hq: Int, kvHeads hkv: Int, headDim d: Int,
                spec: AttentionSpec) -> [Float] {
        let group = hq / hkv, keys = pos + 1
        let scale = spec.softmaxScale(headDim: d)
        let first = spec.firstKey(query: pos)  // the window: keys before it are never seen
        var o = [Float](repeating: 0, count: hq * d)
        for head in 0..<hq {
            let g = head / group
            var s = [Double](repeating: 0, count: keys - first)
            for j in first..<keys {
                var dot = 0.0
                let kb = (j * hkv + g) * d
                for t in 0..<d { dot += Double(q[head * d + t]) * Double(k[l][kb + t]) }
                s[j - first] = spec.capLogit(dot * scale)
            }
            let m = s.max() ?? 0
            var sum = 0.0
            for u in s.indices { s[u] = Foundation.exp(s[u] - m); sum += s[u] }
            var acc = [Double](repeating: 0, count: d)
            for j in first..<keys {
                let vb = (j * hkv + g) * d
                for t in 0..<d { acc[t] += s[j - first] * Double(v[l][vb + t]) }
            }
            for t in 0..<d { o[head * d + t] = Float(acc[t] / sum) }
        }
        return o
    }
}

import Foundation
import SparseSkeleton

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

import Foundation
import SparseSkeleton

/// A seeded structured Q/K/V layer for `mask-eval` when no files are given — NOT real data.
/// Planted structures: RoPE (base 10⁴) on Q and K; a shared pre-RoPE direction u in Q and K whose
/// rotated dot product u·R(i−j)u peaks at small offsets (a local band, decaying with distance);
/// an attention sink (key 0 aligned with the mean query); 16 content clusters (queries attend to
/// keys of their own cluster). Private to the CLI until the core's generator is available.
enum SyntheticLayer {
    static func make(tokens n: Int, heads: Int, kvHeads: Int, headDim d: Int, seed: UInt64) throws -> AttentionInputs {
        let shape = try AttentionShape(tokens: n, queryHeads: heads, kvHeads: kvHeads, headDim: d)
        var rng = SplitMix(seed)
        let clusters = 16
        var q = [Float](repeating: 0, count: n * heads * d), k = [Float](repeating: 0, count: n * kvHeads * d)
        var v = [Float](repeating: 0, count: n * kvHeads * d)
        for g in 0..<kvHeads {
            let centers = (0..<clusters).map { _ in (0..<d).map { _ in rng.normal() } }
            let u = (0..<d).map { _ in rng.normal() * 0.9 }
            let zk = (0..<n).map { _ in Int(rng.next() % UInt64(clusters)) }
            for j in 0..<n {
                var x = (0..<d).map { t in centers[zk[j]][t] * 0.6 + u[t] + rng.normal() * 0.5 }
                if j == 0 { x = u.map { $0 * 2.5 } }
                rope(&x, position: j)
                for t in 0..<d { k[(j * kvHeads + g) * d + t] = Float(x[t]); v[(j * kvHeads + g) * d + t] = Float(rng.normal()) }
            }
            for h in (g * heads / kvHeads)..<((g + 1) * heads / kvHeads) {
                let focus = 0.4 + 0.4 * Double(h % 3)
                for i in 0..<n {
                    let z = Int(rng.next() % UInt64(clusters))
                    var x = (0..<d).map { t in centers[z][t] * focus + u[t] + rng.normal() * 0.5 }
                    rope(&x, position: i)
                    for t in 0..<d { q[(i * heads + h) * d + t] = Float(x[t]) }
                }
            }
        }
        return try AttentionInputs(shape: shape, q: q, k: k, v: v)
    }

    /// Rotates pairs (2m, 2m+1) by position · 10000^(−2m/d).
    static func rope(_ x: inout [Double], position p: Int) {
        let d = x.count
        for m in 0..<(d / 2) {
            let a = Double(p) * pow(10000, -2 * Double(m) / Double(d))
            let (c, s) = (cos(a), sin(a))
            let (x0, x1) = (x[2 * m], x[2 * m + 1])
            x[2 * m] = x0 * c - x1 * s; x[2 * m + 1] = x0 * s + x1 * c
        }
    }

    struct SplitMix {
        var state: UInt64
        init(_ s: UInt64) { state = s &+ 0x9E37_79B9_7F4A_7C15 }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9; z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
        mutating func normal() -> Double { (-2 * log(max(uniform(), 1e-300))).squareRoot() * cos(2 * .pi * uniform()) }
    }
}

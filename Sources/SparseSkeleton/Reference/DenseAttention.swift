import Dispatch
import Foundation

/// CPU reference of causal attention, the ground truth every mask and kernel is judged against:
///
///     S = cap(scale · Q·Kᵀ),   P_ij = exp(S_ij − LSE_i) for j seen by i (0 otherwise),
///     LSE_i = log Σ_{j seen} exp(S_ij),   O_i = Σ_j P_ij · V_j,
///
/// per query head h, reading K/V head h / (Hq/Hkv) (GQA). Row i sees keys j ≤ i inside the spec's
/// window; scale and cap (s ↦ c·tanh(s/c)) are the spec's. O is [N, Hq, d], LSE is [Hq, N] in
/// natural log.
public enum ReferenceAttention {
    public enum Precision: String, Sendable {
        /// Scores and products in Float (Gemm), softmax with a two-pass row max then exp.
        case float32
        /// Every sum in Double, plain loops: slow, for tests and small N only.
        case float64
    }

    /// Query rows processed together in float32 dense mode (rows × N scores of scratch per worker).
    static let denseRowBlock = 64

    /// Dense causal attention over all heads; all cores via Dispatch over (head, row block).
    /// The float32 path materialises one block of 64 score rows against the keys they may see
    /// (at most 64·N floats per worker), takes an exact two-pass softmax (row max, then exp and sum), and
    /// multiplies the unnormalised P by V with `Gemm` before dividing by the row sum.
    public static func dense(_ inputs: AttentionInputs, spec: AttentionSpec = .causal,
                             precision: Precision = .float32) throws -> AttentionResult {
        let spec = try spec.checked(for: "the CPU reference attention")
        let v = try inputs.requireV()
        switch precision {
        case .float32: return try Gemm.withSingleThreadedBLAS { try denseFloat32(inputs, v: v, spec: spec) }
        case .float64: return denseFloat64(inputs, v: v, spec: spec)
        }
    }

    private static func denseFloat32(_ inputs: AttentionInputs, v: [Float], spec: AttentionSpec) throws -> AttentionResult {
        let shape = inputs.shape
        let n = shape.tokens, hq = shape.queryHeads, d = shape.headDim
        let blocks = (n + denseRowBlock - 1) / denseRowBlock
        var output = [Float](repeating: 0, count: n * hq * d)
        var lse = [Float](repeating: 0, count: hq * n)
        let failure = FirstError()
        inputs.withQK { q, k in
            v.withUnsafeBufferPointer { vb in
                output.withUnsafeMutableBufferPointer { ob in
                    lse.withUnsafeMutableBufferPointer { lb in
                        let vp = vb.baseAddress!
                        let o = SharedPointer(ob.baseAddress!), l = SharedPointer(lb.baseAddress!)
                        DispatchQueue.concurrentPerform(iterations: hq * blocks) { item in
                            let head = item / blocks, block = blocks - 1 - item % blocks  // long rows first
                            let rows = (block * denseRowBlock)..<min((block + 1) * denseRowBlock, n)
                            let keys = spec.firstKey(query: rows.lowerBound)..<rows.upperBound
                            let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows.count * keys.count)
                            defer { scores.deallocate() }
                            do {
                                try CausalScores.compute(q: q, k: k, shape: shape, head: head, rows: rows, keys: keys,
                                                         spec: spec, into: scores, ldOut: keys.count)
                                var sums = [Float](repeating: 0, count: rows.count)
                                for (t, i) in rows.enumerated() {
                                    let row = scores + t * keys.count
                                    let seen = spec.visibleOffsets(query: i, keys: keys)
                                    let m = VectorMath.maximum(row + seen.lowerBound, count: seen.count)
                                    sums[t] = VectorMath.expShifted(row + seen.lowerBound, count: seen.count, shift: m)
                                    row.update(repeating: 0, count: seen.lowerBound)
                                    (row + seen.upperBound).update(repeating: 0, count: keys.count - seen.upperBound)
                                    l.base[head * n + i] = m + Foundation.log(sums[t])
                                }
                                let kvHead = shape.kvHead(forQueryHead: head)
                                let out = o.base + (rows.lowerBound * hq + head) * d
                                try Gemm.multiply(m: rows.count, n: d, k: keys.count, a: scores, lda: keys.count,
                                                  b: vp + (keys.lowerBound * shape.kvHeads + kvHead) * d, ldb: shape.kvHeads * d,
                                                  beta: 0, c: out, ldc: hq * d)
                                for t in 0..<rows.count {
                                    let inv = 1 / sums[t]
                                    for c in 0..<d { out[t * hq * d + c] *= inv }
                                }
                            } catch { failure.record(error) }
                        }
                    }
                }
            }
        }
        try failure.rethrow()
        return AttentionResult(output: output, logSumExp: lse, density: 1)
    }

    private static func denseFloat64(_ inputs: AttentionInputs, v: [Float], spec: AttentionSpec) -> AttentionResult {
        let shape = inputs.shape
        let n = shape.tokens, hq = shape.queryHeads, d = shape.headDim
        var output = [Float](repeating: 0, count: n * hq * d)
        var lse = [Float](repeating: 0, count: hq * n)
        let q = inputs.q, k = inputs.k
        let scale = spec.softmaxScale(headDim: d)
        output.withUnsafeMutableBufferPointer { ob in
            lse.withUnsafeMutableBufferPointer { lb in
                let o = SharedPointer(ob.baseAddress!), l = SharedPointer(lb.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: hq * n) { item in
                    let head = item / n, i = item % n
                    let kvHead = shape.kvHead(forQueryHead: head)
                    let qo = inputs.qOffset(token: i, head: head)
                    let first = spec.firstKey(query: i)
                    var s = [Double](repeating: 0, count: i + 1)
                    var m = -Double.infinity
                    for j in first...i {
                        let ko = inputs.kOffset(token: j, kvHead: kvHead)
                        var dot = 0.0
                        for c in 0..<d { dot += Double(q[qo + c]) * Double(k[ko + c]) }
                        s[j] = spec.capLogit(dot * scale)
                        m = max(m, s[j])
                    }
                    var sum = 0.0
                    var acc = [Double](repeating: 0, count: d)
                    for j in first...i {
                        let p = Foundation.exp(s[j] - m)
                        sum += p
                        let vo = inputs.kOffset(token: j, kvHead: kvHead)
                        for c in 0..<d { acc[c] += p * Double(v[vo + c]) }
                    }
                    for c in 0..<d { o.base[qo + c] = Float(acc[c] / sum) }
                    l.base[head * n + i] = Float(m + Foundation.log(sum))
                }
            }
        }
        return AttentionResult(output: output, logSumExp: lse, density: 1)
    }
}

/// Keeps the first error thrown inside `concurrentPerform` workers so it can be rethrown after.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?
    func record(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
    func rethrow() throws { lock.lock(); defer { lock.unlock() }; if let error { throw error } }
}

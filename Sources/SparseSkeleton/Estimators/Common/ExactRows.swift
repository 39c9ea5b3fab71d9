import Dispatch
import Foundation

/// Exact causal softmax rows of one query head, A[i, j] = exp(S[i, j] − lse_i) for the keys j
/// row i sees (j ≤ i inside the spec's window; 0 elsewhere) with S = cap(scale · q_i · k_j) — the
/// spec's scale (1/√d by default) and softcap — the probe primitive every estimator here is built on (probe rows of the
/// skeleton, MInference's last 64 queries, the oracle's full pass).
///
/// Logits come from one matrix product per batch of rows (`Gemm`, BLAS when present), reading the
/// head's rows in place (leading dimension heads · d). Softmax is done in Double for the row sum so
/// long rows keep full precision; probabilities are stored as Float.
enum ExactRows {
    /// Probabilities of the given rows (any order), as a rows.count × width matrix, width =
    /// max(rows) + 1 (entries a row does not see are 0). Also returns each row's log-sum-exp.
    /// Rows must lie in 0..<N (callers build them; not user input); the spec must be causal.
    static func probabilities(_ x: AttentionInputs, head: Int, rows: [Int],
                              spec: AttentionSpec = .causal) throws -> (p: [Float], width: Int, lse: [Double]) {
        guard let maxRow = rows.max() else { return ([], 0, []) }
        let width = maxRow + 1
        let s = x.shape, d = s.headDim
        let kv = s.kvHead(forQueryHead: head)
        var qRows = [Float](repeating: 0, count: rows.count * d)
        for (r, i) in rows.enumerated() {
            let o = x.qOffset(token: i, head: head)
            for t in 0..<d { qRows[r * d + t] = x.q[o + t] }
        }
        var p = [Float](repeating: 0, count: rows.count * width)
        let scale = Float(spec.softmaxScale(headDim: d))
        try qRows.withUnsafeBufferPointer { qa in
            try x.k.withUnsafeBufferPointer { ka in
                try p.withUnsafeMutableBufferPointer { pa in
                    try Gemm.multiply(transA: false, transB: true, m: rows.count, n: width, k: d, alpha: scale,
                                      a: qa.baseAddress!, lda: d,
                                      b: ka.baseAddress! + x.kOffset(token: 0, kvHead: kv), ldb: s.kvHeads * d,
                                      c: pa.baseAddress!, ldc: width)
                }
            }
        }
        var lse = [Double](repeating: 0, count: rows.count)
        p.withUnsafeMutableBufferPointer { pa in
            let base = pa.baseAddress!
            lse.withUnsafeMutableBufferPointer { la in
                let lbase = la.baseAddress!
                DispatchQueue.concurrentPerform(iterations: rows.count) { r in
                    let row = base + r * width
                    spec.capLogits(row, count: rows[r] + 1)
                    let first = spec.firstKey(query: rows[r])
                    row.update(repeating: 0, count: first)
                    lbase[r] = softmaxInPlace(row + first, count: rows[r] + 1 - first, width: width - first)
                }
            }
        }
        return (p, width, lse)
    }

    /// Turns logits[0..<count] into probabilities, zeroes [count, width), returns the log-sum-exp.
    @inline(__always)
    static func softmaxInPlace(_ row: UnsafeMutablePointer<Float>, count: Int, width: Int) -> Double {
        let m = VectorMath.maximum(row, count: count)
        let sum = Double(VectorMath.expShifted(row, count: count, shift: m))
        let inv = Float(1 / sum)
        for j in 0..<count { row[j] *= inv }
        for j in count..<width { row[j] = 0 }
        return Double(m) + log(sum)
    }
}

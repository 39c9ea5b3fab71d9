import Dispatch

/// Softmax of a small score matrix: for rows a of A (ma × dd) against rows b of B (mb × dd),
/// P[a, b] = softmax_b(scale · A_a · B_b) over b ≤ lastB(a) (0 elsewhere). The block-level
/// estimators (FlexPrefill-style pooled scores, XAttention-style antidiagonal scores) reduce to
/// this after building their pooled / stacked rows.
enum PooledSoftmax {
    static func probabilities(a: [Float], b: [Float], ma: Int, mb: Int, dd: Int, scale: Float,
                              lastB: (Int) -> Int) throws -> [Float] {
        var p = try Gemm.multiply(a, b, m: ma, n: mb, k: dd, transB: true)
        let limits = (0..<ma).map { min(mb - 1, lastB($0)) }
        p.withUnsafeMutableBufferPointer { pa in
            let base = pa.baseAddress!
            DispatchQueue.concurrentPerform(iterations: ma) { r in
                let row = base + r * mb
                for j in 0...limits[r] { row[j] *= scale }
                _ = ExactRows.softmaxInPlace(row, count: limits[r] + 1, width: mb)
            }
        }
        return p
    }
}

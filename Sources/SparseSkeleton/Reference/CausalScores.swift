/// Shared pieces of the CPU reference attention: the scaled score block S = Q_I·K_Jᵀ/√d of one
/// query head computed with `Gemm` straight from the [N, heads, d] buffers, and the per-row
/// causal softmax numerators.
enum CausalScores {
    /// The softmax scale 1/√d.
    @inline(__always) static func scale(headDim: Int) -> Float { 1 / Float(headDim).squareRoot() }

    /// out[t·ldOut + u] = (q[rows.lowerBound + t, head] · k[keys.lowerBound + u, kvHead]) / √d.
    /// Q and K rows are read in place: a head's rows have stride heads·d in the sequence-major layout.
    static func compute(q: UnsafePointer<Float>, k: UnsafePointer<Float>, shape: AttentionShape,
                        head: Int, rows: Range<Int>, keys: Range<Int>,
                        into out: UnsafeMutablePointer<Float>, ldOut: Int) throws {
        let d = shape.headDim
        let kvHead = shape.kvHead(forQueryHead: head)
        try Gemm.multiply(transB: true, m: rows.count, n: keys.count, k: d,
                          alpha: scale(headDim: d),
                          a: q + (rows.lowerBound * shape.queryHeads + head) * d, lda: shape.queryHeads * d,
                          b: k + (keys.lowerBound * shape.kvHeads + kvHead) * d, ldb: shape.kvHeads * d,
                          beta: 0, c: out, ldc: ldOut)
    }

    /// How many keys of `keys` row i may see (j ≤ i): 0 when the whole range lies in i's future.
    @inline(__always) static func visibleCount(row i: Int, keys: Range<Int>) -> Int {
        max(0, min(keys.count, i - keys.lowerBound + 1))
    }
}

extension AttentionInputs {
    /// V, or `invalidArgument` when the inputs carry only Q and K.
    func requireV() throws -> [Float] {
        guard let v else { throw SkeletonError.invalidArgument("attention output needs V, but only Q and K were given") }
        return v
    }
}

/// A raw pointer that may cross into `concurrentPerform` workers; each worker writes a disjoint
/// region, which is what makes sharing it sound.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

/// Shared pieces of the CPU reference attention: the scaled score block S = scale · Q_I·K_Jᵀ of
/// one query head computed with `Gemm` straight from the [N, heads, d] buffers (softcapped when
/// the spec has one), and the keys each row sees.
enum CausalScores {
    /// The spec's softmax scale in Float; without one, 1/√d rounded the way this path always has.
    @inline(__always) static func scale(headDim: Int, spec: AttentionSpec) -> Float {
        if let s = spec.scale { return Float(s) }
        return 1 / Float(headDim).squareRoot()
    }

    /// out[t·ldOut + u] = cap(scale · q[rows.lowerBound + t, head] · k[keys.lowerBound + u, kvHead]).
    /// Q and K rows are read in place: a head's rows have stride heads·d in the sequence-major layout.
    static func compute(q: UnsafePointer<Float>, k: UnsafePointer<Float>, shape: AttentionShape,
                        head: Int, rows: Range<Int>, keys: Range<Int>, spec: AttentionSpec = .causal,
                        into out: UnsafeMutablePointer<Float>, ldOut: Int) throws {
        let d = shape.headDim
        let kvHead = shape.kvHead(forQueryHead: head)
        try Gemm.multiply(transB: true, m: rows.count, n: keys.count, k: d,
                          alpha: scale(headDim: d, spec: spec),
                          a: q + (rows.lowerBound * shape.queryHeads + head) * d, lda: shape.queryHeads * d,
                          b: k + (keys.lowerBound * shape.kvHeads + kvHead) * d, ldb: shape.kvHeads * d,
                          beta: 0, c: out, ldc: ldOut)
        if spec.softcap != nil {
            for t in 0..<rows.count { spec.capLogits(out + t * ldOut, count: keys.count) }
        }
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

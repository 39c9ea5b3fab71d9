/// Validated Q, K (and optionally V) widened to Float, contiguous [N, heads, headDim].
/// This is what the CPU estimators and reference attention read.
public struct AttentionInputs: Sendable {
    public let shape: AttentionShape
    public let q: [Float]
    public let k: [Float]
    public let v: [Float]?

    public init(q: HeadTensor, k: HeadTensor, v: HeadTensor?) throws {
        shape = try AttentionShape.validate(q: q, k: k, v: v)
        self.q = q.floats(); self.k = k.floats(); self.v = v?.floats()
    }

    public init(shape: AttentionShape, q: [Float], k: [Float], v: [Float]?) throws {
        let nq = shape.tokens * shape.queryHeads * shape.headDim
        let nk = shape.tokens * shape.kvHeads * shape.headDim
        guard q.count == nq else { throw SkeletonError.shapeMismatch("Q has \(q.count) values, \(shape) needs \(nq)") }
        guard k.count == nk else { throw SkeletonError.shapeMismatch("K has \(k.count) values, \(shape) needs \(nk)") }
        if let v, v.count != nk { throw SkeletonError.shapeMismatch("V has \(v.count) values, \(shape) needs \(nk)") }
        for (name, t, heads) in [("Q", q, shape.queryHeads), ("K", k, shape.kvHeads), ("V", v ?? [], shape.kvHeads)] {
            if let i = t.firstIndex(where: { !$0.isFinite }) {
                throw SkeletonError.nonFinite(tensor: name, token: i / (heads * shape.headDim),
                                              head: (i / shape.headDim) % heads, dim: i % shape.headDim, value: t[i])
            }
        }
        self.shape = shape; self.q = q; self.k = k; self.v = v
    }

    /// Offset of q[token, head, 0].
    @inline(__always) public func qOffset(token: Int, head: Int) -> Int { (token * shape.queryHeads + head) * shape.headDim }
    /// Offset of k[token, kvHead, 0] (also v).
    @inline(__always) public func kOffset(token: Int, kvHead: Int) -> Int { (token * shape.kvHeads + kvHead) * shape.headDim }

    /// `body` on the base addresses of Q and K (valid only during the call).
    func withQK<R>(_ body: (UnsafePointer<Float>, UnsafePointer<Float>) throws -> R) rethrows -> R {
        try q.withUnsafeBufferPointer { qb in try k.withUnsafeBufferPointer { kb in try body(qb.baseAddress!, kb.baseAddress!) } }
    }
}

/// The validated geometry of one causal attention problem (batch 1): N tokens,
/// `queryHeads` query heads sharing `kvHeads` K/V heads (MHA when equal, GQA otherwise).
public struct AttentionShape: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let tokens: Int
    public let queryHeads: Int
    public let kvHeads: Int
    public let headDim: Int

    public var groupSize: Int { queryHeads / kvHeads }
    /// The K/V head that query head `h` reads.
    @inline(__always) public func kvHead(forQueryHead h: Int) -> Int { h / groupSize }
    public var description: String { "N=\(tokens) heads=\(queryHeads)/\(kvHeads) d=\(headDim)" }

    public init(tokens: Int, queryHeads: Int, kvHeads: Int, headDim: Int) throws {
        guard tokens > 0 else { throw SkeletonError.emptySequence("the attention input") }
        guard queryHeads > 0, kvHeads > 0, queryHeads % kvHeads == 0 else {
            throw SkeletonError.headsNotDivisible(queryHeads: queryHeads, kvHeads: kvHeads)
        }
        guard SkeletonError.supportedHeadDims.contains(headDim) else { throw SkeletonError.unsupportedHeadDim(headDim) }
        self.tokens = tokens; self.queryHeads = queryHeads; self.kvHeads = kvHeads; self.headDim = headDim
    }

    /// Validates Q, K (and V when given) against each other and returns their shape.
    /// Checks, in order: N = 0, matching token counts, head dims, head divisibility, K/V agreement,
    /// and NaN/Inf anywhere.
    public static func validate(q: HeadTensor, k: HeadTensor, v: HeadTensor?, checkFinite: Bool = true) throws -> AttentionShape {
        for t in [q, k] + (v.map { [$0] } ?? []) where t.tokens == 0 {
            throw SkeletonError.emptySequence("tensor \(t.name)")
        }
        guard k.tokens == q.tokens else {
            throw SkeletonError.shapeMismatch("\(k.name) has \(k.tokens) tokens but \(q.name) has \(q.tokens)")
        }
        guard k.headDim == q.headDim else {
            throw SkeletonError.shapeMismatch("\(k.name) head dim \(k.headDim) differs from \(q.name) head dim \(q.headDim)")
        }
        if let v {
            guard v.tokens == k.tokens, v.heads == k.heads, v.headDim == k.headDim else {
                throw SkeletonError.shapeMismatch("\(v.name) is [\(v.tokens), \(v.heads), \(v.headDim)] but \(k.name) is [\(k.tokens), \(k.heads), \(k.headDim)]")
            }
        }
        let shape = try AttentionShape(tokens: q.tokens, queryHeads: q.heads, kvHeads: k.heads, headDim: q.headDim)
        if checkFinite {
            try q.checkFinite(); try k.checkFinite(); try v?.checkFinite()
        }
        return shape
    }
}

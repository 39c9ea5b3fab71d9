/// Relative error of an approximate attention output against the dense one, per query head and
/// overall, in float64:
///
///     err_h = ‖O_h − Ô_h‖_F / ‖O_h‖_F        (over all tokens and head dims of head h)
///     err   = ‖O − Ô‖_F / ‖O‖_F              (over everything)
///
/// A head whose dense output is exactly zero gets error 0 if Ô_h is zero too, +∞ otherwise.
public struct OutputError: Sendable, Equatable {
    public let perHead: [Double]
    public let overall: Double

    public init(perHead: [Double], overall: Double) { self.perHead = perHead; self.overall = overall }

    /// `approx` and `reference` are O tensors [N, heads, headDim] of `shape`'s query heads.
    public static func relative(_ approx: [Float], reference: [Float], shape: AttentionShape) throws -> OutputError {
        let count = shape.tokens * shape.queryHeads * shape.headDim
        guard approx.count == count, reference.count == count else {
            throw SkeletonError.shapeMismatch("output error needs two [\(shape.tokens), \(shape.queryHeads), \(shape.headDim)] tensors (\(count) values), got \(approx.count) and \(reference.count)")
        }
        var err = [Double](repeating: 0, count: shape.queryHeads)
        var ref = [Double](repeating: 0, count: shape.queryHeads)
        let d = shape.headDim
        for index in stride(from: 0, to: count, by: d) {
            let h = (index / d) % shape.queryHeads
            var e = 0.0, r = 0.0
            for c in index..<(index + d) {
                let a = Double(approx[c]), b = Double(reference[c])
                e += (a - b) * (a - b); r += b * b
            }
            err[h] += e; ref[h] += r
        }
        func ratio(_ e: Double, _ r: Double) -> Double { r > 0 ? (e / r).squareRoot() : (e > 0 ? .infinity : 0) }
        return OutputError(perHead: zip(err, ref).map(ratio),
                           overall: ratio(err.reduce(0, +), ref.reduce(0, +)))
    }
}

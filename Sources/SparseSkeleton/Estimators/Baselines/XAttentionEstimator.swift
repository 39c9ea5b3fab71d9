/// XAttention-style antidiagonal block scoring (Xu et al., 2025), from the paper's description.
///
/// With stride S (8), cut rows and keys into groups of S. The score of query group a against key
/// group b is the sum of the logits on the cell's antidiagonal,
///
///     z[a, b] = scale · Σ_{t<S} q_{aS+S−1−t} · k_{bS+t} / S      (the spec's scale, 1/√d by default),
///
/// computed for all (a, b) at once as one product of "stacked" rows q̃_a = [q_{aS+S−1}, …, q_{aS}]
/// and k̃_b = [k_{bS}, …, k_{bS+S−1}] (length S·d) — 1/S of dense attention's multiply-adds. An
/// antidiagonal crosses every row and every column of its cell once, so it sees both vertical and
/// slash structure. P = softmax_b(z) over causal groups; a tile's mass is the mean over its query
/// groups of the P falling into its key groups. Groups are aggregated to the kernel's tile (64 or
/// 128), the paper's block size being 128.
///
/// Targets: `.errorBound(ε)` → cumulative threshold τ = 1 − ε per query block (its native knob);
/// `.density(d)` → one global threshold across heads. Sink and diagonal tiles are always kept.
public struct XAttentionEstimator: MaskEstimator {
    public var stride = 8
    public var alwaysKeep = AlwaysKeep.standard
    public var name: String { "xattention" }
    public init() {}

    public func masses(_ x: AttentionInputs, geometry g: TileGeometry, spec: AttentionSpec = .causal) throws -> TileMasses {
        try g.requireTokens(of: x.shape)
        guard stride >= 1, g.queryTile % stride == 0, g.keyTile % stride == 0 else {
            throw SkeletonError.invalidArgument("xattention stride \(stride) must divide the tile sizes \(g.queryTile)×\(g.keyTile)")
        }
        let d = x.shape.headDim, sd = stride * d, n = g.tokens
        let groups = (n + stride - 1) / stride
        var out = try TileMasses(geometry: g, heads: x.shape.queryHeads)
        for h in 0..<x.shape.queryHeads {
            let kv = x.shape.kvHead(forQueryHead: h)
            var qs = [Float](repeating: 0, count: groups * sd), ks = [Float](repeating: 0, count: groups * sd)
            for a in 0..<groups {
                for t in 0..<stride {
                    let qi = a * stride + stride - 1 - t, kj = a * stride + t
                    if qi < n { let o = x.qOffset(token: qi, head: h); for u in 0..<d { qs[a * sd + t * d + u] = x.q[o + u] } }
                    if kj < n { let o = x.kOffset(token: kj, kvHead: kv); for u in 0..<d { ks[a * sd + t * d + u] = x.k[o + u] } }
                }
            }
            let p = try PooledSoftmax.probabilities(a: qs, b: ks, ma: groups, mb: groups, dd: sd,
                                                    scale: Float(stridedScale(spec: spec, headDim: d)),
                                                    lastB: { $0 })
            for qb in 0..<g.queryBlocks {
                let ga = (g.queryRows(qb).lowerBound / stride)..<((g.queryRows(qb).upperBound + stride - 1) / stride)
                for kb in 0...g.lastCausalKeyBlock(qb) {
                    let gb = (g.keyColumns(kb).lowerBound / stride)..<((g.keyColumns(kb).upperBound + stride - 1) / stride)
                    var s = 0.0
                    for a in ga { for b in gb where b <= a { s += Double(p[a * groups + b]) } }
                    out[h, qb, kb] = s / Double(ga.count)
                }
            }
        }
        return out
    }

    /// scale / S; without an explicit scale 1/(√d · S), rounded the way it always was.
    func stridedScale(spec: AttentionSpec, headDim d: Int) -> Double {
        if let s = spec.scale { return s / Double(stride) }
        return 1 / (Double(d).squareRoot() * Double(stride))
    }

    public func estimate(_ x: AttentionInputs, geometry g: TileGeometry, spec: AttentionSpec,
                         target: MaskTarget) throws -> MaskEstimate {
        let spec = try spec.checked(for: "the XAttention estimator")
        return try TileThreshold.mask(try masses(x, geometry: g, spec: spec), target: target, alwaysKeep: alwaysKeep, spec: spec)
    }
}

/// FlexPrefill-style query-aware block selection (Lai et al., 2025), from the paper's description:
/// mean-pool each query block and each key block, score block pairs by the softmax of the pooled
/// logits over the causal key blocks,
///
///     m̂[I, J] = softmax_J( scale · q̄_I · k̄_J )     (the spec's scale, 1/√d by default),
///
/// and keep, per query block, the highest-scoring blocks until their cumulative score reaches γ.
/// We implement the query-aware branch only (the paper switches some heads to a vertical-slash
/// branch by a divergence test; MInference covers that pattern here). Cost O((N/B)² · d).
///
/// Targets: `.errorBound(ε)` → γ = 1 − ε (its native knob); `.density(d)` → one global threshold on
/// m̂ across heads (`BudgetThreshold`). Sink and diagonal tiles are always kept.
public struct FlexPrefillEstimator: MaskEstimator {
    public var alwaysKeep = AlwaysKeep.standard
    public var name: String { "flexprefill" }
    public init() {}

    public func masses(_ x: AttentionInputs, geometry g: TileGeometry, spec: AttentionSpec = .causal) throws -> TileMasses {
        try g.requireTokens(of: x.shape)
        let d = x.shape.headDim
        var out = try TileMasses(geometry: g, heads: x.shape.queryHeads)
        for h in 0..<x.shape.queryHeads {
            let kv = x.shape.kvHead(forQueryHead: h)
            var qp = [Float](repeating: 0, count: g.queryBlocks * d), kp = [Float](repeating: 0, count: g.keyBlocks * d)
            for qb in 0..<g.queryBlocks {
                let rows = g.queryRows(qb)
                for i in rows { let o = x.qOffset(token: i, head: h); for t in 0..<d { qp[qb * d + t] += x.q[o + t] } }
                for t in 0..<d { qp[qb * d + t] /= Float(rows.count) }
            }
            for kb in 0..<g.keyBlocks {
                let cols = g.keyColumns(kb)
                for j in cols { let o = x.kOffset(token: j, kvHead: kv); for t in 0..<d { kp[kb * d + t] += x.k[o + t] } }
                for t in 0..<d { kp[kb * d + t] /= Float(cols.count) }
            }
            let p = try PooledSoftmax.probabilities(a: qp, b: kp, ma: g.queryBlocks, mb: g.keyBlocks, dd: d,
                                                    scale: Float(spec.softmaxScale(headDim: d)),
                                                    lastB: { g.lastCausalKeyBlock($0) })
            for qb in 0..<g.queryBlocks {
                for kb in 0...g.lastCausalKeyBlock(qb) { out[h, qb, kb] = Double(p[qb * g.keyBlocks + kb]) }
            }
        }
        return out
    }

    public func estimate(_ x: AttentionInputs, geometry g: TileGeometry, spec: AttentionSpec,
                         target: MaskTarget) throws -> MaskEstimate {
        let spec = try spec.checked(for: "the FlexPrefill estimator")
        return try TileThreshold.mask(try masses(x, geometry: g, spec: spec), target: target, alwaysKeep: alwaysKeep, spec: spec)
    }
}

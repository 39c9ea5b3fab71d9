import Dispatch

/// The true per-tile masses m[h, I, J] = (1/|I|) Σ_{i∈I} Σ_{j∈J, j≤i} A_h[i, j] of a layer, from a
/// full exact pass (dense causal softmax under the spec, one query block at a time so memory stays
/// O(B · N)); tiles outside the spec's window get 0.
/// Quadratic: this is the oracle's knowledge and the evaluation's ground truth, not an estimator
/// anyone would run in production.
public enum ExactTileMasses {
    public static func compute(_ x: AttentionInputs, geometry g: TileGeometry, spec: AttentionSpec = .causal) throws -> TileMasses {
        let spec = try spec.checked(for: "the exact tile masses")
        try g.requireTokens(of: x.shape)
        var out = try TileMasses(geometry: g, heads: x.shape.queryHeads)
        for h in 0..<x.shape.queryHeads {
            for qb in 0..<g.queryBlocks {
                let rows = Array(g.queryRows(qb))
                let (p, width, _) = try ExactRows.probabilities(x, head: h, rows: rows, spec: spec)
                let inv = 1 / Double(rows.count)
                for kb in 0...g.lastCausalKeyBlock(qb) {
                    let cols = g.keyColumns(kb)
                    var s = 0.0
                    for r in 0..<rows.count {
                        var t: Float = 0
                        for j in cols where j < width { t += p[r * width + j] }
                        s += Double(t)
                    }
                    out[h, qb, kb] = s * inv
                }
            }
        }
        return out
    }
}

import Foundation

/// Zeroth-order mean correction of the tiles a block-sparse mask drops, from an estimator's tile
/// masses m̂ (normalised per query block, as every tile-mass estimator yields them).
///
/// A dropped tile J contributes Σ_{j∈J} e^{s_ij} v_j to row i's numerator; at zeroth order that is
/// (its mass) × (the tile's mean V). The kernel knows the kept mass ℓ_i exactly; the estimate says
/// it is the share K̂_I = Σ_{J kept} m̂[I, J] of the whole, so the whole is ℓ_i / K̂_I and tile J's mass
/// ℓ_i · m̂[I, J] / K̂_I. Then
///
///     O_i ← K̂_I · Ô_i + c_I,     c_I = Σ_{J dropped} m̂[I, J] · mean V_J,     LSE_i ← LSE_i − log K̂_I
///
/// — per (head, query block) one scalar and one d-vector: a kernel's epilogue needs nothing per row.
/// Mean V is computed once per (KV head, key tile). With `keyWeights` (per query head, one weight per
/// key: the skeleton's vertical factor v_j) the tile's value is the weighted mean Σ w_j V_j / Σ w_j
/// instead, once per (query head, key tile): what a row far from the tile sees under the separable
/// model, where s varies little across the tile.
public struct MeanCorrection: Sendable {
    public let geometry: TileGeometry
    public let heads: Int
    public let headDim: Int
    /// K̂ per (head, query block), row = head · queryBlocks + I, in (0, 1].
    public let keptShare: [Double]
    /// c per (head, query block): `headDim` floats each.
    public let offset: [Float]

    /// `masses`: estimated tile masses of every query head (normalised here under `spec`).
    public init(masses: TileMasses, mask: BlockMask, inputs x: AttentionInputs, spec: AttentionSpec = .causal,
                keyWeights: [[Double]]? = nil) throws {
        let v = try x.requireV()
        let g = mask.geometry
        guard masses.heads == mask.heads, mask.heads == x.shape.queryHeads else {
            throw SkeletonError.shapeMismatch("mean correction: \(masses.heads) mass heads, \(mask.heads) mask heads, \(x.shape.queryHeads) query heads")
        }
        guard masses.geometry.queryTile == g.queryTile, masses.geometry.keyTile == g.keyTile, g.tokens == x.shape.tokens else {
            throw SkeletonError.shapeMismatch("mean correction: masses, mask and inputs disagree on tiles or tokens")
        }
        let d = x.shape.headDim
        if let w = keyWeights, w.count != mask.heads || w.contains(where: { $0.count != g.tokens }) {
            throw SkeletonError.shapeMismatch("mean correction: key weights must be one per key (\(g.tokens)) for each of \(mask.heads) heads")
        }
        let meanV = keyWeights == nil ? Self.tileMeanV(v, shape: x.shape, geometry: g) : []
        let norm = masses.normalisedPerQueryBlock(spec: spec)
        var share = [Double](repeating: 1, count: mask.heads * g.queryBlocks)
        var off = [Float](repeating: 0, count: mask.heads * g.queryBlocks * d)
        for h in 0..<mask.heads {
            let kvh = x.shape.kvHead(forQueryHead: h)
            let tileV = keyWeights.map { Self.tileWeightedV(v, weights: $0[h], kvHead: kvh, shape: x.shape, geometry: g) }
            for qb in 0..<g.queryBlocks {
                let r = h * g.queryBlocks + qb
                var kept = [Bool](repeating: false, count: norm.rowLength(qb))
                for b in mask.keyBlocks(head: h, queryBlock: qb) { kept[Int(b)] = true }
                var k = 0.0
                var c = [Double](repeating: 0, count: d)
                for b in 0..<kept.count {
                    let m = norm[h, qb, b]
                    if kept[b] { k += m; continue }
                    guard m > 0 else { continue }
                    if let tileV { for e in 0..<d { c[e] += m * Double(tileV[b * d + e]) }; continue }
                    let mv = (kvh * g.keyBlocks + b) * d
                    for e in 0..<d { c[e] += m * Double(meanV[mv + e]) }
                }
                share[r] = k > 0 ? min(1, k) : 1
                for e in 0..<d { off[r * d + e] = Float(k > 0 ? c[e] : 0) }
            }
        }
        geometry = g; heads = mask.heads; headDim = d; keptShare = share; offset = off
    }

    /// mean V of every (KV head, key tile), [kvHeads][keyBlocks][d]; the last tile over its keys.
    public static func tileMeanV(_ v: [Float], shape: AttentionShape, geometry g: TileGeometry) -> [Float] {
        let d = shape.headDim
        var out = [Float](repeating: 0, count: shape.kvHeads * g.keyBlocks * d)
        for kvh in 0..<shape.kvHeads {
            for b in 0..<g.keyBlocks {
                let cols = g.keyColumns(b)
                var s = [Double](repeating: 0, count: d)
                for j in cols { let p = (j * shape.kvHeads + kvh) * d; for e in 0..<d { s[e] += Double(v[p + e]) } }
                for e in 0..<d { out[(kvh * g.keyBlocks + b) * d + e] = Float(s[e] / Double(cols.count)) }
            }
        }
        return out
    }

    /// Σ_{j∈J} w_j V_j / Σ_{j∈J} w_j of every key tile J of one KV head, [keyBlocks][d] (the plain mean where Σ w = 0).
    public static func tileWeightedV(_ v: [Float], weights w: [Double], kvHead kvh: Int, shape: AttentionShape, geometry g: TileGeometry) -> [Float] {
        let d = shape.headDim
        var out = [Float](repeating: 0, count: g.keyBlocks * d)
        for b in 0..<g.keyBlocks {
            let cols = g.keyColumns(b)
            var s = [Double](repeating: 0, count: d), plain = s
            var total = 0.0
            for j in cols {
                let p = (j * shape.kvHeads + kvh) * d, wj = max(0, w[j])
                total += wj
                for e in 0..<d { s[e] += wj * Double(v[p + e]); plain[e] += Double(v[p + e]) }
            }
            for e in 0..<d { out[b * d + e] = Float(total > 0 ? s[e] / total : plain[e] / Double(cols.count)) }
        }
        return out
    }

    /// The corrected output row of (head, token): K̂ · ô + c, in place over `row` (`headDim` floats).
    @inline(__always) public func correct(_ row: UnsafeMutablePointer<Float>, head: Int, token i: Int) {
        let r = head * geometry.queryBlocks + i / geometry.queryTile
        let k = Float(keptShare[r])
        for e in 0..<headDim { row[e] = k * row[e] + offset[r * headDim + e] }
    }

    /// The result with every row corrected: O ← K̂ · O + c, LSE ← LSE − log K̂ (rows that saw no key stay).
    public func applied(to result: AttentionResult) throws -> AttentionResult {
        let n = geometry.tokens, d = headDim
        guard result.output.count == n * heads * d else {
            throw SkeletonError.shapeMismatch("mean correction for \(heads) heads × \(n) tokens × d \(d), output has \(result.output.count) values")
        }
        var o = result.output
        var lse = result.logSumExp
        o.withUnsafeMutableBufferPointer { ob in
            for i in 0..<n {
                for h in 0..<heads where lse.map({ $0[h * n + i].isFinite }) ?? true {
                    correct(ob.baseAddress! + (i * heads + h) * d, head: h, token: i)
                }
            }
        }
        if lse != nil {
            for h in 0..<heads {
                for i in 0..<n where lse![h * n + i].isFinite {
                    lse![h * n + i] -= Float(Foundation.log(keptShare[h * geometry.queryBlocks + i / geometry.queryTile]))
                }
            }
        }
        return AttentionResult(output: o, logSumExp: lse, density: result.density)
    }
}

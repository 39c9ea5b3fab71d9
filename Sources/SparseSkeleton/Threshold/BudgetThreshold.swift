/// Budget mode: ONE threshold τ for all heads (of a layer, or of many layers when their masses are
/// concatenated) so that the total number of kept tiles equals round(d · reachable tiles) (causal
/// tiles inside the spec's window; unreachable tiles are never kept).
///
/// Masses are normalised per query block, so m[h, I, J] is tile (I, J)'s share of block I's mean
/// recall; keeping the K globally largest masses maximises the summed estimated recall for K tiles.
/// A concentrated head (a few big tiles) therefore gets few tiles, a diffuse head many. τ is the
/// K-th largest mass; ties at τ are broken by (head, query block, key block) order, so the total
/// is met exactly (well inside the promised ±1 tile per head). Always-kept tiles count towards
/// the budget; if they alone exceed it, the mask is just the always-kept tiles.
public enum BudgetThreshold {
    public static func mask(_ masses: TileMasses, density: Double, alwaysKeep: AlwaysKeep = .standard,
                            spec: AttentionSpec = .causal) throws -> MaskEstimate {
        _ = try MaskTarget.density(density).validated()
        let norm = masses.normalisedPerQueryBlock(spec: spec)
        let g = masses.geometry
        let stored = masses.heads * masses.tilesPerHead
        let total = masses.heads * g.reachableTilesPerHead(spec: spec)
        let target = min(total, Int((density * Double(total)).rounded()))
        var keep = [Bool](repeating: false, count: stored)
        var candidate = [Bool](repeating: true, count: stored)
        var count = 0
        for h in 0..<masses.heads {
            for qb in 0..<g.queryBlocks {
                for b in 0..<g.firstReachableKeyBlock(qb, spec: spec) {
                    candidate[norm.index(head: h, queryBlock: qb, keyBlock: b)] = false
                }
                for b in alwaysKeep.keyBlocks(queryBlock: qb, geometry: g, spec: spec) {
                    keep[norm.index(head: h, queryBlock: qb, keyBlock: b)] = true; count += 1
                }
            }
        }
        if count < target {
            let order = (0..<stored).filter { !keep[$0] && candidate[$0] }.sorted {
                norm.values[$0] != norm.values[$1] ? norm.values[$0] > norm.values[$1] : $0 < $1
            }
            for i in order.prefix(target - count) { keep[i] = true }
        }
        return try norm.maskFromRows { h, qb in
            let r = norm.rowRange(head: h, queryBlock: qb)
            var row: [Int32] = []
            var kept = 0.0
            for i in r where keep[i] { row.append(Int32(i - r.lowerBound)); kept += norm.values[i] }
            return (row, kept)
        }
    }
}

/// Applies either threshold mode to estimated masses: the common last step of every estimator
/// that yields per-tile masses.
public enum TileThreshold {
    public static func mask(_ masses: TileMasses, target: MaskTarget, alwaysKeep: AlwaysKeep = .standard,
                            spec: AttentionSpec = .causal) throws -> MaskEstimate {
        switch try target.tileTarget(estimator: "a tile threshold") {
        case .errorBound(let e): return try ErrorBoundThreshold.mask(masses, epsilon: e, alwaysKeep: alwaysKeep, spec: spec)
        case .density(let d): return try BudgetThreshold.mask(masses, density: d, alwaysKeep: alwaysKeep, spec: spec)
        case .timeBudget: fatalError("unreachable: tileTarget refuses time budgets")
        }
    }
}

/// Error-bound mode: per (head, query block), keep the always-kept tiles, then add tiles in
/// decreasing estimated mass until the kept estimated mass is ≥ 1 − ε (masses normalised per
/// query block first). Greedy by mass is the smallest set reaching the bound *for the estimate*
/// (a knapsack with unit costs), so density can only fall as ε grows: the kept set for a larger ε
/// is a prefix of the same ordering.
public enum ErrorBoundThreshold {
    /// One ε for every head.
    public static func mask(_ masses: TileMasses, epsilon: Double, alwaysKeep: AlwaysKeep = .standard,
                            spec: AttentionSpec = .causal) throws -> MaskEstimate {
        _ = try MaskTarget.errorBound(epsilon: epsilon).validated()
        return try mask(masses, epsilons: [Double](repeating: epsilon, count: masses.heads), alwaysKeep: alwaysKeep, spec: spec)
    }

    /// A separate ε per head (used by calibration: a head whose estimate is over-confident gets a
    /// tighter internal ε). Each ε must lie in [0, 1); ε = 0 keeps every tile with positive mass.
    /// Tiles outside the spec's window are never kept (their mass is dropped, the rest renormalised).
    public static func mask(_ masses: TileMasses, epsilons: [Double], alwaysKeep: AlwaysKeep = .standard,
                            spec: AttentionSpec = .causal) throws -> MaskEstimate {
        guard epsilons.count == masses.heads else {
            throw SkeletonError.shapeMismatch("\(epsilons.count) epsilons for \(masses.heads) heads")
        }
        for e in epsilons where !(e >= 0 && e < 1) { throw SkeletonError.epsilonOutOfRange(e) }
        let norm = masses.normalisedPerQueryBlock(spec: spec)
        return try norm.maskFromRows { h, qb in
            keepRow(norm, head: h, queryBlock: qb, epsilon: epsilons[h], alwaysKeep: alwaysKeep, spec: spec)
        }
    }

    /// The kept key blocks of one row and their estimated mass (of a normalised row); only key
    /// blocks the spec's window reaches are candidates.
    static func keepRow(_ norm: TileMasses, head h: Int, queryBlock qb: Int, epsilon: Double,
                        alwaysKeep: AlwaysKeep, spec: AttentionSpec = .causal) -> ([Int32], Double) {
        let range = norm.rowRange(head: h, queryBlock: qb)
        let n = range.count
        let first = norm.geometry.firstReachableKeyBlock(qb, spec: spec)
        var keep = [Bool](repeating: false, count: n)
        var kept = 0.0
        for b in alwaysKeep.keyBlocks(queryBlock: qb, geometry: norm.geometry, spec: spec) {
            keep[b] = true; kept += norm.values[range.lowerBound + b]
        }
        let goal = 1 - epsilon
        if kept < goal {
            let order = (first..<n).filter { !keep[$0] }.sorted {
                let a = norm.values[range.lowerBound + $0], b = norm.values[range.lowerBound + $1]
                return a != b ? a > b : $0 < $1
            }
            for b in order {
                if kept >= goal { break }
                keep[b] = true; kept += norm.values[range.lowerBound + b]
            }
        }
        var row: [Int32] = []
        for b in 0..<n where keep[b] { row.append(Int32(b)) }
        return (row, min(1, kept))
    }
}

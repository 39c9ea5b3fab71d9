import Dispatch

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

    /// The masks of a whole ε sweep (each ε for every head), mask for mask equal to
    /// `mask(_:epsilon:)` of each ε: every row is sorted once (the kept set of any ε is the
    /// always-kept tiles plus a prefix of one order, the kept mass summed in the same order), rows
    /// in parallel. For the frontier's sweeps at long N, where N/64 rows × 25 ε sorts dominate.
    public static func sweep(_ masses: TileMasses, epsilons: [Double], alwaysKeep: AlwaysKeep = .standard,
                             spec: AttentionSpec = .causal) throws -> [BlockMask] {
        for e in epsilons { _ = try MaskTarget.errorBound(epsilon: e).validated() }
        let norm = masses.normalisedPerQueryBlock(spec: spec)
        let g = norm.geometry, count = norm.heads * g.queryBlocks
        var perRow = [[[Int32]]](repeating: [], count: count)  // [head · queryBlocks + qb][ε]
        perRow.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: count) { r in
                base[r] = keepRowSweep(norm, head: r / g.queryBlocks, queryBlock: r % g.queryBlocks, epsilons: epsilons,
                                       alwaysKeep: alwaysKeep, spec: spec)
            }
        }
        return try epsilons.indices.map { e in try BlockMask(geometry: g, heads: norm.heads, rows: perRow.map { $0[e] }) }
    }

    /// `keepRow`'s kept blocks for each of `epsilons`, from one sort.
    static func keepRowSweep(_ norm: TileMasses, head h: Int, queryBlock qb: Int, epsilons: [Double],
                             alwaysKeep: AlwaysKeep, spec: AttentionSpec) -> [[Int32]] {
        let range = norm.rowRange(head: h, queryBlock: qb)
        let n = range.count
        let first = norm.geometry.firstReachableKeyBlock(qb, spec: spec)
        var always = [Bool](repeating: false, count: n)
        var kept = 0.0
        for b in alwaysKeep.keyBlocks(queryBlock: qb, geometry: norm.geometry, spec: spec) {
            always[b] = true; kept += norm.values[range.lowerBound + b]
        }
        let order = (first..<n).filter { !always[$0] }.sorted {
            let a = norm.values[range.lowerBound + $0], b = norm.values[range.lowerBound + $1]
            return a != b ? a > b : $0 < $1
        }
        var cumulative = [kept]  // cumulative[j]: kept mass after the first j of `order`
        cumulative.reserveCapacity(order.count + 1)
        for b in order { kept += norm.values[range.lowerBound + b]; cumulative.append(kept) }
        return epsilons.map { epsilon in
            let goal = 1 - epsilon
            let taken = cumulative.firstIndex { $0 >= goal } ?? order.count
            var keep = always
            for b in order.prefix(taken) { keep[b] = true }
            var row: [Int32] = []
            for b in 0..<n where keep[b] { row.append(Int32(b)) }
            return row
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

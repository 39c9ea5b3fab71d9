/// MInference's vertical-slash pattern (Jiang et al., 2024), written from the paper's description.
///
/// Per head: the last `lastQueries` (64) queries are computed exactly against all keys; a column's
/// score is its summed probability over those rows, a diagonal δ = i − j's score is the summed
/// probability on that diagonal. The top `verticalCount` columns and top `slashCount` diagonals are
/// kept, always including the first `forcedColumns` (30) columns and the last `forcedDiagonals` (100)
/// diagonals (δ < 100: the local window). Defaults 1000 / 6096.
///
/// Mapping to tiles (our kernel is block-sparse): a tile is kept when it contains a kept column (any
/// column of a causal key block is visible to its query block's last row) or a kept diagonal
/// (δ ∈ [i₀ − j₁ + 1, i₁ − 1 − j₀] for the tile's row range [i₀, i₁) and column range [j₀, j₁)).
///
/// Targets (MInference has neither knob natively):
/// - `.density(d)`: counts scaled by one factor α, (α·1000, α·6096), α found by bisection so the
///   layer's density is closest to d;
/// - `.errorBound(ε)`: per head, the fewest top columns covering 1 − ε of the probe rows' column
///   score, and the fewest top diagonals covering 1 − ε of their diagonal score.
public struct MInferenceEstimator: MaskEstimator {
    public var lastQueries = 64
    public var verticalCount = 1000
    public var slashCount = 6096
    public var forcedColumns = 30
    public var forcedDiagonals = 100
    public var name: String { "minference" }
    public init() {}

    /// Column and diagonal scores of one head from its last queries.
    struct Scores { var column: [Double]; var diagonal: [Double] }

    func scores(_ x: AttentionInputs, head: Int, spec: AttentionSpec = .causal) throws -> Scores {
        let n = x.shape.tokens
        let rows = Array(max(0, n - lastQueries)..<n)
        let (p, width, _) = try ExactRows.probabilities(x, head: head, rows: rows, spec: spec)
        var col = [Double](repeating: 0, count: n), diag = [Double](repeating: 0, count: n)
        for (ri, r) in rows.enumerated() {
            for j in 0...r { let v = Double(p[ri * width + j]); col[j] += v; diag[r - j] += v }
        }
        return Scores(column: col, diagonal: diag)
    }

    /// Indices of the `count` largest scores plus the forced ones.
    static func top(_ score: [Double], count: Int, forced: Range<Int>) -> [Bool] {
        var keep = [Bool](repeating: false, count: score.count)
        for i in forced.clamped(to: 0..<score.count) { keep[i] = true }
        let order = score.indices.sorted { score[$0] != score[$1] ? score[$0] > score[$1] : $0 < $1 }
        var taken = 0
        for i in order where taken < count { if !keep[i] { keep[i] = true }; taken += 1 }
        return keep
    }

    /// Fewest top entries covering `coverage` of the total score.
    static func countFor(coverage: Double, _ score: [Double]) -> Int {
        let total = score.reduce(0, +)
        guard total > 0 else { return 0 }
        var acc = 0.0, k = 0
        for s in score.sorted(by: >) { if acc >= coverage * total { break }; acc += s; k += 1 }
        return k
    }

    /// Tile rows of one head from kept columns and diagonals (tiles the window reaches only).
    static func rows(columns: [Bool], diagonals: [Bool], geometry g: TileGeometry, spec: AttentionSpec) -> [[Int32]] {
        let n = g.tokens
        var colBlock = [Bool](repeating: false, count: g.keyBlocks)
        for j in 0..<n where columns[j] { colBlock[j / g.keyTile] = true }
        var pre = [Int](repeating: 0, count: n + 1)
        for d in 0..<n { pre[d + 1] = pre[d] + (diagonals[d] ? 1 : 0) }
        var out: [[Int32]] = []
        for qb in 0..<g.queryBlocks {
            let ri = g.queryRows(qb)
            var row: [Int32] = []
            for kb in g.reachableKeyBlocks(qb, spec: spec) {
                let cj = g.keyColumns(kb)
                let dLo = max(0, ri.lowerBound - (cj.upperBound - 1)), dHi = min(n - 1, ri.upperBound - 1 - cj.lowerBound)
                if colBlock[kb] || (dHi >= dLo && pre[dHi + 1] - pre[dLo] > 0) { row.append(Int32(kb)) }
            }
            out.append(row)
        }
        return out
    }

    func mask(_ all: [Scores], counts: (Int) -> (Int, Int), geometry g: TileGeometry, spec: AttentionSpec) throws -> BlockMask {
        var rows: [[Int32]] = []
        for (h, s) in all.enumerated() {
            let (kv, ks) = counts(h)
            rows += Self.rows(columns: Self.top(s.column, count: kv, forced: 0..<forcedColumns),
                              diagonals: Self.top(s.diagonal, count: ks, forced: 0..<forcedDiagonals), geometry: g, spec: spec)
        }
        return try BlockMask(geometry: g, heads: all.count, rows: rows)
    }

    public func estimate(_ x: AttentionInputs, geometry g: TileGeometry, spec: AttentionSpec,
                         target: MaskTarget) throws -> MaskEstimate {
        let spec = try spec.checked(for: "the MInference estimator")
        try g.requireTokens(of: x.shape)
        let all = try (0..<x.shape.queryHeads).map { try scores(x, head: $0, spec: spec) }
        switch try target.tileTarget(estimator: "the MInference estimator") {
        case .errorBound(let e):
            let counts = all.map { (Self.countFor(coverage: 1 - e, $0.column), Self.countFor(coverage: 1 - e, $0.diagonal)) }
            return MaskEstimate(mask: try mask(all, counts: { counts[$0] }, geometry: g, spec: spec))
        case .density(let d):
            let scaled: (Double) -> (Int) -> (Int, Int) = { a in { _ in (Int((a * Double(verticalCount)).rounded()), Int((a * Double(slashCount)).rounded())) } }
            let hiA = Double(g.tokens) / Double(min(verticalCount, slashCount)) + 1
            let a = try TargetSearch.knobForDensity(d, lo: 0, hi: hiA, iterations: 16) { try mask(all, counts: scaled($0), geometry: g, spec: spec).density(spec: spec) }
            return MaskEstimate(mask: try mask(all, counts: scaled(a), geometry: g, spec: spec))
        case .timeBudget: fatalError("unreachable: tileTarget refuses time budgets")
        }
    }

    /// Masks for explicit scales α of the default counts, scores computed once (frontier sweeps).
    public func masks(_ x: AttentionInputs, geometry g: TileGeometry, spec: AttentionSpec = .causal,
                      scales: [Double]) throws -> [BlockMask] {
        let spec = try spec.checked(for: "the MInference estimator")
        let all = try (0..<x.shape.queryHeads).map { try scores(x, head: $0, spec: spec) }
        return try scales.map { a in
            try mask(all, counts: { _ in (Int((a * Double(verticalCount)).rounded()), Int((a * Double(slashCount)).rounded())) }, geometry: g, spec: spec)
        }
    }
}

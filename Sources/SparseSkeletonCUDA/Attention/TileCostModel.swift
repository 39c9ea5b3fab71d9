import SparseSkeleton

/// The time-budget mode's cost model: kernel time ≈ fixed + perTile · tiles (+ perRow · rows,
/// folded into `fixed` for a given shape), measured on this GPU for one head dim and dtype.
/// "Attention for this layer within T ms" becomes a tile budget
///     tiles = (T − estimation − fixed) / perTile,   density = tiles / causal tiles,
/// clamped to [the sink + diagonal minimum, 1]. Estimation time is passed in (0 when the mask
/// is given), so the budget covers estimation + attention.
public struct TileCostModel: CustomStringConvertible, Sendable {
    public let headDim: Int
    public let dtype: DType
    public let fixedMs: Double
    public let perTileMs: Double
    public let calibrationTokens: Int

    /// Least-squares line through (tiles, ms) points (at least two distinct tile counts).
    public init(headDim: Int, dtype: DType, fixedMs: Double, perTileMs: Double, calibrationTokens: Int) {
        self.headDim = headDim; self.dtype = dtype; self.fixedMs = fixedMs; self.perTileMs = perTileMs; self.calibrationTokens = calibrationTokens
    }

    public static func fit(headDim: Int, dtype: DType, tokens: Int, points: [(tiles: Double, ms: Double)]) throws -> TileCostModel {
        guard points.count >= 2 else { throw SkeletonError.invalidArgument("cost model needs ≥ 2 timings, got \(points.count)") }
        let n = Double(points.count)
        let mx = points.reduce(0) { $0 + $1.tiles } / n, my = points.reduce(0) { $0 + $1.ms } / n
        let sxx = points.reduce(0) { $0 + ($1.tiles - mx) * ($1.tiles - mx) }
        let sxy = points.reduce(0) { $0 + ($1.tiles - mx) * ($1.ms - my) }
        guard sxx > 0 else { throw SkeletonError.invalidArgument("cost model needs two different tile counts") }
        let b = sxy / sxx
        guard b > 0 else { throw SkeletonError.invalidArgument("cost model: time does not grow with tiles (slope \(b) ms/tile)") }
        return TileCostModel(headDim: headDim, dtype: dtype, fixedMs: max(0, my - b * mx), perTileMs: b, calibrationTokens: tokens)
    }

    public func predictMs(tiles: Int) -> Double { fixedMs + perTileMs * Double(tiles) }

    /// The density whose predicted time fits `budgetMs` after `estimationMs`.
    public func density(budgetMs: Double, estimationMs: Double, causalTiles: Int, minimumTiles: Int) -> Double {
        let tiles = (budgetMs - estimationMs - fixedMs) / perTileMs
        let clamped = min(Double(causalTiles), max(Double(minimumTiles), tiles))
        return clamped / Double(causalTiles)
    }

    public var description: String {
        "cost model \(dtype.rawValue) d\(headDim) (calibrated at N=\(calibrationTokens)): \(fixed(fixedMs, 3)) ms + \(fixed(perTileMs * 1e6, 1)) ns/tile (\(fixed(1 / perTileMs / 1e3, 1)) M tiles/s)"
    }
}

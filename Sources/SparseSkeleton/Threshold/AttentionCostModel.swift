import Foundation

/// Measured costs of one layer's attention on one device, for one head dim and dtype, in the shape
/// of the time-budget mode's tile cost model (fixed + per unit, least squares over timings):
/// - dense attention: fixed + per causal tile;
/// - sparse attention: fixed + per kept tile (a sparse tile costs more than a dense one: index loads,
///   less overlap);
/// - the mask estimate: fixed + per probe pair, heads · probe rows · N (the estimator's work is its
///   exact probe rows; `SkeletonParameters.stride(tokens:)` sets how many).
/// Tiles are counted in the attention kernel's geometry (its query tile × key tile).
public struct AttentionCostModel: Sendable, Equatable, CustomStringConvertible {
    public let headDim: Int
    public let dtype: DType
    public var denseFixedMs: Double, densePerTileMs: Double
    public var sparseFixedMs: Double, sparsePerTileMs: Double
    public var estimateFixedMs: Double, estimatePerPairMs: Double

    public init(headDim: Int, dtype: DType, denseFixedMs: Double, densePerTileMs: Double, sparseFixedMs: Double,
                sparsePerTileMs: Double, estimateFixedMs: Double, estimatePerPairMs: Double) throws {
        let all = [denseFixedMs, densePerTileMs, sparseFixedMs, sparsePerTileMs, estimateFixedMs, estimatePerPairMs]
        guard all.allSatisfy({ $0.isFinite && $0 >= 0 }), densePerTileMs > 0, sparsePerTileMs > 0 else {
            throw SkeletonError.invalidArgument("attention cost model: costs must be finite and ≥ 0, per-tile costs > 0 (got \(all))")
        }
        self.headDim = headDim; self.dtype = dtype
        self.denseFixedMs = denseFixedMs; self.densePerTileMs = densePerTileMs
        self.sparseFixedMs = sparseFixedMs; self.sparsePerTileMs = sparsePerTileMs
        self.estimateFixedMs = estimateFixedMs; self.estimatePerPairMs = estimatePerPairMs
    }

    /// fixed + slope · x through timings (x, ms): least squares with ≥ 2 distinct x, else through
    /// the origin (fixed 0). Fixed costs below 0 are clamped to 0 (the slope refitted through the origin).
    public static func line(_ points: [(x: Double, ms: Double)], what: String) throws -> (fixed: Double, slope: Double) {
        let pts = points.filter { $0.x > 0 && $0.ms.isFinite && $0.ms >= 0 }
        guard !pts.isEmpty else { throw SkeletonError.invalidArgument("attention cost model: no usable timing for \(what)") }
        let n = Double(pts.count)
        let mx = pts.reduce(0) { $0 + $1.x } / n, my = pts.reduce(0) { $0 + $1.ms } / n
        let sxx = pts.reduce(0) { $0 + ($1.x - mx) * ($1.x - mx) }
        let throughOrigin = { (0.0, pts.reduce(0) { $0 + $1.x * $1.ms } / pts.reduce(0) { $0 + $1.x * $1.x }) }
        guard sxx > 0 else { return throughOrigin() }
        let slope = pts.reduce(0) { $0 + ($1.x - mx) * ($1.ms - my) } / sxx
        let fixed = my - slope * mx
        return slope > 0 && fixed >= 0 ? (fixed, slope) : throughOrigin()
    }

    /// Fits every term from timings: dense (causal tiles, ms), sparse (kept tiles, ms), estimates (probe pairs, ms).
    public static func fit(headDim: Int, dtype: DType, dense: [(tiles: Double, ms: Double)], sparse: [(tiles: Double, ms: Double)],
                           estimates: [(pairs: Double, ms: Double)]) throws -> AttentionCostModel {
        let d = try line(dense.map { ($0.tiles, $0.ms) }, what: "dense attention")
        let s = try line(sparse.map { ($0.tiles, $0.ms) }, what: "sparse attention")
        let e = try line(estimates.map { ($0.pairs, $0.ms) }, what: "the estimate")
        return try AttentionCostModel(headDim: headDim, dtype: dtype, denseFixedMs: d.fixed, densePerTileMs: d.slope,
                                      sparseFixedMs: s.fixed, sparsePerTileMs: s.slope, estimateFixedMs: e.fixed, estimatePerPairMs: e.slope)
    }

    /// Probe pairs of one estimate: heads · (lastRows + fit and check rows) · N.
    public static func probePairs(shape: AttentionShape, parameters p: SkeletonParameters) -> Double {
        let n = shape.tokens, stride = p.stride(tokens: n)
        let strided = 2 * ((max(0, n - p.lastRows) + stride - 1) / stride)
        return Double(shape.queryHeads) * Double(min(n, p.lastRows) + strided) * Double(n)
    }

    public func denseMs(causalTiles: Int) -> Double { denseFixedMs + densePerTileMs * Double(causalTiles) }
    public func sparseMs(keptTiles: Double) -> Double { sparseFixedMs + sparsePerTileMs * keptTiles }
    public func estimateMs(probePairs: Double) -> Double { estimateFixedMs + estimatePerPairMs * probePairs }

    public var description: String {
        "attention cost model \(dtype.rawValue) d\(headDim): dense \(fmt(denseFixedMs)) ms + \(fmt(densePerTileMs * 1e6)) ns/tile, "
            + "sparse \(fmt(sparseFixedMs)) ms + \(fmt(sparsePerTileMs * 1e6)) ns/tile, estimate \(fmt(estimateFixedMs)) ms + \(fmt(estimatePerPairMs * 1e9)) ps/probe pair"
    }
    private func fmt(_ x: Double) -> String { String(format: "%.4g", x) }
}

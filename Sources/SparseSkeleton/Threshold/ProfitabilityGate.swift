/// Dense or sparse, per layer, before the mask is estimated: sparse runs only where the cost
/// model predicts estimate + sparse attention at the predicted density ≤ `margin` × dense attention.
///
/// Per head it decides nothing: the estimator runs every head of a layer in one launch and the
/// block-sparse kernel every head over one mask, so a head given all its tiles still pays the sparse
/// per-tile rate — promoting a head to dense never pays with these kernels. `headsWorthSparse`
/// says which heads' densities are below the per-tile break-even, for a kernel that could split.
public struct ProfitabilityGate: Sendable {
    public let model: AttentionCostModel
    /// Sparse must predict at most this fraction of the dense time (below 1: a margin for the model's error).
    public var margin: Double

    public init(model: AttentionCostModel, margin: Double = 0.95) throws {
        guard margin > 0, margin.isFinite else { throw SkeletonError.invalidArgument("profitability gate margin must be > 0, got \(margin)") }
        self.model = model; self.margin = margin
    }

    public struct Decision: Sendable, Equatable {
        public let sparse: Bool
        public let denseMs: Double
        /// Estimate + sparse attention at the predicted density.
        public let sparseMs: Double
        public let estimateMs: Double
        /// The density below which sparse pays (≤ 0: never, ≥ 1: always).
        public let breakEvenDensity: Double
    }

    /// The decision for one layer of `shape` in the kernel's `geometry` at `predictedDensity`
    /// (fraction of causal tiles kept), with the estimator's `parameters` (its probe rows set its cost).
    public func decide(shape: AttentionShape, dtype: DType, geometry g: TileGeometry, predictedDensity: Double,
                       parameters: SkeletonParameters) throws -> Decision {
        guard model.headDim == shape.headDim, model.dtype == dtype else {
            throw SkeletonError.invalidArgument("the cost model is for \(model.dtype.rawValue) d\(model.headDim), the layer is \(dtype.rawValue) d\(shape.headDim): measure one for this head dim and dtype")
        }
        guard predictedDensity.isFinite, predictedDensity >= 0, predictedDensity <= 1 else {
            throw SkeletonError.invalidArgument("predicted density \(predictedDensity) is outside [0, 1]")
        }
        try g.requireTokens(of: shape)
        let tiles = shape.queryHeads * g.causalTilesPerHead
        let dense = model.denseMs(causalTiles: tiles)
        let estimate = model.estimateMs(probePairs: AttentionCostModel.probePairs(shape: shape, parameters: parameters))
        let sparse = estimate + model.sparseMs(keptTiles: predictedDensity * Double(tiles))
        let breakEven = (margin * dense - estimate - model.sparseFixedMs) / (model.sparsePerTileMs * Double(tiles))
        return Decision(sparse: sparse <= margin * dense, denseMs: dense, sparseMs: sparse, estimateMs: estimate, breakEvenDensity: breakEven)
    }

    /// Per head: whether its density is below the per-tile break-even (sparse tile cost × density ≤ dense tile cost).
    public func headsWorthSparse(densities: [Double]) -> [Bool] {
        densities.map { $0 * model.sparsePerTileMs <= model.densePerTileMs }
    }
}

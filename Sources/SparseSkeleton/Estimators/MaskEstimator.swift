/// What a mask must achieve. Every estimator maps both targets onto its own knob.
public enum MaskTarget: Hashable, Sendable, CustomStringConvertible {
    /// Error bound: per query block, keep blocks until the estimated kept mass is ≥ 1 − ε.
    case errorBound(epsilon: Double)
    /// Budget: kept causal tiles / causal tiles over all heads ≈ this density, ±1 tile per head.
    case density(Double)
    /// Time budget: estimation + attention should take about this long on the device. Only an
    /// estimator with a measured cost model (the GPU ones) can meet it; it turns it into a density.
    case timeBudget(milliseconds: Double)

    /// The default sparse setting: error bound ε = 0.02. Measured on SmolLM2-135M at 8K context
    /// (bench/results/model-ppl-8k.md): perplexity +0.2–0.5% at mean density ~0.5, and needle
    /// retrieval equal to dense (model-niah-8k.md); ε = 0.05 costs +2% and loses a needle depth.
    public static let recommended = MaskTarget.errorBound(epsilon: 0.02)

    public func validated() throws -> MaskTarget {
        switch self {
        case .errorBound(let e): guard e > 0, e < 1, e.isFinite else { throw SkeletonError.epsilonOutOfRange(e) }
        case .density(let d): guard d > 0, d <= 1, d.isFinite else { throw SkeletonError.budgetOutOfRange(d) }
        case .timeBudget(let ms):
            guard ms > 0, ms.isFinite else { throw SkeletonError.invalidArgument("time budget \(ms) ms must be positive and finite") }
        }
        return self
    }

    /// The error-bound or density target of an estimator without a cost model; a time budget is
    /// refused with a message naming the estimator.
    public func tileTarget(estimator: String) throws -> MaskTarget {
        let t = try validated()
        if case .timeBudget(let ms) = t {
            throw SkeletonError.invalidArgument("\(estimator) cannot meet a time budget (\(ms) ms): that needs a GPU cost model; give ε or a density")
        }
        return t
    }

    public var description: String {
        switch self {
        case .errorBound(let e): return "eps=\(e)"
        case .density(let d): return "density=\(d)"
        case .timeBudget(let ms): return "budget=\(ms)ms"
        }
    }
}

/// The result of estimating one layer's mask: the mask, plus what the estimator believes
/// it kept (per head; nil where the estimator has no such estimate).
public struct MaskEstimate: Sendable {
    public let mask: BlockMask
    public let estimatedRecall: [Double]?
    public init(mask: BlockMask, estimatedRecall: [Double]? = nil) { self.mask = mask; self.estimatedRecall = estimatedRecall }
}

/// Anything that turns Q and K into a block mask: our skeleton, the literature baselines, the oracle.
/// Estimation is separate from the attention kernel (the MInference split).
///
/// The spec is the layer's attention: estimators compute logits with its scale (and softcap), and
/// never keep a tile its window does not reach; a density target counts reachable tiles only.
public protocol MaskEstimator: Sendable {
    /// Short name used on the command line and in tables ("skeleton", "minference", ...).
    var name: String { get }
    func estimate(_ inputs: AttentionInputs, geometry: TileGeometry, spec: AttentionSpec, target: MaskTarget) throws -> MaskEstimate
}

extension MaskEstimator {
    /// Plain causal attention at 1/√d (`.causal`).
    public func estimate(_ inputs: AttentionInputs, geometry: TileGeometry, target: MaskTarget) throws -> MaskEstimate {
        try estimate(inputs, geometry: geometry, spec: .causal, target: target)
    }
}

/// The exact block oracle: the true tile masses (a dense pass) thresholded like any estimate.
/// - `.errorBound(ε)`: per query block the smallest set of tiles whose true mass is ≥ 1 − ε —
///   greedy by true mass is optimal for a unit-cost knapsack with a coverage constraint, so no mask
///   of that query block reaches block recall 1 − ε with fewer tiles.
/// - `.density(d)`: one global threshold on true masses over all heads (the best possible budget
///   mask for mean recall).
/// It is the lower bound every estimator is measured against; its "estimation time" is a dense pass.
public struct OracleEstimator: MaskEstimator {
    public var alwaysKeep: AlwaysKeep
    public var name: String { "oracle" }
    public init(alwaysKeep: AlwaysKeep = AlwaysKeep(sinkBlocks: 0, localBlocks: 1)) { self.alwaysKeep = alwaysKeep }

    public func estimate(_ inputs: AttentionInputs, geometry: TileGeometry, spec: AttentionSpec,
                         target: MaskTarget) throws -> MaskEstimate {
        let masses = try ExactTileMasses.compute(inputs, geometry: geometry, spec: spec)
        return try TileThreshold.mask(masses, target: target, alwaysKeep: alwaysKeep, spec: spec)
    }

    /// Same, from masses already computed under `spec` (the evaluation computes them once for every target).
    public func estimate(masses: TileMasses, spec: AttentionSpec = .causal, target: MaskTarget) throws -> MaskEstimate {
        try TileThreshold.mask(masses, target: target, alwaysKeep: alwaysKeep, spec: spec)
    }
}

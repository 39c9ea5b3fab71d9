import SparseSkeleton
import SparseSkeletonModel

/// The attention the model commands name on the command line.
extension ModelSession {
    /// The attention backend for `--attention` with its target (`--epsilon` or `--density`;
    /// `MaskTarget.recommended` when neither is given); layers with a sliding window stay dense.
    static func backend(_ name: String, target: MaskTarget?, tile: Int) throws -> AttentionBackend {
        if name == "dense" { return DenseReferenceBackend() }
        let target = target ?? .recommended
        let estimator = try EstimatorRegistry.named(name)
        // sliding-window layers keep their window dense (no estimator); identical for models without windows
        return WindowedLayersDenseBackend(sparse: try MaskedReferenceBackend(estimator: estimator, target: target, queryTile: tile, keyTile: tile))
    }

    static func target(epsilon: Double?, density: Double?) throws -> MaskTarget? {
        switch (epsilon, density) {
        case (nil, nil): return nil
        case (let e?, nil): return try MaskTarget.errorBound(epsilon: e).validated()
        case (nil, let d?): return try MaskTarget.density(d).validated()
        default: throw SkeletonError.invalidArgument("give --epsilon or --density, not both")
        }
    }
}

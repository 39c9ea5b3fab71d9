import SparseSkeleton

/// The core's `MaskTarget` and `AttentionSpec` on this estimator, and the shared `DeviceMaskEstimator`
/// entry (one workspace kept per shape and geometry).
extension GPUMInferenceEstimator: DeviceMaskEstimator {
    public var name: String { "minference" }

    /// `.density(d)` → `.density(d)`. An error bound is refused: the CPU estimator's mapping (per
    /// head, the fewest top columns / diagonals covering 1 − ε of their score) needs the scores in
    /// sorted order, which no kernel here computes. A time budget is refused: no cost model.
    public static func target(for target: MaskTarget) throws -> Target {
        switch try target.validated() {
        case .density(let d): return .density(d)
        case .errorBound(let e):
            throw SkeletonError.invalidArgument("the GPU MInference estimator cannot meet an error bound (ε = \(e)): it takes a density target (or its own count scale); for ε use the CPU MInferenceEstimator")
        case .timeBudget(let ms):
            throw SkeletonError.invalidArgument("the GPU MInference estimator cannot meet a time budget (\(ms) ms): it has no cost model; it takes a density target (or its own count scale)")
        }
    }

    /// The probe's logit scale in the log2 domain: log2(e) × the spec's softmax scale (1/√d by
    /// default); refuses what the probe cannot compute (`AttentionSpec.probeScaleLog2`).
    public static func scaleLog2(spec: AttentionSpec, headDim: Int) throws -> Float {
        try spec.probeScaleLog2(headDim: headDim, estimator: "the GPU MInference estimator")
    }

    public func estimateMask(q: DeviceBuffer, k: DeviceBuffer, shape: AttentionShape, dtype: DType, geometry: TileGeometry,
                             spec: AttentionSpec, target: MaskTarget, stream: GPUStream) throws -> DeviceBlockMask {
        let t = try Self.target(for: target)
        let w: Workspace
        if let c = cachedWorkspace, c.shape == shape, c.geometry == geometry { w = c } else {
            cachedWorkspace = nil
            w = try makeWorkspace(shape: shape, geometry: geometry)
            cachedWorkspace = w
        }
        return try estimate(shape: shape, dtype: dtype, q: q, k: k, spec: spec, target: t, workspace: w, stream: stream)
    }
}

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
    /// default, computed as before so default masks stay bit-identical). The probe computes causal
    /// attention without a window or softcap; anything else is refused.
    public static func scaleLog2(spec: AttentionSpec, headDim: Int) throws -> Float {
        let s = try spec.validated()
        try s.requireCausal("the GPU MInference estimator")
        if let w = s.window {
            throw SkeletonError.invalidArgument("the GPU MInference estimator does not support sliding-window attention (window \(w)): its probe rows see every earlier key")
        }
        if let c = s.softcap {
            throw SkeletonError.invalidArgument("the GPU MInference estimator does not support logit soft-capping (softcap \(c))")
        }
        let log2e = 1.4426950408889634
        if let scale = s.scale { return Float(log2e * scale) }
        return Float(log2e / Double(headDim).squareRoot())
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

import SparseSkeleton

extension AttentionSpec {
    /// The logit factor of a GPU estimator's probes: the attention kernel's scale · log2(e). The probes
    /// compute causal softmax rows over every earlier key, so `estimator` refuses a non-causal,
    /// windowed (such a layer runs the kernel's window, not an estimated mask) or soft-capped spec.
    func probeScaleLog2(headDim: Int, estimator: String) throws -> Float {
        let spec = try validated()
        try spec.requireCausal(estimator)
        if let window = spec.window {
            throw SkeletonError.invalidArgument("\(estimator) does not estimate sliding-window attention (window \(window)): its probe rows see every earlier key; a windowed layer runs the attention kernel's window, not an estimated mask")
        }
        if let cap = spec.softcap {
            throw SkeletonError.invalidArgument("\(estimator)'s probes compute softmax without a logit softcap (asked softcap \(cap))")
        }
        return SparseFlashAttention.scaleLog2(spec: spec, headDim: headDim)
    }
}

/// Everything the benchmarks report about one mask on one layer's Q/K/V:
/// - density: kept reachable tiles / reachable tiles (overall and per head; every causal tile is
///   reachable without a window);
/// - recall: per row, the exact attention mass the mask keeps (min and mean, per head and overall);
/// - output error: ‖O − Ô‖/‖O‖ of block-sparse attention under the mask against dense attention
///   (both under the same spec);
/// - FLOPs: useful attention FLOPs the mask computes, next to dense causal.
public struct MaskQuality: Sendable {
    public let density: Double
    public let perHeadDensity: [Double]
    public let recall: MaskRecall
    public let outputError: OutputError
    public let flops: AttentionFLOPs

    public init(density: Double, perHeadDensity: [Double], recall: MaskRecall, outputError: OutputError, flops: AttentionFLOPs) {
        self.density = density; self.perHeadDensity = perHeadDensity; self.recall = recall
        self.outputError = outputError; self.flops = flops
    }

    /// The quality of `mask` on `inputs` (which must carry V).
    /// - Parameters:
    ///   - dense: dense attention on the same inputs, to reuse across masks (computed when nil).
    ///   - recall: the mask's row recall if already known (e.g. from one
    ///     `ExactAttentionMass.compute(recallOf:)` pass over many masks); computed when nil.
    ///   - spec: the layer's attention; recall, error and density are measured under it.
    public static func evaluate(_ inputs: AttentionInputs, mask: BlockMask, spec: AttentionSpec = .causal,
                                dense: AttentionResult? = nil, recall: MaskRecall? = nil) throws -> MaskQuality {
        let shape = inputs.shape
        guard mask.heads == shape.queryHeads, mask.geometry.tokens == shape.tokens else {
            throw SkeletonError.shapeMismatch("mask is \(mask.heads) heads over \(mask.geometry.tokens) tokens, the inputs \(shape)")
        }
        let reference = try dense ?? ReferenceAttention.dense(inputs, spec: spec)
        let sparse = try ReferenceAttention.masked(inputs, mask: mask, spec: spec)
        let error = try OutputError.relative(sparse.output, reference: reference.output, shape: shape)
        let rowRecall = try recall ?? ExactAttentionMass.recall(inputs, masks: [mask], spec: spec)[0]
        guard rowRecall.perHeadMean.count == shape.queryHeads else {
            throw SkeletonError.shapeMismatch("recall has \(rowRecall.perHeadMean.count) heads, the inputs \(shape.queryHeads)")
        }
        return MaskQuality(density: mask.density(spec: spec),
                           perHeadDensity: (0..<mask.heads).map { mask.density(head: $0, spec: spec) },
                           recall: rowRecall, outputError: error,
                           flops: AttentionFLOPs.of(mask, headDim: shape.headDim, spec: spec))
    }

    /// Quality of several masks (same heads and geometry) with one dense pass and one exact-mass
    /// pass shared by all of them.
    public static func evaluate(_ inputs: AttentionInputs, masks: [BlockMask], spec: AttentionSpec = .causal) throws -> [MaskQuality] {
        guard let geometry = masks.first?.geometry else { return [] }
        let dense = try ReferenceAttention.dense(inputs, spec: spec)
        let recalls = try ExactAttentionMass.compute(inputs, geometry: geometry, spec: spec, recallOf: masks).recalls
        return try zip(masks, recalls).map { try evaluate(inputs, mask: $0, spec: spec, dense: dense, recall: $1) }
    }
}

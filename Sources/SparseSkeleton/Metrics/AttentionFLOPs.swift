/// Attention FLOPs of the forward pass, counting only useful work: each causal (i, j) pair a
/// kernel computes costs 2·d for the score q_i·k_j and 2·d for adding p_ij·v_j, so
///
///     FLOPs = 4 · d · (computed causal pairs),   dense causal = 4 · d · heads · N(N+1)/2.
///
/// Masked-out future positions inside diagonal tiles are not counted (the kernel touches them,
/// but they are not useful work); this is the convention behind "effective TFLOP/s".
public struct AttentionFLOPs: Sendable, Equatable {
    /// FLOPs of the tiles the mask keeps.
    public let computed: Double
    /// FLOPs of dense causal attention on the same shape.
    public let dense: Double

    public init(computed: Double, dense: Double) { self.computed = computed; self.dense = dense }

    /// computed / dense (1 for the full mask).
    public var fraction: Double { dense > 0 ? computed / dense : 0 }

    /// Dense causal attention FLOPs for `heads` query heads.
    public static func denseCausal(tokens: Int, heads: Int, headDim: Int) -> Double {
        4 * Double(headDim) * Double(heads) * Double(tokens) * Double(tokens + 1) / 2
    }

    /// FLOPs of `mask` for head dim `headDim`, next to dense causal attention; under a windowed
    /// spec only seen pairs count, on both sides.
    public static func of(_ mask: BlockMask, headDim: Int, spec: AttentionSpec = .causal) -> AttentionFLOPs {
        guard spec.window != nil else {
            return AttentionFLOPs(computed: 4 * Double(headDim) * Double(mask.computedPairs),
                                  dense: denseCausal(tokens: mask.geometry.tokens, heads: mask.heads, headDim: headDim))
        }
        return AttentionFLOPs(computed: 4 * Double(headDim) * Double(mask.computedPairs(spec: spec)),
                              dense: 4 * Double(headDim) * Double(mask.heads * mask.geometry.seenPairsPerHead(spec: spec)))
    }
}

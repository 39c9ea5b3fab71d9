import Foundation

extension AttentionSpec {
    /// The keys of `keys` query `i` sees, as offsets into `keys` (empty when none): the window's
    /// first key and the causal diagonal clipped to the range.
    @inline(__always) func visibleOffsets(query i: Int, keys: Range<Int>) -> Range<Int> {
        let lo = max(0, firstKey(query: i) - keys.lowerBound)
        let hi = causal ? min(keys.count, i - keys.lowerBound + 1) : keys.count
        return lo..<max(lo, hi)
    }

    /// Applies the softcap s ↦ c · tanh(s / c) to `count` scaled logits in place (no-op without one).
    @inline(__always) func capLogits(_ row: UnsafeMutablePointer<Float>, count: Int) {
        guard let c = softcap else { return }
        let cf = Float(c), inv = Float(1 / c)
        for j in 0..<count { row[j] = cf * Foundation.tanh(row[j] * inv) }
    }

    /// The softcap of one scaled logit in Double (identity without one).
    @inline(__always) public func capLogit(_ s: Double) -> Double {
        guard let c = softcap else { return s }
        return c * Foundation.tanh(s / c)
    }

    /// `validated()` plus `requireCausal(who)`: what every causal-only CPU component checks first.
    public func checked(for who: String) throws -> AttentionSpec {
        let s = try validated()
        try s.requireCausal(who)
        return s
    }

    /// True when the spec is plain causal attention at the default 1/√d (the only spec a kernel
    /// without window, scale or softcap support computes).
    public var isPlainCausal: Bool { causal && window == nil && scale == nil && softcap == nil }
}

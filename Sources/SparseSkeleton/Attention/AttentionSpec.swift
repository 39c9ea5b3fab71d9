/// What one attention layer computes, apart from its shapes: which keys a query sees and how
/// logits are scaled. Every reference, estimator, kernel and binding takes one.
///
/// - `causal`: query i sees keys j ≤ i (the only mode the kernels and estimators implement; a
///   non-causal spec is refused where it is not supported).
/// - `window`: sliding-window attention, the left extent in tokens: query i sees keys
///   j ∈ [i − window + 1, i] (window = 1 is the diagonal alone). nil = no window.
/// - `scale`: softmax scale on QKᵀ; nil = 1/√d.
/// - `softcap`: optional logit soft-capping, s ↦ c · tanh(s / c) (Gemma-2 style); nil = none.
public struct AttentionSpec: Hashable, Sendable, CustomStringConvertible {
    public var causal: Bool
    public var window: Int?
    public var scale: Double?
    public var softcap: Double?

    public init(causal: Bool = true, window: Int? = nil, scale: Double? = nil, softcap: Double? = nil) {
        self.causal = causal; self.window = window; self.scale = scale; self.softcap = softcap
    }

    /// Causal, no window, 1/√d, no softcap: every Llama-family layer.
    public static let causal = AttentionSpec()

    /// The softmax scale for head dim `headDim`.
    public func softmaxScale(headDim: Int) -> Double { scale ?? 1 / Double(headDim).squareRoot() }

    /// True when query `i` sees key `j`.
    @inline(__always) public func sees(query i: Int, key j: Int) -> Bool {
        if causal && j > i { return false }
        if let w = window, j <= i - w { return false }
        return true
    }

    /// The first key query `i` sees (0 without a window).
    @inline(__always) public func firstKey(query i: Int) -> Int {
        guard let w = window else { return 0 }
        return max(0, i - w + 1)
    }

    /// Checks the values (window ≥ 1, finite positive scale and softcap) and returns self.
    public func validated() throws -> AttentionSpec {
        if let w = window, w < 1 { throw SkeletonError.invalidArgument("attention window \(w) must be ≥ 1 token") }
        if let s = scale, !(s.isFinite && s > 0) { throw SkeletonError.invalidArgument("softmax scale \(s) must be positive and finite") }
        if let c = softcap, !(c.isFinite && c > 0) { throw SkeletonError.invalidArgument("logit softcap \(c) must be positive and finite") }
        return self
    }

    /// Refuses what a causal-only component (`who`) cannot compute.
    public func requireCausal(_ who: String) throws {
        guard causal else { throw SkeletonError.invalidArgument("\(who) computes causal attention only; the spec is not causal") }
    }

    public var description: String {
        var parts = [causal ? "causal" : "full"]
        if let w = window { parts.append("window \(w)") }
        if let s = scale { parts.append("scale \(s)") }
        if let c = softcap { parts.append("softcap \(c)") }
        return parts.joined(separator: ", ")
    }
}

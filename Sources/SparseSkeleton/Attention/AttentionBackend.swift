/// The result of one layer's causal attention.
public struct AttentionResult: Sendable {
    /// O, [N, queryHeads, headDim] contiguous.
    public let output: [Float]
    /// Row log-sum-exp of the scaled logits, [queryHeads, N] (natural log), when the backend has it.
    public let logSumExp: [Float]?
    /// Fraction of causal tiles computed (1 for dense).
    public let density: Double
    public init(output: [Float], logSumExp: [Float]?, density: Double) {
        self.output = output; self.logSumExp = logSumExp; self.density = density
    }
}

/// Pluggable attention for model prefill: dense reference, skeleton-masked, a baseline-masked,
/// or a GPU kernel. `layer` lets a backend keep per-layer state or statistics; `spec` is that
/// layer's attention (window, scale, softcap) — a backend that cannot compute it throws.
public protocol AttentionBackend: AnyObject {
    var name: String { get }
    func attend(_ inputs: AttentionInputs, layer: Int, spec: AttentionSpec) throws -> AttentionResult
}

extension AttentionBackend {
    /// Plain causal attention at 1/√d (`.causal`).
    public func attend(_ inputs: AttentionInputs, layer: Int) throws -> AttentionResult {
        try attend(inputs, layer: layer, spec: .causal)
    }
}

import Foundation
import SparseSkeleton

/// One perplexity measurement: a forward pass over the window with one attention backend.
///
///     ppl = exp( −(1/(N−1)) Σ_{i=1}^{N−1} log p(t_i | t_0 … t_{i−1}) )
public struct PerplexityRun {
    public let setting: String
    public let perplexity: Double
    public let meanNLL: Double
    /// Density the backend reported for each layer (1 for dense).
    public let layerDensities: [Double]
    public let seconds: Double

    public var meanDensity: Double { layerDensities.isEmpty ? 1 : layerDensities.reduce(0, +) / Double(layerDensities.count) }

    public static func measure(_ model: any CausalLM, tokens: [Int32], backend: AttentionBackend, setting: String) throws -> PerplexityRun {
        let t0 = ModelSession.now()
        let result = try model.prefill(tokens: tokens, attention: backend, captureLayers: [], capture: nil, keepCache: false,
                                       progress: ModelSession.progress(tokens: tokens.count, label: setting))
        let lp = try model.targetLogProbabilities(result, targets: Array(tokens.dropFirst()))
        let nll = -lp.reduce(0, +) / Double(lp.count)
        let secs = ModelSession.now() - t0
        ModelSession.log(String(format: "  %@: ppl %.4f, mean density %.3f, %.1f s (%.0f tok/s)", setting, Foundation.exp(nll),
                                result.meanDensity, secs, Double(tokens.count) / secs))
        return PerplexityRun(setting: setting, perplexity: Foundation.exp(nll), meanNLL: nll,
                             layerDensities: result.layerDensities, seconds: secs)
    }
}

import Dispatch
import SparseSkeleton
import SparseSkeletonModel

/// What a greedy decode on the GPU prefill produced.
public struct GPUGreedyResult: Sendable {
    /// The decoded tokens (a stop token, when one came, is not included).
    public let tokens: [Int32]
    /// The prompt's own prefill (masks recorded in the sparse modes: `timings.layerDensities`).
    public let promptPrefill: GPUPrefillResult
    /// Prefills run: one per decoded token (the last one's argmax may be a stop token).
    public let prefills: Int
    /// Host wall-clock of the whole decode, seconds.
    public let seconds: Double
}

extension GPUModelPrefill {
    /// Greedy decoding without a K/V cache (the GPU prefill keeps none): token t + 1 is the argmax
    /// (`greedyArgmax`: the first largest logit) of the last position of a full prefill of the prompt
    /// and the t tokens decoded so far, in the same attention mode each time, so a sparse mode estimates
    /// its masks afresh at every length and the answer's own rows attend through them too (stricter
    /// than the CPU's dense decode over the cache). Stops after `maxTokens`, at a stop token, or once
    /// `isDone` says the tokens so far decide the answer. Buffers are reserved for the longest run.
    public func greedyByPrefill(prompt: [Int32], attention mode: GPUAttentionMode, maxTokens: Int, stopTokens: Set<Int32>,
                                isDone: ([Int32]) throws -> Bool) throws -> GPUGreedyResult {
        guard maxTokens >= 1 else { throw ModelError.invalidRequest("greedy decode of \(maxTokens) tokens") }
        let t0 = DispatchTime.now().uptimeNanoseconds
        try reserve(tokens: prompt.count + maxTokens - 1)
        let first = try prefill(tokens: prompt, attention: mode, record: GPUPrefillRecording(masks: mode.target != nil))
        var out: [Int32] = []
        var logits = first.lastLogits
        var runs = 1
        while true {
            let next = greedyArgmax(logits)
            if stopTokens.contains(next) { break }
            out.append(next)
            if out.count == maxTokens { break }
            if try isDone(out) { break }
            logits = try prefill(tokens: prompt + out, attention: mode).lastLogits
            runs += 1
        }
        return GPUGreedyResult(tokens: out, promptPrefill: first, prefills: runs,
                               seconds: Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
}

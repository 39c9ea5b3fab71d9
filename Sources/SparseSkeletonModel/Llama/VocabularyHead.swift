import Foundation
import SparseSkeleton

/// The output projection (`CausalLM.targetLogProbabilities` applies it a chunk of rows at a time).
extension LlamaModel {
    /// Logits of hidden rows `rows` ([rows.count, V], row-major).
    public func logits(_ result: PrefillResult, rows: Range<Int>) throws -> [Float] {
        let e = config.embedding
        guard rows.lowerBound >= 0, rows.upperBound <= result.tokens else {
            throw ModelError.invalidRequest("rows \(rows) outside 0..<\(result.tokens)")
        }
        let slice = Array(result.hidden[(rows.lowerBound * e)..<(rows.upperBound * e)])
        return try Self.linear(slice, rows: rows.count, inDim: e, weights.output, outDim: config.vocabSize)
    }
}

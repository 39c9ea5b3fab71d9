import Foundation
import SparseSkeleton

/// The output projection (`CausalLM.targetLogProbabilities` applies it a chunk of rows at a time).
extension LlamaModel {
    /// Logits of hidden rows `rows` ([rows.count, V], row-major).
    public func logits(_ result: PrefillResult, rows: Range<Int>) throws -> [Float] {
        try Self.headLogits(result, rows: rows, embedding: config.embedding, head: weights.output, vocabSize: config.vocabSize)
    }

    /// Hidden rows `rows` of `result` ([N, E], E = `embedding`) times `head`ᵀ ([V, E]): [rows.count, V].
    static func headLogits(_ result: PrefillResult, rows: Range<Int>, embedding e: Int, head: [Float], vocabSize: Int) throws -> [Float] {
        guard rows.lowerBound >= 0, rows.upperBound <= result.tokens else {
            throw ModelError.invalidRequest("rows \(rows) outside 0..<\(result.tokens)")
        }
        let slice = Array(result.hidden[(rows.lowerBound * e)..<(rows.upperBound * e)])
        return try linear(slice, rows: rows.count, inDim: e, head, outDim: vocabSize)
    }
}

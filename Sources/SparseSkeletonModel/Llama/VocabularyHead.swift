import Foundation
import SparseSkeleton

/// The output projection, applied a chunk of rows at a time so that 8K tokens × 49152 logits
/// (1.6 GB) never exist at once: perplexity needs only log p(target) = logit[target] − logsumexp.
extension LlamaModel {
    /// Rows of hidden states per vocabulary chunk: 256 × 49152 floats = 50 MB of scratch.
    static let headRowChunk = 256

    /// Logits of hidden rows `rows` ([rows.count, V], row-major).
    public func logits(_ result: PrefillResult, rows: Range<Int>) throws -> [Float] {
        let e = config.embedding
        guard rows.lowerBound >= 0, rows.upperBound <= result.tokens else {
            throw ModelError.invalidRequest("rows \(rows) outside 0..<\(result.tokens)")
        }
        let slice = Array(result.hidden[(rows.lowerBound * e)..<(rows.upperBound * e)])
        return try Self.linear(slice, rows: rows.count, inDim: e, weights.output, outDim: config.vocabSize)
    }

    /// Natural-log probability of `targets[t]` after the prefix ending at position t, for
    /// t in 0..<targets.count (targets[t] is normally tokens[t + 1]). Log-sum-exp in Double.
    public func targetLogProbabilities(_ result: PrefillResult, targets: [Int32]) throws -> [Double] {
        guard targets.count <= result.tokens else {
            throw ModelError.invalidRequest("\(targets.count) targets for \(result.tokens) positions")
        }
        let v = config.vocabSize
        var out: [Double] = []
        out.reserveCapacity(targets.count)
        var start = 0
        while start < targets.count {
            let rows = start..<min(targets.count, start + Self.headRowChunk)
            let logits = try self.logits(result, rows: rows)
            for (r, t) in rows.enumerated() {
                let target = Int(targets[t])
                guard target >= 0, target < v else { throw ModelError.invalidRequest("target token \(target) outside the vocabulary") }
                let lse = logits.withUnsafeBufferPointer { Self.logSumExp($0.baseAddress! + r * v, count: v) }
                out.append(Double(logits[r * v + target]) - lse)
            }
            start = rows.upperBound
        }
        return out
    }

    /// log Σ exp(x) with the maximum shifted out, summed in Double.
    static func logSumExp(_ x: UnsafePointer<Float>, count: Int) -> Double {
        let m = VectorMath.maximum(x, count: count)
        var s = 0.0
        for i in 0..<count { s += Foundation.exp(Double(x[i] - m)) }
        return Double(m) + Foundation.log(s)
    }
}


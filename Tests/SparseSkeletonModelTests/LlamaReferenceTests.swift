import XCTest
import SparseSkeleton
@testable import SparseSkeletonModel

/// The Swift prefill against the numpy reference (float64 activations, scripts/reference):
/// the same 16 tokens, layer-0 post-RoPE Q/K/V at position 3, top-5 logits and the row
/// log-sum-exp at every position.
final class LlamaReferenceTests: XCTestCase {
    func testMatchesNumpyReference() throws {
        let model = try ModelFixtures.requireLlama()
        let fx = try ModelFixtures.json("reference_logits.json")
        guard let tokens = fx["tokens"] as? [Int], let top5 = fx["top5"] as? [[[Double]]],
              let lse = fx["logsumexp"] as? [Double], let pos = fx["layer0_position"] as? Int,
              let per = fx["values_per_head"] as? Int,
              let l0 = (fx["layer0_pos3"] as? [String: Any])?["half_split"] as? [String: [[Double]]],
              let text = fx["prompt_text"] as? String else { throw SkeletonTestError.badFixture("reference_logits") }

        // The tokenizer gives the same ids (BOS, then the prompt cut to the fixture's length).
        XCTAssertEqual(Array(([1] + model.tokenizer.encode(text).map(Int.init)).prefix(tokens.count)), tokens)

        var captured: LayerQKV?
        let result = try model.prefill(tokens: tokens.map(Int32.init), attention: DenseReferenceBackend(),
                                       captureLayers: [0], capture: { captured = $0 })
        let qkv = try XCTUnwrap(captured)
        let c = model.config
        for (name, values, heads) in [("q", qkv.q, c.heads), ("k", qkv.k, c.kvHeads), ("v", qkv.v, c.kvHeads)] {
            let expected = try XCTUnwrap(l0[name])
            XCTAssertEqual(expected.count, heads)
            var worst = 0.0, scale = 0.0
            for h in 0..<heads {
                for t in 0..<per {
                    let got = Double(values[(pos * heads + h) * c.headDim + t])
                    worst = max(worst, abs(got - expected[h][t])); scale = max(scale, abs(expected[h][t]))
                }
            }
            XCTAssertLessThan(worst / scale, 1e-4, "layer 0 \(name) at position \(pos): relative error \(worst / scale)")
        }

        let logits = try model.logits(result, rows: 0..<tokens.count)
        let v = c.vocabSize
        var worstLogit = 0.0, worstLSE = 0.0
        for t in 0..<tokens.count {
            let row = Array(logits[(t * v)..<((t + 1) * v)])
            let order = row.indices.sorted { row[$0] > row[$1] }.prefix(5)
            XCTAssertEqual(order.map { $0 }, top5[t].map { Int($0[0]) }, "top-5 ids at position \(t)")
            for e in top5[t] { worstLogit = max(worstLogit, abs(Double(row[Int(e[0])]) - e[1])) }
            let myLSE = row.withUnsafeBufferPointer { LlamaModel.logSumExp($0.baseAddress!, count: v) }
            worstLSE = max(worstLSE, abs(myLSE - lse[t]))
        }
        // logits range ±35; float32 against float64 activations
        XCTAssertLessThan(worstLogit, 5e-3, "max |logit − reference| = \(worstLogit)")
        XCTAssertLessThan(worstLSE, 5e-3, "max |logsumexp − reference| = \(worstLSE)")

        // log p(target) from the chunked head agrees with the full logits.
        let targets = tokens.dropFirst().map(Int32.init)
        let lp = try model.targetLogProbabilities(result, targets: Array(targets))
        for (t, target) in targets.enumerated() {
            XCTAssertEqual(lp[t], Double(logits[t * v + Int(target)]) - lse[t], accuracy: 5e-3)
        }
    }
}

import XCTest
import SparseSkeleton
@testable import SparseSkeletonModel

/// The KV-cache decode step must reproduce what a full prefill computes for the same position:
/// decoding token t_p after a prefill of t_0 … t_{p−1} gives the hidden state (and so the logits)
/// of row p of a prefill over t_0 … t_p — two independent code paths (single-row Double attention
/// vs the dense reference backend).
final class GreedyDecoderTests: XCTestCase {
    func testDecodeStepMatchesPrefill() throws {
        let model = try ModelFixtures.requireLlama()
        let tokens: [Int32] = [1] + model.tokenizer.encode("It is a truth universally acknowledged, that")
        let p = tokens.count - 1
        let full = try model.prefill(tokens: tokens, attention: DenseReferenceBackend(), keepCache: true)
        let prefix = try model.prefill(tokens: Array(tokens[0..<p]), attention: DenseReferenceBackend(), keepCache: true)
        var cache = try XCTUnwrap(prefix.cache)
        XCTAssertEqual(cache.count, p)
        let decoder = GreedyDecoder(model: model)
        let stepped = try decoder.step(token: tokens[p], cache: &cache)
        XCTAssertEqual(cache.count, p + 1)
        let e = model.config.embedding
        let expected = full.hidden[(p * e)..<((p + 1) * e)]
        var num = 0.0, den = 0.0
        for (a, b) in zip(stepped, expected) { num += Double(a - b) * Double(a - b); den += Double(b) * Double(b) }
        XCTAssertLessThan((num / den).squareRoot(), 1e-4, "decode-step hidden state vs prefill row")

        // generate() continues with the prefill's own argmax.
        let next = try decoder.generate(after: full, count: 1)
        let logits = try model.logits(full, rows: p..<(p + 1))
        XCTAssertEqual(Int(next[0]), logits.indices.max { logits[$0] < logits[$1] })
        let noCache = try model.prefill(tokens: Array(tokens[0..<2]), attention: DenseReferenceBackend())
        XCTAssertThrowsError(try decoder.generate(after: noCache, count: 2))
    }
}

import Foundation
import XCTest
import SparseSkeleton
@testable import SparseSkeletonModel

/// The Gemma-3 270M path against Hugging Face `transformers` loading the same GGUF
/// (Fixtures/gemma3_reference.json, written by scripts/reference/gemma3_hf.py), and the
/// dequantisers against the `gguf` package's.
final class Gemma3ReferenceTests: XCTestCase {
    static let modelPath = ModelFixtures.repoRoot + "/data/models/gemma-3-270m-q4_k_m.gguf"

    static func requireGGUF() throws -> GGUFFile {
        try ModelFixtures.requireGGUF(modelPath, note: "Gemma-3 not fetched: skipped (run scripts/setup.sh --gemma)",
                                      skip: "Gemma-3 not fetched: run scripts/setup.sh --gemma")
    }

    static func requireModel() throws -> Gemma3Model { try ModelFixtures.cached { try Gemma3Model(gguf: try requireGGUF()) } }

    static func fixture() throws -> [String: Any] { try ModelFixtures.json("gemma3_reference.json") }

    func testConfigFromMetadata() throws {
        let c = try Gemma3Config(gguf: try Self.requireGGUF())
        XCTAssertEqual([c.layers, c.embedding, c.feedForward, c.heads, c.kvHeads, c.headDim, c.contextLength, c.vocabSize],
                       [18, 640, 2048, 4, 1, 256, 32768, 262144])
        XCTAssertEqual((0..<c.layers).filter { c.isGlobal(layer: $0) }, [5, 11, 17])
        XCTAssertEqual(c.spec(layer: 0), AttentionSpec(window: 512, scale: 1.0 / 16))
        XCTAssertEqual(c.spec(layer: 5), AttentionSpec(scale: 1.0 / 16))
        XCTAssertEqual(c.rope(layer: 0).base, 10000)
        XCTAssertEqual(c.rope(layer: 5).base, 1_000_000)
        let pi = try Gemma3Config(gguf: try Self.requireGGUF(), positionInterpolation: 4)
        XCTAssertEqual(pi.contextLength, 4 * 32768)
        XCTAssertEqual(pi.rope(layer: 11).linearFactor, 4)
        XCTAssertEqual(pi.rope(layer: 10).linearFactor, 1)
        XCTAssertEqual(pi.positionInterpolationLabel, "PI ×4")
        XCTAssertThrowsError(try Gemma3Config(gguf: try Self.requireGGUF(), positionInterpolation: 3)) {
            XCTAssertTrue("\($0)".contains("position interpolation ×3"), "\($0)")
        }
    }

    /// PI ×2: a global layer rotates position p as the plain model rotates p / 2; local layers unchanged.
    func testPositionInterpolationStretchesGlobalRoPE() throws {
        let plain = try Self.requireModel()
        let pi = Gemma3Model(config: try Gemma3Config(gguf: try Self.requireGGUF(), positionInterpolation: 2),
                             weights: plain.weights, tokenizer: plain.tokenizer)
        let stretched = pi.ropeTables(0..<64), base = plain.ropeTables(0..<64)
        let half = plain.config.headDim / 2
        for p in [2, 10, 62] {
            for i in [0, 7, half - 1] {
                XCTAssertEqual(stretched.global.cos[p * half + i], base.global.cos[(p / 2) * half + i], accuracy: 1e-6)
                XCTAssertEqual(stretched.local.sin[p * half + i], base.local.sin[p * half + i])
            }
        }
        XCTAssertEqual(pi.config.contextLength, 65536)
    }

    func testContextOverTheModelsIsRefused() throws {
        let model = try Self.requireModel()
        let tooLong = [Int32](repeating: 2, count: 32769)
        XCTAssertThrowsError(try model.prefill(tokens: tooLong, attention: DenseReferenceBackend())) {
            XCTAssertEqual($0 as? ModelError, .contextTooLong(requested: 32769, modelContext: 32768))
        }
    }

    /// One greedy step against the cache equals the prefill's row for the same position.
    func testDecodeStepMatchesPrefill() throws {
        let model = try Self.requireModel()
        let ids: [Int32] = [2] + model.tokenizer.encode("It is a truth universally acknowledged, that")
        let full = try model.prefill(tokens: ids, attention: DenseReferenceBackend())
        let prefix = try model.prefill(tokens: Array(ids.dropLast()), attention: DenseReferenceBackend(), keepCache: true)
        var cache = try XCTUnwrap(prefix.cache)
        let stepped = try model.step(token: ids.last!, cache: &cache)
        let e = model.config.embedding, last = ids.count - 1
        let worst = (0..<e).map { abs(stepped[$0] - full.hidden[last * e + $0]) }.max() ?? .nan
        XCTAssertLessThan(worst, 1e-3, "decode step against prefill: max |Δ hidden| \(worst)")
        // Greedy generation starts with the argmax after the prompt, then steps on.
        let out = try model.generate(after: prefix, count: 2, stopTokens: [])
        XCTAssertEqual(out.count, 2)
        XCTAssertEqual(out[0], Gemma3Model.argmax(try model.logits(full, rows: (last - 1)..<last)))
    }

    func testTokenizerIdsEqualReference() throws {
        let tok = try SentencePieceTokenizer(gguf: try Self.requireGGUF())
        let fx = try Self.fixture()
        let short = try XCTUnwrap(fx["short_strings"] as? [[String: Any]])
        for s in short {
            let text = try XCTUnwrap(s["text"] as? String), ids = try XCTUnwrap(s["ids"] as? [Int])
            XCTAssertEqual(tok.encode(text).map(Int.init), ids, text)
            XCTAssertEqual(try tok.decode(ids.map(Int32.init)), text, "decode of \(text.debugDescription)")
        }
        let windows = try XCTUnwrap(fx["windows"] as? [[String: Any]])
        XCTAssertEqual(windows.count, 3)
        for w in windows {
            let name = try XCTUnwrap(w["text"] as? String), ids = try XCTUnwrap(w["ids"] as? [Int])
            let start = try XCTUnwrap(w["start_char"] as? Int)
            let path = ModelFixtures.repoRoot + "/data/texts/\(name).txt"
            guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("texts not fetched: run scripts/setup.sh") }
            let text = String(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self).unicodeScalars.dropFirst(start))
            let mine = [tok.bosID!] + tok.encode(text, maxTokens: ids.count - 1)
            XCTAssertEqual(mine.map(Int.init), ids, "window of \(name)")
        }
    }

    /// Every quantisation type in the file, decoded by us and by the `gguf` package.
    func testDequantisationMatchesGGUFPackage() throws {
        let gguf = try Self.requireGGUF()
        let entries = try XCTUnwrap(try Self.fixture()["dequant"] as? [[String: Any]])
        XCTAssertEqual(Set(entries.compactMap { $0["type"] as? String }), ["Q8_0", "Q5_0", "Q4_K", "Q6_K"])
        for e in entries {
            let name = try XCTUnwrap(e["tensor"] as? String)
            let values = try gguf.floats(name)
            XCTAssertEqual(values.count, e["count"] as? Int)
            let idx = try XCTUnwrap(e["indices"] as? [Int]), expected = try XCTUnwrap(e["values"] as? [Double])
            for (i, v) in zip(idx, expected) { XCTAssertEqual(Double(values[i]), v, accuracy: 1e-7 * max(1, abs(v)), "\(name)[\(i)]") }
            var sum = 0.0, squares = 0.0
            for v in values { sum += Double(v); squares += Double(v) * Double(v) }
            let refSquares = try XCTUnwrap(e["sum_squares"] as? Double), refSum = try XCTUnwrap(e["sum"] as? Double)
            XCTAssertEqual(squares, refSquares, accuracy: 1e-9 * refSquares, "\(name) Σx²")
            XCTAssertEqual(sum, refSum, accuracy: 1e-9 * refSquares, "\(name) Σx")
        }
    }

    /// Compares one logits row with a reference summary; returns (max |Δ| over the top 20 and the
    /// sample, |Δ logsumexp|).
    func compare(_ row: [Float], _ ref: [String: Any], sampleIDs: [Int], label: String) throws -> (Double, Double) {
        let top = try XCTUnwrap(ref["top20"] as? [[Double]]), sample = try XCTUnwrap(ref["sample"] as? [Double])
        let order = row.indices.sorted { row[$0] > row[$1] }.prefix(5)
        XCTAssertEqual(Array(order), top.prefix(5).map { Int($0[0]) }, "\(label): top-5 ids")
        var worst = 0.0
        for e in top { worst = max(worst, abs(Double(row[Int(e[0])]) - e[1])) }
        for (i, v) in zip(sampleIDs, sample) { worst = max(worst, abs(Double(row[i]) - v)) }
        let lse = row.withUnsafeBufferPointer { Gemma3Model.logSumExp($0.baseAddress!, count: row.count) }
        return (worst, abs(lse - (ref["logsumexp"] as? Double ?? .nan)))
    }

    func testShortPromptLogitsMatchReference() throws {
        let model = try Self.requireModel()
        let fx = try Self.fixture()
        let sampleIDs = try XCTUnwrap(fx["sample_ids"] as? [Int])
        for case let s as [String: Any] in try XCTUnwrap(fx["short_logits"] as? [Any]) {
            let ids = try XCTUnwrap(s["ids"] as? [Int]).map(Int32.init)
            let result = try model.prefill(tokens: ids, attention: DenseReferenceBackend())
            let row = try model.logits(result, rows: (ids.count - 1)..<ids.count)
            let (worst, lse) = try compare(row, try XCTUnwrap(s["last"] as? [String: Any]), sampleIDs: sampleIDs, label: "\(ids.count) tokens")
            print("gemma3 \(ids.count) tokens: max |logit − reference| \(worst), |Δ logsumexp| \(lse)")
            XCTAssertLessThan(worst, Self.logitTolerance)
            XCTAssertLessThan(lse, Self.logitTolerance)
        }
    }

    /// Logits reach ±40. Both sides run float32 on the same float32 weights (the dequantisation
    /// test matches the `gguf` package's to 1e-7), so what remains is summation order (OpenBLAS
    /// against PyTorch, K ≤ 2048 per dot product, 18 layers): measured 4e-5 at 18 tokens and
    /// 7e-5 at 1K (2e-6 of the logit range); 1e-3 leaves a 10× margin and still catches any
    /// wrong op (a norm gain off by one, a wrong RoPE base or window moves logits by ≥ 0.1).
    static let logitTolerance = 1e-3

    func testWindowLogitsAndPerplexityMatchReference() throws {
        let model = try Self.requireModel()
        let fx = try Self.fixture()
        let wl = try XCTUnwrap(fx["window_logits"] as? [String: Any])
        let windows = try XCTUnwrap(fx["windows"] as? [[String: Any]])
        let ids = try XCTUnwrap(windows[0]["ids"] as? [Int]).map(Int32.init)
        XCTAssertEqual(ids.count, 1024)
        let result = try model.prefill(tokens: ids, attention: DenseReferenceBackend())
        let row = try model.logits(result, rows: 1023..<1024)
        let (worst, lse) = try compare(row, try XCTUnwrap(wl["last"] as? [String: Any]),
                                       sampleIDs: try XCTUnwrap(fx["sample_ids"] as? [Int]), label: "1K window")
        let lp = try model.targetLogProbabilities(result, targets: Array(ids.dropFirst()))
        let refLP = try XCTUnwrap(wl["target_logprobs"] as? [Double])
        let worstLP = zip(lp, refLP).map { abs($0 - $1) }.max() ?? .nan
        let ppl = Foundation.exp(-lp.reduce(0, +) / Double(lp.count))
        let refPPL = try XCTUnwrap(wl["perplexity"] as? Double)
        print(String(format: "gemma3 1K window: max |logit − reference| %.2e, |Δ logsumexp| %.2e, max |Δ log p(target)| %.2e, perplexity %.4f vs reference %.4f (%+.3f%%)",
                     worst, lse, worstLP, ppl, refPPL, (ppl / refPPL - 1) * 100))
        XCTAssertLessThan(worst, Self.logitTolerance)
        XCTAssertLessThan(lse, Self.logitTolerance)
        XCTAssertLessThan(abs(ppl / refPPL - 1), 0.005, "perplexity \(ppl) vs reference \(refPPL)")
    }
}

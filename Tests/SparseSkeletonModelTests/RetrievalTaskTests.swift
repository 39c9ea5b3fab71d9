import Foundation
import XCTest
import SparseSkeleton
@testable import SparseSkeletonModel

/// The long-context task prompts (needle, multi-key needle, key-value) on the real tokenizers:
/// seeded and deterministic, the length they promise, the answer present exactly once where the
/// question says; exact scoring; bad requests refused.
final class RetrievalTaskTests: XCTestCase {
    /// Gemma-3's SentencePiece and SmolLM2's BPE tokenizer (each skipped when its GGUF is not fetched).
    static func tokenizers() throws -> [(String, any TextTokenizer)] {
        var out: [(String, any TextTokenizer)] = []
        if FileManager.default.fileExists(atPath: Gemma3ReferenceTests.modelPath) {
            out.append(("gemma3", try ModelFixtures.cached { try SentencePieceTokenizer(gguf: try Gemma3ReferenceTests.requireGGUF()) }))
        }
        if FileManager.default.fileExists(atPath: ModelFixtures.modelPath) {
            out.append(("smollm2", try ModelFixtures.cached { try BPETokenizer(gguf: try ModelFixtures.requireModel()) }))
        }
        if out.isEmpty { throw XCTSkip("no model fetched: run scripts/setup.sh") }
        return out
    }

    static func hay(_ tok: any TextTokenizer, tokens: Int) throws -> [Int32] {
        let text = try String(contentsOfFile: ModelFixtures.repoRoot + "/data/texts/paul_graham_essays.txt", encoding: .utf8)
        return try Haystack.tokens(String(text.prefix(40_000)), name: "paul_graham_essays", tokenizer: tok, count: tokens)
    }

    static func occurrences(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    func testNeedlePromptsAreSeededExactAndHoldTheAnswerOnceAtTheDepth() throws {
        for (name, tok) in try Self.tokenizers() {
            let n = 2000
            let hay = try Self.hay(tok, tokens: n)
            var answers = Set<String>()
            for depth in [0, 10, 50, 90, 100] {
                let p = try NeedleTask(seed: 7).build(tokenizer: tok, hay: hay, tokens: n, depthPercent: depth)
                let again = try NeedleTask(seed: 7).build(tokenizer: tok, hay: hay, tokens: n, depthPercent: depth)
                XCTAssertEqual(p.tokens, again.tokens, "\(name): same seed, different prompt")
                XCTAssertEqual(p.tokens.count, n, name)
                XCTAssertEqual(p.tokens.first, tok.bosID ?? 1)
                XCTAssertEqual(p.answer.count, 7); XCTAssertNotNil(Int(p.answer))
                answers.insert(p.answer)
                let text = try tok.decode(p.tokens)
                XCTAssertEqual(Self.occurrences(p.answer, in: text), 1, "\(name) depth \(depth): the answer must occur once")
                XCTAssertTrue(text.hasSuffix("The special magic number mentioned in the text above is"), name)
                XCTAssertTrue(try tok.decode(Array(p.tokens[p.itemAt...])).trimmingCharacters(in: .whitespaces)
                    .hasPrefix("The special magic number mentioned in this text is \(p.answer)."), "\(name): the needle is not at itemAt")
                // the needle sits at or (to a sentence end) before its depth of the filler
                let needleTokens = tok.encode(" The special magic number mentioned in this text is \(p.answer). ", parseSpecial: false, maxTokens: nil).count
                let questionTokens = tok.encode("\n\n" + NeedleTask(seed: 7).question, parseSpecial: false, maxTokens: nil).count
                let target = 1 + (n - 1 - needleTokens - questionTokens) * depth / 100
                XCTAssertLessThanOrEqual(p.itemAt, target, "\(name) depth \(depth)")
                XCTAssertGreaterThanOrEqual(p.itemAt, target - Haystack.searchBack, "\(name) depth \(depth)")
                XCTAssertGreaterThan(p.answerTokens, 0)
            }
            XCTAssertGreaterThan(answers.count, 1, "\(name): every depth drew the same number")
            let other = try NeedleTask(seed: 8).build(tokenizer: tok, hay: hay, tokens: n, depthPercent: 50)
            XCTAssertNotEqual(other.answer, try NeedleTask(seed: 7).build(tokenizer: tok, hay: hay, tokens: n, depthPercent: 50).answer)
        }
    }

    func testMultiKeyPromptsAskOneOfSeveralDistinctKeys() throws {
        for (name, tok) in try Self.tokenizers() {
            let n = 3000
            let hay = try Self.hay(tok, tokens: n)
            for depth in [10, 50, 90] {
                let p = try MultiKeyNeedleTask(needles: 4, seed: 3).build(tokenizer: tok, hay: hay, tokens: n, depthPercent: depth)
                XCTAssertEqual(p.tokens, try MultiKeyNeedleTask(needles: 4, seed: 3).build(tokenizer: tok, hay: hay, tokens: n, depthPercent: depth).tokens)
                XCTAssertEqual(p.tokens.count, n, name)
                let text = try tok.decode(p.tokens)
                XCTAssertEqual(Self.occurrences("One of the special magic numbers for ", in: text), 4, name)
                XCTAssertEqual(Self.occurrences(p.answer, in: text), 1, "\(name): the asked value must occur once")
                // the asked key: its needle, and twice in the question; its needle holds the answer
                let question = text.components(separatedBy: "\n\n").last!
                let key = question.components(separatedBy: "for ")[1].components(separatedBy: " mentioned")[0]
                XCTAssertEqual(Self.occurrences(key, in: text), 3, "\(name): key \(key)")
                XCTAssertEqual(Self.occurrences("for \(key) is: \(p.answer).", in: text), 1, name)
                XCTAssertTrue(try tok.decode(Array(p.tokens[p.itemAt...])).trimmingCharacters(in: .whitespaces).hasPrefix("One of the special magic numbers for \(key) is"))
                // the three distractors have other keys and other values
                let values = text.components(separatedBy: " is: ").dropFirst().map { String($0.prefix(7)) }
                XCTAssertEqual(Set(values).count, 4, "\(name): values \(values)")
                XCTAssertTrue(question.hasSuffix("The special magic number for \(key) mentioned in the text above is"))
            }
        }
    }

    func testKeyValuePromptsAreJSONWithTheAskedPairOnce() throws {
        for (name, tok) in try Self.tokenizers() {
            let n = 2048
            for depth in [0, 10, 50, 90, 100] {
                let p = try KeyValueTask(seed: 5).build(tokenizer: tok, tokens: n, depthPercent: depth)
                XCTAssertEqual(p.tokens, try KeyValueTask(seed: 5).build(tokenizer: tok, tokens: n, depthPercent: depth).tokens, name)
                XCTAssertLessThanOrEqual(p.tokens.count, n, name)
                XCTAssertGreaterThan(p.tokens.count, n - 80, "\(name): \(p.tokens.count) tokens leave too much unused")
                let text = try tok.decode(p.tokens)
                let body = text.components(separatedBy: "JSON data:\n")[1].components(separatedBy: "\n\nKey:")[0]
                let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String], "\(name): not a JSON object")
                let pairs = Self.occurrences("\": \"", in: body)
                XCTAssertEqual(json.count, pairs, "\(name): keys repeat")
                XCTAssertGreaterThan(pairs, 10)
                let key = text.components(separatedBy: "Key: \"")[1].components(separatedBy: "\"")[0]
                XCTAssertEqual(json[key], p.answer, name)
                XCTAssertEqual(Self.occurrences(p.answer, in: text), 1, "\(name): the value must occur once")
                XCTAssertEqual(Self.occurrences(key, in: text), 2, "\(name): the key must occur in the object and the question")
                XCTAssertTrue(text.hasSuffix("The value associated with the specified key is:"))
                XCTAssertEqual(p.answer.count, 36)
                XCTAssertTrue(p.answer.allSatisfy { $0.isHexDigit || $0 == "-" })
                // the asked pair at its depth of the pairs
                let order = body.components(separatedBy: "\", \"").count
                XCTAssertEqual(order, pairs)
                XCTAssertTrue(try tok.decode(Array(p.tokens[p.itemAt...])).contains("\"\(key)\": \"\(p.answer)\""))
                let index = body.components(separatedBy: "\"\(key)\"")[0].components(separatedBy: "\": \"").count - 1
                XCTAssertEqual(index, (pairs - 1) * depth / 100, "\(name) depth \(depth)")
            }
        }
    }

    /// At 32K less the 64 tokens gpu-tasks keeps free (GPUTasksRun.answerRoom), the key-value prompt
    /// (the longest answer: a UUID) fills its room to within one pair, and its decode budget fits in 64.
    func testThe32KKeyValuePromptAndItsAnswerFitTheContext() throws {
        for (name, tok) in try Self.tokenizers() {
            let n = 32768 - 64
            let kv = try KeyValueTask(seed: 1).build(tokenizer: tok, tokens: n, depthPercent: 50)
            let pairs = Self.occurrences("\": \"", in: try tok.decode(kv.tokens))
            print("\(name): 32K key-value prompt of \(kv.tokens.count) tokens, \(pairs) pairs, answer \(kv.answerTokens) tokens")
            XCTAssertLessThanOrEqual(kv.tokens.count, n, name)
            XCTAssertGreaterThan(kv.tokens.count, n - 2 * n / pairs - 8, "\(name): more than one pair's room left unused")
            XCTAssertLessThan(kv.decodeBudget, 64, name)
        }
    }

    func testExactScoring() {
        XCTAssertTrue(RetrievalScore.isExact(" 4721.", answer: "4721"))
        XCTAssertTrue(RetrievalScore.isExact("4721", answer: "4721"))
        XCTAssertTrue(RetrievalScore.isExact(" 4721 and", answer: "4721"))
        XCTAssertFalse(RetrievalScore.isExact(" 47213", answer: "4721"))
        XCTAssertFalse(RetrievalScore.isExact(" 472", answer: "4721"))
        XCTAssertFalse(RetrievalScore.isExact(" the number 4721", answer: "4721"))
        let u = "3f2a9c1e-0b7d-4e21-9a6c-5d4e3f2a1b0c"
        XCTAssertTrue(RetrievalScore.isExact(" \"\(u)\"", answer: u))
        XCTAssertFalse(RetrievalScore.isExact(" \"\(u)-ab\"", answer: u))
        XCTAssertFalse(RetrievalScore.isExact(" \"\(u.dropLast())\"", answer: u))
        XCTAssertFalse(RetrievalScore.isDecided(" 47", answer: "4721"))
        XCTAssertTrue(RetrievalScore.isExact(": 4721.", answer: "4721"), "the needle's own 'is: VALUE' form")
        XCTAssertFalse(RetrievalScore.isDecided(":", answer: "4721"), "a colon alone decides nothing yet")
        XCTAssertFalse(RetrievalScore.isExact(":: 4721", answer: "4721"), "one colon only")
        XCTAssertFalse(RetrievalScore.isExact(" the: 4721", answer: "4721"))
        XCTAssertFalse(RetrievalScore.isDecided(" 4721", answer: "4721"))
        XCTAssertTrue(RetrievalScore.isDecided(" 4721.", answer: "4721"))
        XCTAssertTrue(RetrievalScore.isDecided(" 48", answer: "4721"))
        XCTAssertFalse(RetrievalScore.isDecided(" \"", answer: u))
    }

    func testHaystackInsertionKeepsOrderAndReportsStarts() throws {
        let hay: [Int32] = [10, 11, 12, 13]
        let r = try Haystack.insert([(at: 2, ids: [1, 1]), (at: 0, ids: [2]), (at: 2, ids: [3]), (at: 4, ids: [4])], into: hay)
        XCTAssertEqual(r.ids, [2, 10, 11, 1, 1, 3, 12, 13, 4])
        XCTAssertEqual(r.starts, [3, 0, 5, 8])
        XCTAssertThrowsError(try Haystack.insert([(at: 5, ids: [1])], into: hay))
    }

    func testBadRequestsAreRefusedByName() throws {
        let (_, tok) = try Self.tokenizers()[0]
        let hay = try Self.hay(tok, tokens: 600)
        func message(_ f: () throws -> Void) -> String {
            do { try f(); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message { _ = try NeedleTask(seed: 1).build(tokenizer: tok, hay: hay, tokens: 500, depthPercent: 101) }.contains("depth 101 is outside 0...100"))
        XCTAssertTrue(message { _ = try NeedleTask(seed: 1).build(tokenizer: tok, hay: hay, tokens: 20, depthPercent: 50) }.contains("leave no room"))
        XCTAssertTrue(message { _ = try NeedleTask(seed: 1).build(tokenizer: tok, hay: hay, tokens: 900, depthPercent: 50) }.contains("the haystack has 600 tokens"))
        XCTAssertTrue(message { _ = try MultiKeyNeedleTask(needles: 0, seed: 1).build(tokenizer: tok, hay: hay, tokens: 500, depthPercent: 50) }.contains("0 needles"))
        XCTAssertTrue(message { _ = try KeyValueTask(seed: 1).build(tokenizer: tok, tokens: 40, depthPercent: 50) }.contains("no room for a key-value pair"))
    }
}

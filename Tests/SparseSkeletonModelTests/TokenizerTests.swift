import XCTest
@testable import SparseSkeletonModel

final class TokenizerTests: XCTestCase {
    /// Every case of the fixture (ids from Hugging Face `tokenizers` rebuilt from the same GGUF)
    /// must encode to exactly the same ids and decode back to its text.
    func testMatchesIndependentTokenizer() throws {
        let gguf = try ModelFixtures.requireModel()
        let tok = try BPETokenizer(gguf: gguf)
        let fixture = try ModelFixtures.json("tokenizer_expected.json")
        guard let cases = fixture["cases"] as? [[String: Any]], !cases.isEmpty else { throw SkeletonTestError.badFixture("cases") }
        var mismatches: [String] = []
        for c in cases {
            guard let name = c["name"] as? String, let text = c["text"] as? String, let ids = c["ids"] as? [Int] else {
                throw SkeletonTestError.badFixture("case")
            }
            let got = tok.encode(text).map(Int.init)
            if got != ids { mismatches.append("\(name): got \(got.prefix(20)) expected \(ids.prefix(20))") }
            XCTAssertEqual(try tok.decode(got.map(Int32.init)), text, name)
        }
        XCTAssertTrue(mismatches.isEmpty, mismatches.joined(separator: "\n"))
        XCTAssertEqual(tok.bosID, 1)
        XCTAssertFalse(tok.addsBOS)
    }

    /// Encoding with a token limit equals the full encoding cut at that limit.
    func testMaxTokensIsATruncation() throws {
        let tok = try BPETokenizer(gguf: try ModelFixtures.requireModel())
        let text = "It is a truth universally acknowledged, that a single man in possession of 2 good fortunes, <|im_end|> must be in want of a wife."
        let full = tok.encode(text)
        for n in [0, 1, 7, 13, full.count, full.count + 5] {
            XCTAssertEqual(tok.encode(text, maxTokens: n), Array(full.prefix(n)))
        }
        XCTAssertThrowsError(try tok.decode([-1]))
        XCTAssertThrowsError(try tok.decode([Int32(tok.vocabularySize)]))
    }

    /// The pre-tokenizer on hand-picked strings, independent of any vocabulary.
    func testPreTokenizerPieces() {
        func pieces(_ s: String) -> [String] {
            let sc = Array(s.unicodeScalars)
            return PreTokenizer.split(sc, isolateDigits: true).map { r in
                var v = String.UnicodeScalarView(); v.append(contentsOf: sc[r]); return String(v)
            }
        }
        XCTAssertEqual(pieces("Hello world"), ["Hello", " world"])
        XCTAssertEqual(pieces("a  b"), ["a", " ", " b"])
        XCTAssertEqual(pieces("year 2024!"), ["year", " ", "2", "0", "2", "4", "!"])
        XCTAssertEqual(pieces("don't IT'S"), ["don", "'t", " IT", "'", "S"])
        XCTAssertEqual(pieces("x\n\ny  "), ["x", "\n", "\n", "y", "  "])
        XCTAssertEqual(pieces("a \n b"), ["a", " \n", " b"])
        XCTAssertEqual(pieces(" 's"), [" '", "s"])
    }
}

/// Long pieces go through the heap merge; it must make exactly the merges of the pairwise scan.
final class TokenizerLongPieceTests: XCTestCase {
    func testHeapMergeEqualsScanAndIsNotQuadratic() throws {
        let tok = try BPETokenizer(gguf: try ModelFixtures.requireModel())
        var rng = SystemRandomNumberGenerator()
        let alphabets = [Array("abcdefghijklmnopqrstuvwxyz".utf8), Array("eeeeaaaatttnnnsss".utf8), Array("ab".utf8), Array("a".utf8)]
        for trial in 0..<40 {
            let letters = alphabets[trial % alphabets.count]
            let length = Int.random(in: 65...600, using: &rng)
            let word = (0..<length).map { _ in letters.randomElement(using: &rng)! }
            let symbols = word.map { tok.bpe([$0]) }.flatMap { $0 }
            XCTAssertEqual(tok.bpeHeap(symbols), tok.bpeScan(symbols), String(decoding: word, as: UTF8.self))
        }
        // a single 200 000-letter word: quadratic merging would take minutes
        let start = Date()
        let ids = tok.encode(String(repeating: "abcdefghij", count: 20_000))
        XCTAssertFalse(ids.isEmpty)
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
    }
}

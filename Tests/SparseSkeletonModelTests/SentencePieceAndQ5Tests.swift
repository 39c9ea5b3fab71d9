import XCTest
@testable import SparseSkeletonModel

/// The SentencePiece merge order and byte fallback on a vocabulary small enough to follow by
/// hand, and one Q5_0 block decoded from its bit layout.
final class SentencePieceAndQ5Tests: XCTestCase {
    func tokenizer(addsSpacePrefix: Bool = false) throws -> SentencePieceTokenizer {
        // ids: 0 <unk>, 1 <bos>, 2..<258 byte tokens, then pieces with scores
        var tokens = ["<unk>", "<bos>"], types = [2, 3], scores: [Float] = [0, 0]
        for b in 0..<256 { tokens.append(String(format: "<0x%02X>", b)); types.append(6); scores.append(0) }
        let pieces: [(String, Float)] = [("a", -1), ("b", -1), ("c", -1), ("ab", -5), ("bc", -2), ("bcb", -3), ("▁", -1), ("▁a", -4)]
        for (p, s) in pieces { tokens.append(p); types.append(1); scores.append(s) }
        tokens.append("<ctl>"); types.append(3); scores.append(0)
        tokens.append("\n\n"); types.append(4); scores.append(0)
        return try SentencePieceTokenizer(tokens: tokens, scores: scores, tokenTypes: types, bosID: 1, eosID: nil, unknownID: 0,
                                          addsBOS: true, addsSpacePrefix: addsSpacePrefix)
    }

    func testMergesHighestScoreFirstAndFallsBackToBytes() throws {
        let tok = try tokenizer()
        let id = { (p: String) in Int32(tok.tokens.firstIndex(of: p)!) }
        // "abc": bc (−2) beats ab (−5), then a + bc is no piece: [a, bc] (ab first would give [ab, c]).
        XCTAssertEqual(tok.encode("abc"), [id("a"), id("bc")])
        // merges build on merges: b·c → bc, then bc·b → bcb
        XCTAssertEqual(tok.encode("bcb"), [id("bcb")])
        // "ab" alone merges; " a" → "▁a"; "d" is no piece: its byte token.
        XCTAssertEqual(tok.encode("ab a d"), [id("ab"), id("▁a"), id("▁"), 2 + 0x64])
        // two-byte "é" falls back to both bytes
        XCTAssertEqual(tok.encode("é"), [2 + 0xC3, 2 + 0xA9])
        // control tokens only when parsing specials; user-defined always
        XCTAssertEqual(tok.encode("a<ctl>\n\nb"), [id("a"), id("<ctl>"), id("\n\n"), id("b")])
        XCTAssertEqual(tok.encode("a<ctl>", parseSpecial: false).count, 6)
        XCTAssertEqual(tok.encode("abcabc", maxTokens: 3), [id("a"), id("bc"), id("a")])
        XCTAssertEqual(try tok.decode(tok.encode("ab a dé\n\n")), "ab a dé\n\n")
        XCTAssertEqual(try tokenizer(addsSpacePrefix: true).encode("a"), [id("▁a")])
    }

    func testQ5_0Block() throws {
        // d = 0.5 (f16 0x3800); value j < 16: low nibble of qs[j], fifth bit = bit j of qh;
        // value j + 16: high nibble, fifth bit = bit j + 16; x = (q − 16)·d.
        var block: [UInt8] = [0x00, 0x38]
        let qh: UInt32 = 0b1 | (1 << 17)  // value 0 and value 17 get their fifth bit
        withUnsafeBytes(of: qh.littleEndian) { block.append(contentsOf: $0) }
        for j in 0..<16 { block.append(UInt8(j) | UInt8(15 - j) << 4) }
        let values = try block.withUnsafeBytes { try Dequantizer.dequantize($0, type: .q5_0, count: 32) }
        var expected = [Float](repeating: 0, count: 32)
        for j in 0..<16 {
            expected[j] = Float(j + (j == 0 ? 16 : 0) - 16) * 0.5
            expected[j + 16] = Float(15 - j + (j == 1 ? 16 : 0) - 16) * 0.5
        }
        XCTAssertEqual(values, expected)
    }
}

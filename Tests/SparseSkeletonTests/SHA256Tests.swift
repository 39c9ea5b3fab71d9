import XCTest
import Foundation
import SparseSkeleton

/// SHA-256 against the FIPS 180-4 example digests, in one piece and in arbitrary pieces.
final class SHA256Tests: TemporaryFolderTestCase {
    func testKnownDigests() {
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testPiecewiseEqualsWholeAndFileEqualsBytes() throws {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let whole = SHA256.hex(bytes)
        var h = SHA256(), i = 0
        while i < bytes.count {
            let n = min(Int.random(in: 0...130), bytes.count - i)
            h.update(bytes[i..<(i + n)]); i += n
        }
        XCTAssertEqual(h.hexDigest(), whole)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/f"))
        XCTAssertEqual(try SHA256.hex(file: dir + "/f"), whole)
        XCTAssertNotEqual(SHA256.hex(bytes.dropLast()), whole)
    }
}

import XCTest
import Foundation
@testable import SparseSkeletonModel

/// GGUF headers that llama.cpp's reader refuses, and the ones that once took gigabytes or printed
/// a 71 MB name: each must give one clear, bounded error, quickly.
final class GGUFHostileInputTests: XCTestCase {
    private let arch: (inout SyntheticGGUF) -> Void = { w in w.string("general.architecture"); w.u32(8); w.string("llama") }
    private func f32(_ name: String, _ n: Int = 8) -> SyntheticGGUF.Tensor {
        .init(name: name, dims: [n], type: 0, data: [UInt8](repeating: 0, count: 4 * n))
    }

    private func assertRefused(_ bytes: [UInt8], containing words: [String], file: StaticString = #filePath, line: UInt = #line) {
        let start = Date()
        do {
            _ = try GGUFFile(contents: bytes, path: "crafted.gguf")
            XCTFail("accepted; expected an error with \(words)", file: file, line: line)
        } catch {
            let message = "\(error)"
            for w in words { XCTAssertTrue(message.contains(w), "'\(message)' should contain '\(w)'", file: file, line: line) }
            XCTAssertLessThan(message.utf8.count, 600, "error message is not bounded", file: file, line: line)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, "refusing took too long", file: file, line: line)
    }

    func testDuplicateKeysAndTensorNames() throws {
        assertRefused(SyntheticGGUF.make(kvCount: 2, writeKVs: { w in self.arch(&w); self.arch(&w) }, tensors: []),
                      containing: ["metadata[general.architecture]", "duplicate key"])
        assertRefused(SyntheticGGUF.make(kvCount: 0, writeKVs: { _ in }, tensors: [f32("w"), f32("w")]),
                      containing: ["tensor[w]", "duplicate tensor name"])
        XCTAssertNoThrow(try GGUFFile(contents: SyntheticGGUF.make(kvCount: 1, writeKVs: arch, tensors: [f32("w"), f32("u")]), path: "ok"))
    }

    func testTensorOffsetsMustFollowEachOther() throws {
        // two 32-byte tensors: the second belongs at 32
        let tensors = [f32("a"), f32("b")]
        assertRefused(SyntheticGGUF.make(kvCount: 0, writeKVs: { _ in }, tensors: tensors, offsets: [0, 0]),
                      containing: ["tensor[b].offset", "expected 32"])
        assertRefused(SyntheticGGUF.make(kvCount: 0, writeKVs: { _ in }, tensors: tensors, offsets: [0, 64]),
                      containing: ["tensor[b].offset", "expected 32"])
        assertRefused(SyntheticGGUF.make(kvCount: 0, writeKVs: { _ in }, tensors: tensors, offsets: [32, 0]),
                      containing: ["tensor[a].offset", "expected 0"])
        assertRefused(SyntheticGGUF.make(kvCount: 0, writeKVs: { _ in }, tensors: tensors, offsets: [0, 36]),
                      containing: ["tensor[b].offset", "not aligned"])
        assertRefused(SyntheticGGUF.make(kvCount: 0, writeKVs: { _ in }, tensors: [.init(name: "x", dims: [4], type: 99, data: [])]),
                      containing: ["tensor[x].type", "unknown GGML type id 99"])
        // an element count past Int.max (2^31 · 2^31 · 4)
        assertRefused(SyntheticGGUF.make(kvCount: 0, writeKVs: { _ in }, tensors: [.init(name: "x", dims: [1 << 31, 1 << 31, 4], type: 0, data: [])]),
                      containing: ["tensor[x].ne", "more than can be addressed"])
    }

    func testHugeLengthsAreRefusedBeforeAllocating() throws {
        // a string length far beyond the file, a string over the cap, an array count over the cap
        var bytes = SyntheticGGUF.make(kvCount: 1, writeKVs: { w in
            w.string("k"); w.u32(8); w.u64(1 << 40); w.u64(0)
        }, tensors: [])
        assertRefused(bytes, containing: ["metadata[k]", "over the cap"])
        bytes = SyntheticGGUF.make(kvCount: 1, writeKVs: { w in
            w.string("k"); w.u32(8); w.u64(1000)
        }, tensors: [])
        assertRefused(bytes, containing: ["truncated", "metadata[k]"])
        bytes = SyntheticGGUF.make(kvCount: 1, writeKVs: { w in
            w.string("k"); w.u32(9); w.u32(0); w.u64(UInt64(GGUFLimits.maxArrayCount) + 1)
        }, tensors: [])
        assertRefused(bytes, containing: ["metadata[k].count", "over the reader's cap"])
        bytes = SyntheticGGUF.make(kvCount: 1, writeKVs: { w in
            w.string("k"); w.u32(9); w.u32(8); w.u64(1 << 20)
        }, tensors: [])
        assertRefused(bytes, containing: ["metadata[k].count", "cannot fit"])
        // counts of entries themselves
        var header = SyntheticGGUF()
        header.bytes = Array("GGUF".utf8); header.u32(3); header.u64(UInt64.max); header.u64(0)
        assertRefused(header.bytes, containing: ["tensor_count", "cap"])
    }

    /// One corrupted length byte in the tensor table makes a name of megabytes: it is refused by the
    /// name cap, and the message never carries the name.
    func testHugeTensorNameGivesABoundedError() throws {
        var bytes = SyntheticGGUF.make(kvCount: 0, writeKVs: { _ in }, tensors: [f32("blk.0.attn_q.weight")])
        // the name length is the first u64 of the tensor table, right after the 24-byte preamble
        bytes.replaceSubrange(24..<32, with: withUnsafeBytes(of: UInt64(71_000_000).littleEndian) { Array($0) })
        bytes += [UInt8](repeating: UInt8(ascii: "n"), count: 72_000_000 - bytes.count)
        assertRefused(bytes, containing: ["tensor[0].name", "71000000", "cap of 63"])
        let long = String(repeating: "n", count: 64)
        assertRefused(SyntheticGGUF.make(kvCount: 0, writeKVs: { _ in }, tensors: [f32(long)]), containing: ["tensor[0].name", "cap of 63"])
        // a long key is allowed but cut in messages
        let key = String(repeating: "k", count: 60_000)
        assertRefused(SyntheticGGUF.make(kvCount: 2, writeKVs: { w in
            w.string(key); w.u32(4); w.u32(1); w.string(key); w.u32(4); w.u32(1)
        }, tensors: []), containing: ["duplicate key", "(60000 bytes)"])
    }

    /// A metadata value of the wrong kind is named in the error without printing all of it.
    func testWrongValueMessagesAreBounded() throws {
        let bytes = SyntheticGGUF.make(kvCount: 2, writeKVs: { w in
            w.string("general.alignment"); w.u32(9); w.u32(4); w.u64(1_000_000)
            for i in 0..<1_000_000 { w.u32(UInt32(i)) }
            w.string("general.name"); w.u32(8); w.string(String(repeating: "x", count: 1_000_000))
        }, tensors: [])
        assertRefused(bytes, containing: ["general.alignment", "(1000000 elements)"])
    }

    /// A large byte array takes a byte per element, not a boxed value per element.
    func testMetadataArraysAreStoredCompactly() throws {
        let n = 2_000_000
        var bytes = SyntheticGGUF.make(kvCount: 2, writeKVs: { w in
            w.string("big"); w.u32(9); w.u32(0); w.u64(UInt64(n))
            w.bytes += [UInt8](repeating: 7, count: n)
            w.string("names"); w.u32(9); w.u32(8); w.u64(3); w.string("a"); w.string(""); w.string("ccc")
        }, tensors: [])
        let g = try GGUFFile(contents: bytes, path: "big.gguf")
        let big = try g.array("big")
        guard case .uint8(let storage) = big.storage else { return XCTFail("byte array stored as \(big.storage)") }
        XCTAssertEqual(storage.count, n)
        XCTAssertEqual(big.count, n)
        XCTAssertEqual(big[n - 1], .uint8(7))
        XCTAssertEqual(try g.array("names").compactMap(\.stringValue), ["a", "", "ccc"])
        bytes.removeAll()
    }

    /// The model file is mapped only when it is a regular file; a FIFO is refused without blocking.
    func testFIFOModelIsRefusedWithoutBlocking() throws {
        let dir = NSTemporaryDirectory() + "gguf-fifo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fifo = dir + "/model.gguf"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var message = ""
        Thread {
            do { _ = try GGUFFile(path: fifo) } catch { message = "\(error)" }
            done.signal()
        }.start()
        guard done.wait(timeout: .now() + 10) == .success else {
            let fd = open(fifo, O_WRONLY | O_NONBLOCK); if fd >= 0 { close(fd) }
            return XCTFail("opening a FIFO as a model blocked")
        }
        XCTAssertTrue(message.contains("FIFO") && message.contains("only regular files"), message)
    }
}

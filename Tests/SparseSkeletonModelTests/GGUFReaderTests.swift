import XCTest
@testable import SparseSkeletonModel

final class GGUFReaderTests: XCTestCase {
    /// Metadata of every scalar type, a string array and a nested array; two tensors (F32 and
    /// Q8_0) at aligned offsets; the reader must return exactly what was written.
    func testParsesSyntheticFile() throws {
        var rng = SystemRandomNumberGenerator()
        let f32Values = (0..<6).map { _ in Float.random(in: -3...3, using: &rng) }
        let q8Scale = Float.random(in: 0.01...0.5, using: &rng)
        let q8Ints = (0..<32).map { _ in Int8.random(in: -127...127, using: &rng) }
        let q8Block = BlockBytes.f16(q8Scale) + q8Ints.map { UInt8(bitPattern: $0) }
        let bytes = SyntheticGGUF.make(alignment: 64, kvCount: 9, writeKVs: { w in
            w.string("general.architecture"); w.u32(8); w.string("llama")
            w.string("general.alignment"); w.u32(4); w.u32(64)
            w.string("a.u8"); w.u32(0); w.u8(200)
            w.string("a.f32"); w.u32(6); w.f32(0.25)
            w.string("a.bool"); w.u32(7); w.u8(1)
            w.string("a.u64"); w.u32(10); w.u64(1 << 40)
            w.string("a.f64"); w.u32(12); w.u64((1e-6 as Double).bitPattern)
            w.string("a.strings"); w.u32(9); w.u32(8); w.u64(3); w.string("x"); w.string("ÿ é"); w.string("")
            w.string("a.nested"); w.u32(9); w.u32(9); w.u64(2)
            w.u32(5); w.u64(1); w.u32(UInt32(bitPattern: -7))
            w.u32(5); w.u64(0)
        }, tensors: [
            .init(name: "vec", dims: [3, 2], type: 0, data: f32Values.flatMap(BlockBytes.f32)),
            .init(name: "q8", dims: [32], type: 8, data: q8Block),
        ])
        let path = try SyntheticGGUF.write(bytes, name: "synthetic")
        defer { unlink(path) }
        let g = try GGUFFile(path: path)
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(g.alignment, 64)
        XCTAssertEqual(g.dataOffset % 64, 0)
        XCTAssertEqual(try g.string("general.architecture"), "llama")
        XCTAssertEqual(g.metadata["a.u8"], .uint8(200))
        XCTAssertEqual(g.metadata["a.f32"], .float32(0.25))
        XCTAssertEqual(g.metadata["a.bool"], .bool(true))
        XCTAssertEqual(try g.int("a.u64"), 1 << 40)
        XCTAssertEqual(try g.double("a.f64"), 1e-6)
        XCTAssertEqual(try g.array("a.strings").compactMap(\.stringValue), ["x", "ÿ é", ""])
        XCTAssertEqual(g.metadata["a.nested"], .array([.array([.int32(-7)]), .array([])]))
        XCTAssertEqual(g.tensors.map(\.name), ["vec", "q8"])
        XCTAssertEqual(try g.tensor("vec").dims, [3, 2])
        XCTAssertEqual(try g.floats("vec"), f32Values)
        let q8 = try g.floats("q8")
        for j in 0..<32 {
            let expected = Double(q8Ints[j]) * Double(Float(Float16(q8Scale)))
            XCTAssertEqual(Double(q8[j]), expected, accuracy: 1e-6 * max(1, abs(expected)))
        }
        XCTAssertThrowsError(try g.floats("missing")) { XCTAssertTrue("\($0)".contains("missing")) }
    }

    func testTruncatedFileNamesTheField() throws {
        let full = SyntheticGGUF.make(kvCount: 1, writeKVs: { w in
            w.string("general.architecture"); w.u32(8); w.string("llama")
        }, tensors: [.init(name: "t", dims: [64], type: 0, data: [UInt8](repeating: 0, count: 256))])
        // Cut inside the tensor data, inside the tensor table, and inside the header.
        for (cut, expect) in [(full.count - 10, "tensor[t].data"), (85, "tensor[t].ne[0]"), (60, "metadata[general.architecture]"), (10, "tensor_count")] {
            let path = try SyntheticGGUF.write(Array(full.prefix(cut)), name: "trunc\(cut)")
            defer { unlink(path) }
            XCTAssertThrowsError(try GGUFFile(path: path)) { error in
                let msg = "\(error)"
                XCTAssertTrue(msg.contains("truncated") || msg.contains("corrupted"), msg)
                XCTAssertTrue(msg.contains(expect), "\(msg) should name \(expect)")
            }
        }
    }

    /// A file cut exactly where the second tensor's data begins: that tensor's data is missing.
    func testTensorWhollyPastTheEnd() throws {
        let full = SyntheticGGUF.make(kvCount: 0, writeKVs: { _ in }, tensors: [
            .init(name: "t", dims: [64], type: 0, data: [UInt8](repeating: 0, count: 256)),
            .init(name: "u", dims: [64], type: 0, data: [UInt8](repeating: 0, count: 256)),
        ])
        let path = try SyntheticGGUF.write(Array(full.prefix(full.count - 256)), name: "cut-u")
        defer { unlink(path) }
        XCTAssertThrowsError(try GGUFFile(path: path)) { error in
            XCTAssertTrue("\(error)".contains("truncated") && "\(error)".contains("tensor[u].data"), "\(error)")
        }
    }

    func testBadMagicVersionAndQuantType() throws {
        var notGGUF = SyntheticGGUF.make(kvCount: 0, writeKVs: { _ in }, tensors: [])
        notGGUF[0] = UInt8(ascii: "X")
        var p = try SyntheticGGUF.write(notGGUF, name: "magic")
        XCTAssertThrowsError(try GGUFFile(path: p)) { XCTAssertTrue("\($0)".contains("magic")) }
        unlink(p)

        var v9 = SyntheticGGUF.make(kvCount: 0, writeKVs: { _ in }, tensors: [])
        v9[4] = 9
        p = try SyntheticGGUF.write(v9, name: "version")
        XCTAssertThrowsError(try GGUFFile(path: p)) { XCTAssertTrue("\($0)".contains("version 9")) }
        unlink(p)

        // Q5_1 (id 7) is a real GGML type this reader does not dequantise.
        let q5 = SyntheticGGUF.make(kvCount: 0, writeKVs: { _ in },
                                    tensors: [.init(name: "w", dims: [32], type: 7, data: [UInt8](repeating: 0, count: 24))])
        p = try SyntheticGGUF.write(q5, name: "q5")
        defer { unlink(p) }
        let g = try GGUFFile(path: p)
        XCTAssertThrowsError(try g.floats("w")) { error in
            let msg = "\(error)"
            XCTAssertTrue(msg.contains("Q5_1") && msg.contains("Q4_K") && msg.contains("'w'"), msg)
        }
        XCTAssertThrowsError(try GGUFFile(path: "/nonexistent/model.gguf")) { XCTAssertTrue("\($0)".contains("does not exist")) }
    }
}

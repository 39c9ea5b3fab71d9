import XCTest
import Foundation
@testable import SparseSkeleton

final class IOTests: TemporaryFolderTestCase {
    private func random(_ name: String, _ n: Int, _ h: Int, _ d: Int, _ dtype: DType) throws -> HeadTensor {
        try HeadTensor(name: name, tokens: n, heads: h, headDim: d, values: (0..<(n * h * d)).map { _ in Float.random(in: -3...3) }, dtype: dtype)
    }

    private func assertSameElements(_ a: HeadTensor, _ b: HeadTensor, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual([a.tokens, a.heads, a.headDim], [b.tokens, b.heads, b.headDim], file: file, line: line)
        XCTAssertEqual(a.floats().map(\.bitPattern), b.floats().map(\.bitPattern), file: file, line: line)
    }

    /// Builds a .npy by hand (independent of the writer) with any header text and payload.
    private func handmadeNPY(_ dict: String, payload: [UInt8], version: UInt8 = 1) -> [UInt8] {
        var header = Array(dict.utf8)
        let prefix = version == 1 ? 10 : 12
        while (prefix + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
        if version == 1 {
            out += [UInt8(header.count & 0xFF), UInt8(header.count >> 8)]
        } else {
            out += [UInt8(header.count & 0xFF), UInt8((header.count >> 8) & 0xFF), 0, 0]
        }
        return out + header + payload
    }

    private func assertError(_ body: @autoclosure () throws -> Any, _ check: (SkeletonError) -> Bool,
                             _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), message, file: file, line: line) { error in
            guard let e = error as? SkeletonError else { return XCTFail("untyped error \(error)", file: file, line: line) }
            XCTAssertTrue(check(e), "\(message): got \(e)", file: file, line: line)
        }
    }

    func testNPYRoundTripsEveryDType() throws {
        for dtype in DType.allCases {
            let t = try random("x", 5, 3, 64, dtype)
            let path = dir + "/x-\(dtype).npy"
            try NPYFile.write(t, to: path)
            let bytes = try BinaryFile.read(path)
            let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            XCTAssertEqual((10 + headerLength) % 64, 0, "data must start 64-byte aligned")
            let back = try NPYFile.read(path: path)
            XCTAssertEqual(back.name, "x-\(dtype)")
            XCTAssertEqual(back.dtype, dtype == .f16 ? .f16 : .f32)  // bf16 is widened to f4
            assertSameElements(back, t)
        }
    }

    func testNPYReadsVersion2RankFourAndFloat64() throws {
        let values: [Double] = (0..<(2 * 1 * 64)).map { _ in Double.random(in: -1...1) }
        var payload: [UInt8] = []
        for v in values { BinaryFile.appendLE(&payload, v.bitPattern) }
        let bytes = handmadeNPY("{\"shape\": (1, 2, 1, 64), 'fortran_order': False, 'descr': '<f8'}", payload: payload, version: 2)
        let t = try NPYFile.decode(bytes, path: "mem.npy", name: "q")
        XCTAssertEqual([t.tokens, t.heads, t.headDim], [2, 1, 64])
        XCTAssertEqual(t.floats(), values.map { Float($0) })
    }

    func testNPYCorruptionsGetTheirErrors() throws {
        let good = NPYFile.encode(try random("x", 4, 2, 64, .f32))
        var badMagic = good; badMagic[1] = UInt8(ascii: "X")
        assertError(try NPYFile.decode(badMagic, path: "p", name: "x"), {
            if case .invalidFileFormat(_, let r) = $0 { return r.contains("magic") }; return false }, "bad magic")
        assertError(try NPYFile.decode(Array(good.dropLast(5)), path: "p", name: "x"), {
            if case .fileTruncated(_, let e, let a) = $0 { return e == 4 * 2 * 64 * 4 && a == e - 5 }; return false }, "truncated data")
        assertError(try NPYFile.decode(Array(good.prefix(40)), path: "p", name: "x"), {
            if case .fileTruncated = $0 { return true }; return false }, "truncated header")
        let payload = [UInt8](repeating: 0, count: 4 * 2 * 64 * 4)
        assertError(try NPYFile.decode(handmadeNPY("{'descr': '<f4', 'fortran_order': True, 'shape': (4, 2, 64), }", payload: payload), path: "p", name: "x"), {
            if case .invalidFileFormat(_, let r) = $0 { return r.contains("Fortran") }; return false }, "fortran order")
        assertError(try NPYFile.decode(handmadeNPY("{'descr': '<f4', 'fortran_order': False, 'shape': (8, 128), }", payload: payload), path: "p", name: "x"), {
            if case .invalidFileFormat(_, let r) = $0 { return r.contains("rank 2") }; return false }, "wrong rank")
        assertError(try NPYFile.decode(handmadeNPY("{'descr': '<i4', 'fortran_order': False, 'shape': (4, 2, 64), }", payload: payload), path: "p", name: "x"), {
            if case .unsupportedDType(let d) = $0 { return d.contains("<i4") }; return false }, "integer dtype")
        assertError(try NPYFile.decode(handmadeNPY("{'descr': '>f4', 'fortran_order': False, 'shape': (4, 2, 64), }", payload: payload), path: "p", name: "x"), {
            if case .invalidFileFormat(_, let r) = $0 { return r.contains("big-endian") }; return false }, "big endian")
        assertError(try NPYFile.decode(handmadeNPY("{'descr': '<f4', 'shape': (4, 2, 64), }", payload: payload), path: "p", name: "x"), {
            if case .invalidFileFormat(_, let r) = $0 { return r.contains("fortran_order") }; return false }, "missing key")
        assertError(try NPYFile.decode(handmadeNPY("{'descr': '<f4', 'fortran_order': False, 'shape': (4, x, 64), }", payload: payload), path: "p", name: "x"), {
            if case .invalidFileFormat(_, let r) = $0 { return r.contains("malformed") }; return false }, "garbage shape")
        assertError(try NPYFile.read(path: dir + "/missing.npy"), {
            if case .fileUnreadable(_, let r) = $0 { return r.contains("no such file") }; return false }, "missing file")
        assertError(try NPYFile.read(path: dir), {
            if case .fileUnreadable(_, let r) = $0 { return r.contains("directory") }; return false }, "directory")
    }

    func testSafetensorsRoundTripAndLookup() throws {
        let q = try random("layer0.q", 6, 4, 64, .bf16)
        let k = try random("layer0.k", 6, 2, 64, .f16)
        let v = try random("layer0.v", 6, 2, 64, .f32)
        let path = dir + "/qkv.safetensors"
        try SafetensorsFile.write([q, k, v], to: path, metadata: ["model": "test \"quoted\""])
        XCTAssertEqual(try SafetensorsFile.names(path: path), ["layer0.k", "layer0.q", "layer0.v"])
        for t in [q, k, v] {
            let back = try SafetensorsFile.read(path: path, name: t.name)
            XCTAssertEqual(back.dtype, t.dtype)
            assertSameElements(back, t)
        }
        assertError(try SafetensorsFile.read(path: path, name: "q"), {
            if case .tensorNotFound(_, let n, let avail) = $0 { return n == "q" && avail.count == 3 }; return false }, "missing tensor")
        let inputs = try TensorFiles.loadInputs(q: path, k: path, v: path, layer: 0)
        XCTAssertEqual(inputs.shape, try AttentionShape(tokens: 6, queryHeads: 4, kvHeads: 2, headDim: 64))
        XCTAssertEqual(inputs.q, q.floats())
        // the JSON header is what the format says, readable by a generic JSON parser
        let bytes = try BinaryFile.read(path)
        let n = Int(BinaryFile.readLE(bytes, at: 0, as: UInt64.self))
        let json = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
        XCTAssertEqual((json["__metadata__"] as? [String: String])?["model"], "test \"quoted\"")
        XCTAssertEqual(bytes.count, 8 + n + 6 * 4 * 64 * 2 + 6 * 2 * 64 * 2 + 6 * 2 * 64 * 4)
    }

    func testSafetensorsCorruptionsGetTheirErrors() throws {
        let good = try SafetensorsFile.encode([try random("q", 3, 1, 64, .f32)])
        assertError(try SafetensorsFile.decode(Array(good.dropLast(1)), path: "p", name: "q"), {
            if case .fileTruncated = $0 { return true }; return false }, "truncated buffer")
        assertError(try SafetensorsFile.decode(Array(good.prefix(20)), path: "p", name: "q"), {
            if case .fileTruncated = $0 { return true }; return false }, "truncated header")
        assertError(try SafetensorsFile.decode([1, 2, 3], path: "p", name: "q"), {
            if case .fileTruncated = $0 { return true }; return false }, "tiny file")
        assertError(try SafetensorsFile.decode(Array("NOTAFILE and more text".utf8), path: "p", name: "q"), {
            if case .invalidFileFormat(_, let r) = $0 { return r.contains("implausible") }; return false }, "bad magic / garbage")
        func file(_ header: String, payload: Int) -> [UInt8] {
            var out: [UInt8] = []
            BinaryFile.appendLE(&out, UInt64(header.utf8.count))
            return out + Array(header.utf8) + [UInt8](repeating: 0, count: payload)
        }
        assertError(try SafetensorsFile.decode(file("{not json", payload: 0), path: "p", name: "q"), {
            if case .invalidFileFormat(_, let r) = $0 { return r.contains("JSON") }; return false }, "bad JSON")
        assertError(try SafetensorsFile.decode(file("{\"q\":{\"dtype\":\"I32\",\"shape\":[1,1,64],\"data_offsets\":[0,256]}}", payload: 256), path: "p", name: "q"), {
            if case .unsupportedDType(let d) = $0 { return d.contains("I32") }; return false }, "unsupported dtype")
        assertError(try SafetensorsFile.decode(file("{\"q\":{\"dtype\":\"F32\",\"shape\":[64,64],\"data_offsets\":[0,16384]}}", payload: 16384), path: "p", name: "q"), {
            if case .invalidFileFormat(_, let r) = $0 { return r.contains("rank 2") }; return false }, "wrong rank")
        assertError(try SafetensorsFile.decode(file("{\"q\":{\"dtype\":\"F32\",\"shape\":[1,1,64],\"data_offsets\":[0,100]}}", payload: 256), path: "p", name: "q"), {
            if case .invalidFileFormat(_, let r) = $0 { return r.contains("data_offsets") }; return false }, "offsets disagree with shape")
        assertError(try SafetensorsFile.decode(file("{\"q\":{\"dtype\":\"F32\",\"shape\":[1,1,64]}}", payload: 256), path: "p", name: "q"), {
            if case .invalidFileFormat(_, let r) = $0 { return r.contains("data_offsets") }; return false }, "missing offsets")
        assertError(try SafetensorsFile.encode([try random("q", 1, 1, 64, .f32), try random("q", 1, 1, 64, .f32)]), {
            if case .invalidArgument(let r) = $0 { return r.contains("unique") }; return false }, "duplicate names")
        assertError(try TensorFiles.load(path: dir + "/x.bin", role: "q"), {
            if case .invalidFileFormat(_, let r) = $0 { return r.contains(".npy or .safetensors") }; return false }, "unknown extension")
    }

    func testNPYInputsLoadThroughTensorFiles() throws {
        let q = try random("ignored", 10, 2, 64, .f32), k = try random("ignored", 10, 1, 64, .f32)
        try NPYFile.write(q, to: dir + "/q.npy"); try NPYFile.write(k, to: dir + "/k.npy")
        let x = try TensorFiles.loadInputs(q: dir + "/q.npy", k: dir + "/k.npy", v: nil)
        XCTAssertEqual(x.shape.groupSize, 2)
        XCTAssertNil(x.v)
        XCTAssertEqual(x.k, k.floats())
    }
}

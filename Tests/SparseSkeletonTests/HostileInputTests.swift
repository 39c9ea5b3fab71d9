import XCTest
import Foundation
@testable import SparseSkeleton

/// Crafted files of every class that once crashed, hung, over-allocated or was silently accepted:
/// each must give one typed, bounded error (and a FIFO must be refused without blocking).
final class HostileInputTests: TemporaryFolderTestCase {
    private func npy(_ dict: String, payload: Int = 0, version: UInt8 = 1, minor: UInt8 = 0) -> [UInt8] {
        var header = Array(dict.utf8)
        let prefix = version == 1 ? 10 : 12
        while (prefix + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, minor]
        if version == 1 { BinaryFile.appendLE(&out, UInt16(header.count)) } else { BinaryFile.appendLE(&out, UInt32(header.count)) }
        return out + header + [UInt8](repeating: 0, count: payload)
    }

    private func safetensors(_ header: String, payload: Int) -> [UInt8] {
        var out: [UInt8] = []
        BinaryFile.appendLE(&out, UInt64(header.utf8.count))
        return out + Array(header.utf8) + [UInt8](repeating: 0, count: payload)
    }

    private func reason(_ body: () throws -> Any) -> String? {
        do { _ = try body(); return nil } catch { return "\(error)" }
    }

    private func assertRefused(_ body: @autoclosure () throws -> Any, containing words: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        guard let message = reason(body) else { return XCTFail("accepted; expected an error with \(words)", file: file, line: line) }
        for w in words { XCTAssertTrue(message.contains(w), "'\(message)' should contain '\(w)'", file: file, line: line) }
        XCTAssertLessThan(message.utf8.count, 1200, "error message is not bounded", file: file, line: line)
    }

    func testNPYCraftedShapesAreErrorsNotCrashes() {
        for shape in ["(1, 288230376151711744, 64)", "(128, 9223372036854775807, 64)", "(9223372036854775807, 1, 64)",
                      "(4611686018427387904, 2, 64)", "(1, 1, 1, 9223372036854775807)"] {
            let bytes = npy("{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }", payload: 256)
            XCTAssertNotNil(reason { try NPYFile.decode(bytes, path: "p.npy", name: "x") }, shape)
            let path = dir + "/crafted.npy"
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            XCTAssertNotNil(reason { try NPYFile.read(path: path) }, shape)
        }
        assertRefused(try NPYFile.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 288230376151711744, 64), }", payload: 256),
                                         path: "p", name: "x"), containing: ["too large"])
        assertRefused(try NPYFile.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2, 64), }"), path: "p", name: "x"),
                      containing: ["non-negative"])
        assertRefused(try NPYFile.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 99999999999999999999999, 64), }"), path: "p", name: "x"),
                      containing: ["too large"])
    }

    func testNPYHeaderRulesOfNumpy() {
        let ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 64), }"
        XCTAssertNil(reason { try NPYFile.decode(npy(ok, payload: 256), path: "p", name: "x") })
        assertRefused(try NPYFile.decode(npy(ok, payload: 257), path: "p", name: "x"), containing: ["1 bytes follow"])
        assertRefused(try NPYFile.decode(npy(ok, payload: 256, minor: 1), path: "p", name: "x"), containing: ["version 1.1"])
        assertRefused(try NPYFile.decode(npy(ok, payload: 256, version: 4), path: "p", name: "x"), containing: ["version 4.0"])
        assertRefused(try NPYFile.decode(npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 64), }", payload: 256),
                                         path: "p", name: "x"), containing: ["duplicate key"])
        assertRefused(try NPYFile.decode(npy(ok + " junk", payload: 256), path: "p", name: "x"), containing: ["after the closing"])
        assertRefused(try NPYFile.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 64), 'x': 1}", payload: 256),
                                         path: "p", name: "x"), containing: ["unexpected key"])
        let long = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 64), }" + String(repeating: " ", count: 20_000)
        assertRefused(try NPYFile.decode(npy(long, payload: 256, version: 2), path: "p", name: "x"), containing: ["numpy refuses"])
    }

    func testSafetensorsLayoutMustCoverTheBufferExactly() {
        let t = #""a":{"dtype":"F32","shape":[1,1,64],"data_offsets":[0,256]}"#
        XCTAssertNil(reason { try SafetensorsFile.names(safetensors("{\(t)}", payload: 256), path: "p") })
        XCTAssertNil(reason { try SafetensorsFile.names(safetensors("{\(t)}   ", payload: 256), path: "p") })
        // overlap, alias, hole, uncovered tail, end before begin, past the end
        assertRefused(try SafetensorsFile.names(safetensors(#"{"a":{"dtype":"F32","shape":[1,1,64],"data_offsets":[0,256]},"b":{"dtype":"F32","shape":[1,1,64],"data_offsets":[128,384]}}"#, payload: 384), path: "p"),
                      containing: ["overlaps"])
        assertRefused(try SafetensorsFile.names(safetensors(#"{"a":{"dtype":"F32","shape":[1,1,64],"data_offsets":[0,256]},"b":{"dtype":"F32","shape":[1,1,64],"data_offsets":[0,256]}}"#, payload: 256), path: "p"),
                      containing: ["overlaps"])
        assertRefused(try SafetensorsFile.names(safetensors(#"{"a":{"dtype":"F32","shape":[1,1,64],"data_offsets":[8,264]}}"#, payload: 264), path: "p"),
                      containing: ["hole"])
        assertRefused(try SafetensorsFile.names(safetensors("{\(t)}", payload: 300), path: "p"), containing: ["belongs to no tensor"])
        assertRefused(try SafetensorsFile.names(safetensors("{\(t)}", payload: 100), path: "p"), containing: ["truncated"])
        assertRefused(try SafetensorsFile.names(safetensors(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#, payload: 8), path: "p"),
                      containing: ["data_offsets [8, 0]"])
        assertRefused(try SafetensorsFile.names(safetensors(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775800,9223372036854775804]}}"#, payload: 4), path: "p"),
                      containing: ["hole"])
    }

    func testSafetensorsTypedFields() {
        func refused(_ header: String, _ words: [String], payload: Int = 256, line: UInt = #line) {
            assertRefused(try SafetensorsFile.names(safetensors(header, payload: payload), path: "p"), containing: words, line: line)
        }
        refused(#"{"a":{"dtype":"F32","shape":[1,1,64],"data_offsets":[0.0,256]}}"#, ["not an integer"])
        refused(#"{"a":{"dtype":"F32","shape":[1,1,64],"data_offsets":[0,2.56e2]}}"#, ["not an integer"])
        refused(#"{"a":{"dtype":"F32","shape":[1,-1,64],"data_offsets":[0,256]}}"#, ["negative"])
        refused(#"{"a":{"dtype":"F32","shape":[1,1.0,64],"data_offsets":[0,256]}}"#, ["not an integer"])
        refused(#"{"a":{"dtype":"F32","shape":[1,1,64],"data_offsets":[0,256,512]}}"#, ["more than two"])
        refused(#"{"a":{"dtype":"F99","shape":[1,1,64],"data_offsets":[0,256]}}"#, ["does not define"])
        refused(#"{"a":{"dtype":"F32","shape":"1,1,64","data_offsets":[0,256]}}"#, ["expected '['"])
        refused(#"{"a":{"dtype":"F32","shape":[1,1,64],"data_offsets":[0,256],"extra":1}}"#, ["unknown field"])
        refused(#"{"a":{"dtype":"F32","shape":[1,1,64],"data_offsets":[0,256]},"a":{"dtype":"F32","shape":[0],"data_offsets":[256,256]}}"#, ["appears twice"])
        refused(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,64],"data_offsets":[0,256]}}"#, ["more elements than can be counted"])
        refused(#"{"a":{"dtype":"F32","shape":[1,1,64],"data_offsets":[0,255]}}"#, ["take 256 bytes"])
        refused(#"{"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[1,1,64],"data_offsets":[0,256]}}"#, ["expected a string"])
        refused(#"["a"]"#, ["start with '{'"], payload: 0)
        refused(#"{"a":{"dtype":"F32","shape":[1,1,64],"data_offsets":[0,256]}} x"#, ["text after"])
        refused("{\"a\u{1}\":{}}", ["control character"], payload: 0)
        // the header cap: a length over 100 MB is refused before anything is read or allocated
        var huge: [UInt8] = []
        BinaryFile.appendLE(&huge, UInt64(100_000_001))
        assertRefused(try SafetensorsFile.names(huge + Array("{}".utf8), path: "p"), containing: ["implausible"])
    }

    func testSafetensorsErrorsAreBounded() throws {
        let longName = String(repeating: "n", count: 1_000_000)
        let bytes = safetensors("{\"\(longName)\":{\"dtype\":\"F32\",\"shape\":[1,1,64],\"data_offsets\":[0,256]}}", payload: 256)
        assertRefused(try SafetensorsFile.decode(bytes, path: "p", name: "q"), containing: ["has no tensor 'q'", "bytes)"])
        let rank2 = safetensors("{\"\(longName)\":{\"dtype\":\"F32\",\"shape\":[1,64],\"data_offsets\":[0,256]}}", payload: 256)
        assertRefused(try SafetensorsFile.decode(rank2, path: "p", name: longName), containing: ["rank 2", "bytes)"])
        let many = (0..<5000).map { "\"t\($0)\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}" }.joined(separator: ",")
        assertRefused(try SafetensorsFile.decode(safetensors("{\(many)}", payload: 0), path: "p", name: "q"), containing: ["more"])
    }

    /// `read` opens through the same validation, and loads only the tensor asked for.
    func testSafetensorsReadValidatesBeforeLoading() throws {
        let t = try HeadTensor(name: "q", tokens: 2, heads: 1, headDim: 64, values: (0..<128).map(Float.init))
        var good = try SafetensorsFile.encode([t])
        let path = dir + "/x.safetensors"
        FileManager.default.createFile(atPath: path, contents: Data(good))
        XCTAssertEqual(try SafetensorsFile.read(path: path, name: "q").floats(), t.floats())
        good.append(0)
        FileManager.default.createFile(atPath: path, contents: Data(good))
        assertRefused(try SafetensorsFile.read(path: path, name: "q"), containing: ["belongs to no tensor"])
    }

    /// A FIFO (and a character device) is refused at once: reading it would block forever.
    func testNonRegularFilesAreRefusedWithoutBlocking() throws {
        let fifo = dir + "/q.npy"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let st = dir + "/qkv.safetensors"
        XCTAssertEqual(mkfifo(st, 0o600), 0)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var messages: [String?] = []
        Thread {
            messages = [self.reason { try NPYFile.read(path: fifo) }, self.reason { try SafetensorsFile.read(path: st, name: "q") },
                        self.reason { try SafetensorsFile.names(path: st) }, self.reason { try NPYFile.read(path: "/dev/zero") },
                        self.reason { try TensorFiles.load(path: fifo, role: "q") }]
            done.signal()
        }.start()
        guard done.wait(timeout: .now() + 10) == .success else {
            // unblock the reader so the test process can finish
            let fd = open(fifo, O_WRONLY | O_NONBLOCK); if fd >= 0 { close(fd) }
            return XCTFail("reading a FIFO blocked")
        }
        XCTAssertEqual(messages.count, 5)
        for (i, m) in messages.enumerated() {
            let expected = i == 3 ? "character device" : "FIFO"
            XCTAssertTrue(m?.contains(expected) == true && m?.contains("only regular files") == true, "\(m ?? "accepted")")
        }
    }
}

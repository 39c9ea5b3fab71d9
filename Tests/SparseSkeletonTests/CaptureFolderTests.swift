import XCTest
import Foundation
@testable import SparseSkeleton

/// A capture folder is trusted only whole: written beside its destination and moved into place,
/// sealed by a manifest and a completion marker; interrupted, edited, mixed or foreign folders
/// are refused by name, and of two captures into one place the last finished wins, whole.
final class CaptureFolderTests: TemporaryFolderTestCase {
    func manifest(tokens: Int, layers: [Int]) -> CaptureManifest {
        CaptureManifest(tokens: tokens, capturedLayers: layers, queryHeads: 4, kvHeads: 2, headDim: 64, model: "m.gguf",
                        modelSHA256: String(repeating: "a", count: 64), layers: 8, text: "t", textSHA256: String(repeating: "b", count: 64),
                        startChar: 0, tokenIDs: Array(0..<tokens), bosTokenID: 1, ropeBase: 10000)
    }

    func tensor(_ role: String, tokens: Int, fill: Float) throws -> HeadTensor {
        let heads = role == "q" ? 4 : 2
        return try HeadTensor(name: role, tokens: tokens, heads: heads, headDim: 64, values: [Float](repeating: fill, count: tokens * heads * 64))
    }

    /// A finished capture of `layers`, every value `fill`.
    @discardableResult
    func capture(_ dest: String, tokens: Int, layers: [Int], fill: Float = 1) throws -> String {
        let w = try CaptureWriter(destination: dest)
        for l in layers { for r in ["q", "k", "v"] { try w.write(tensor(r, tokens: tokens, fill: fill), layer: l, role: r) } }
        return try w.finish(manifest(tokens: tokens, layers: layers))
    }

    func error(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    func testACompleteCaptureIsReadThroughItsManifest() throws {
        let dest = dir + "/cap"
        try capture(dest, tokens: 16, layers: [3, 0])
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["cap"], "no staging folder left beside it")
        let folder = try CapturedLayers(directory: dest)
        XCTAssertEqual(folder.manifest?.tokens, 16)
        XCTAssertEqual(try folder.layerStems(), ["layer00", "layer03"])
        XCTAssertEqual(try folder.inputs(layer: 3, values: .qkv).shape.tokens, 16)
        XCTAssertTrue(error { try folder.layerStems(only: [5]) }.contains("holds no layer 5"))
        XCTAssertTrue(folder.manifest!.matches(tokens: 16, layers: [3, 0], modelSHA256: String(repeating: "a", count: 64),
                                               textSHA256: String(repeating: "b", count: 64), startChar: 0))
        XCTAssertFalse(folder.manifest!.matches(tokens: 32, layers: [3, 0], modelSHA256: String(repeating: "a", count: 64),
                                                textSHA256: String(repeating: "b", count: 64), startChar: 0))
        XCTAssertFalse(folder.manifest!.matches(tokens: 16, layers: nil, modelSHA256: String(repeating: "a", count: 64),
                                                textSHA256: String(repeating: "b", count: 64), startChar: 0))
    }

    func testAnInterruptedCaptureIsRefused() throws {
        let dest = dir + "/cap"
        var w: CaptureWriter? = try CaptureWriter(destination: dest)
        try w!.write(tensor("q", tokens: 16, fill: 1), layer: 0, role: "q")
        let staging = w!.staging
        XCTAssertFalse(FileManager.default.fileExists(atPath: dest), "nothing at the destination before the capture finishes")
        XCTAssertTrue(error { try CapturedLayers(directory: staging) }.contains("no completion marker"))
        w = nil  // a capture that fails removes its staging folder
        XCTAssertFalse(FileManager.default.fileExists(atPath: staging))
        // a folder of layer files with an old-style meta.json and no marker (an older or killed capture)
        let old = dir + "/old"
        try FileManager.default.createDirectory(atPath: old, withIntermediateDirectories: true)
        try NPYFile.write(tensor("q", tokens: 16, fill: 1), to: old + "/layer00_q.npy")
        try NPYFile.write(tensor("k", tokens: 16, fill: 1), to: old + "/layer00_k.npy")
        try Data("{\"tokens\": 16}".utf8).write(to: URL(fileURLWithPath: old + "/meta.json"))
        XCTAssertTrue(error { try CapturedLayers(directory: old) }.contains("no completion marker"))
        // read as a bare folder only when asked (a GPU check on copied layers)
        XCTAssertEqual(try CapturedLayers(directory: old, requireManifest: false).inputs(layers: [0], values: .qk).count, 1)
    }

    func testAChangedFolderIsRefused() throws {
        let dest = dir + "/cap"
        try capture(dest, tokens: 16, layers: [0, 1])
        let meta = dest + "/meta.json"
        let original = try Data(contentsOf: URL(fileURLWithPath: meta))
        try Data(String(decoding: original, as: UTF8.self).replacingOccurrences(of: "\"tokens\" : 16", with: "\"tokens\" : 32").utf8)
            .write(to: URL(fileURLWithPath: meta))
        XCTAssertTrue(error { try CapturedLayers(directory: dest) }.contains("does not match meta.json"))
        try original.write(to: URL(fileURLWithPath: meta))
        XCTAssertNoThrow(try CapturedLayers(directory: dest))
        // a layer of another window dropped in by hand (not through NPYFile.write, which refuses a folder this process read)
        try Data(NPYFile.encode(tensor("q", tokens: 32, fill: 2))).write(to: URL(fileURLWithPath: dest + "/layer01_q.npy"))
        XCTAssertTrue(error { try CapturedLayers(directory: dest) }.contains("layer01_q.npy has"))
        try FileManager.default.removeItem(atPath: dest + "/layer01_q.npy")
        XCTAssertTrue(error { try CapturedLayers(directory: dest) }.contains("layer01_q.npy is missing"))
    }

    func testMixedWindowsAreAnErrorNeverAveraged() throws {
        let bare = dir + "/bare"
        try FileManager.default.createDirectory(atPath: bare, withIntermediateDirectories: true)
        for (l, n) in [(0, 16), (1, 32)] {
            for r in ["q", "k"] { try NPYFile.write(tensor(r, tokens: n, fill: 1), to: bare + String(format: "/layer%02d_%@.npy", l, r)) }
        }
        let folder = try CapturedLayers(directory: bare, requireManifest: false)
        XCTAssertTrue(error { try folder.inputs(layers: [0, 1], values: .qk) }.contains("layers of different captures mixed"))
        XCTAssertTrue(error { try CapturedLayers(directory: bare) }.contains("no completion marker"))
    }

    func testAFolderThisProcessReadsIsNotReplaced() throws {
        let dest = dir + "/cap"
        try capture(dest, tokens: 16, layers: [0])
        _ = try CapturedLayers(directory: dest)
        XCTAssertTrue(error { try CaptureWriter(destination: dest) }.contains("would overwrite the input"))
    }

    func testForeignFoldersAreNotReplacedAndCapturesReplaceCaptures() throws {
        let foreign = dir + "/documents"
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: foreign + "/notes.txt"))
        XCTAssertTrue(error { try CaptureWriter(destination: foreign) }.contains("holds 'notes.txt'"))
        XCTAssertEqual(try String(contentsOfFile: foreign + "/notes.txt", encoding: .utf8), "mine")
        let dest = dir + "/cap"
        try capture(dest, tokens: 16, layers: [0, 1, 2])
        try capture(dest, tokens: 32, layers: [5])
        let folder = try CapturedLayers(directory: dest)
        XCTAssertEqual(folder.manifest?.tokens, 32)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dest)),
                       ["COMPLETE", "meta.json", "layer05_q.npy", "layer05_k.npy", "layer05_v.npy"], "the old capture's layers are gone")
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["documents", "cap"])
    }

    func testConcurrentCapturesLeaveOneWholeCapture() throws {
        let dest = dir + "/cap"
        for round in 0..<4 {
            let failures = Failures()
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                do { try capture(dest, tokens: 16 * (i + 1), layers: Array(0..<6), fill: Float(i + 1)) } catch { failures.add("\(error)") }
            }
            XCTAssertEqual(failures.all, [], "round \(round)")
            // (read without CapturedLayers, which would make the folder an input no later capture may replace)
            let n = try CaptureManifest.verified(folder: dest).tokens
            let qs = try (0..<6).map { try NPYFile.read(path: dest + String(format: "/layer%02d_q.npy", $0)) }
            XCTAssertTrue(qs.allSatisfy { $0.tokens == n })
            XCTAssertTrue(qs.allSatisfy { $0.floats().allSatisfy { $0 == Float(n / 16) } }, "every layer from the same capture")
            XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["cap"])
        }
    }

    func testStagingFoldersOfKilledCapturesAreRemoved() throws {
        let stale = dir + "/.cap.partial-999999-1"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: stale + "/layer00_q.npy"))
        try capture(dir + "/cap", tokens: 16, layers: [0])
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["cap"])
    }
}

final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return list }
}

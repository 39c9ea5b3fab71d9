import XCTest
import Foundation
import SparseSkeleton
@testable import SparseSkeletonModel

/// The model commands' inputs: texts must be valid UTF-8 (unless asked to replace), regular files,
/// and inputs of the process; a window the model cannot serve fails before the weights load.
final class ModelSessionInputTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "skeleton-session-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func testTextMustBeValidUTF8UnlessLossy() throws {
        let good = dir + "/good.txt", bad = dir + "/bad.txt"
        try Data("It is a truth universally acknowledged — ".utf8).write(to: URL(fileURLWithPath: good))
        try Data([0x41, 0xff, 0xfe, 0x42]).write(to: URL(fileURLWithPath: bad))
        XCTAssertEqual(try ModelSession.readText(good), "It is a truth universally acknowledged — ")
        XCTAssertThrowsError(try ModelSession.readText(bad)) { XCTAssertTrue("\($0)".contains("not valid UTF-8"), "\($0)") }
        XCTAssertEqual(try ModelSession.readText(bad, lossy: true), "A\u{FFFD}\u{FFFD}B")
        // a text read is an input: no output may replace it
        XCTAssertThrowsError(try AtomicOutput.write("report", to: good))
    }

    func testAFIFOOrAFolderIsRefusedWithoutBlocking() throws {
        let fifo = dir + "/fifo.txt"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try ModelSession.readText(fifo)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
        XCTAssertThrowsError(try ModelSession.loadModel(fifo)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
        XCTAssertThrowsError(try ModelSession.loadModel(dir)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
    }

    /// The request is checked from the GGUF header: a huge window fails in well under the time
    /// the weights take to load, and the check sees the model's real configuration.
    func testTheWindowIsCheckedBeforeTheWeightsLoad() throws {
        _ = try ModelFixtures.requireModel()
        var seen: (any ModelConfig)?
        let t0 = Date()
        XCTAssertThrowsError(try ModelSession.loadModel(ModelFixtures.modelPath) { c in
            seen = c
            try c.require(tokens: 1 << 62, "--tokens")
        }) { XCTAssertEqual("\($0)", "--tokens 4611686018427387904 is longer than the model's context of 8192 tokens") }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5, "the weights were loaded before the check")
        XCTAssertEqual(seen?.layers, 30)
        XCTAssertThrowsError(try ModelSession.loadModel(ModelFixtures.modelPath) { try $0.require(layers: [0, 30], "--layers") }) {
            XCTAssertTrue("\($0)".contains("--layers: layer 30 is outside 0..<30"), "\($0)")
        }
    }
}

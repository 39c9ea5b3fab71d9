import XCTest
import Foundation
@testable import SparseSkeleton

/// Outputs never land on an input (by path, symbolic link, hard link or inside an input folder),
/// never on something that is not a regular file, and replace old files only whole.
final class AtomicOutputTests: TemporaryFolderTestCase {
    func text(_ path: String) -> String? { (try? String(contentsOfFile: path, encoding: .utf8)) }

    func testWritesAndReplacesWholeLeavingNoTemporaries() throws {
        let out = dir + "/report.md"
        try AtomicOutput.write("first", to: out)
        let before = try FileManager.default.attributesOfItem(atPath: out)[.systemFileNumber] as? Int
        try AtomicOutput.write("second, longer", to: out)
        XCTAssertEqual(text(out), "second, longer")
        // replaced by rename: a new inode, so a reader holding the old file never saw a mix
        XCTAssertNotEqual(try FileManager.default.attributesOfItem(atPath: out)[.systemFileNumber] as? Int, before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["report.md"])
    }

    func testAnOutputThatIsAnInputIsRefused() throws {
        let input = dir + "/q.npy", folder = dir + "/capture"
        try Data("tensor".utf8).write(to: URL(fileURLWithPath: input))
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data("k".utf8).write(to: URL(fileURLWithPath: folder + "/layer00_k.npy"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.png", withDestinationPath: input)
        try FileManager.default.linkItem(atPath: input, toPath: dir + "/hard.png")
        AtomicOutput.protect([input, folder, dir + "/absent"])
        for out in [input, dir + "/./q.npy", dir + "/link.png", dir + "/hard.png", folder + "/layer00_k.npy", folder + "/new.png"] {
            XCTAssertThrowsError(try AtomicOutput.write("png", to: out), out) { XCTAssertTrue("\($0)".contains("would overwrite the input"), "\($0)") }
            XCTAssertThrowsError(try AtomicOutput.check([nil, out]), out)
        }
        XCTAssertEqual(text(input), "tensor")
        XCTAssertEqual(text(folder + "/layer00_k.npy"), "k")
        XCTAssertNoThrow(try AtomicOutput.write("fine", to: dir + "/other.png"))
    }

    func testOnlyRegularFilesAreReplacedAndLinksAreWrittenThrough() throws {
        XCTAssertThrowsError(try AtomicOutput.write("x", to: dir)) { XCTAssertTrue("\($0)".contains("is not a regular file"), "\($0)") }
        let fifo = dir + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try AtomicOutput.write("x", to: fifo)) { XCTAssertTrue("\($0)".contains("is not a regular file"), "\($0)") }
        let target = dir + "/target.md"
        try AtomicOutput.write("old", to: target)
        try FileManager.default.createSymbolicLink(atPath: dir + "/alias.md", withDestinationPath: target)
        try AtomicOutput.write("new", to: dir + "/alias.md")
        XCTAssertEqual(text(target), "new")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/alias.md"), target)
        XCTAssertThrowsError(try AtomicOutput.write("x", to: dir + "/no/such/folder/f.md")) { XCTAssertTrue("\($0)".contains("cannot create"), "\($0)") }
    }
}

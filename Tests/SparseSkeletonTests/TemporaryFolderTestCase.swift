import XCTest
import Foundation

/// A test case with a fresh folder `dir` for each test, removed afterwards.
class TemporaryFolderTestCase: XCTestCase {
    private(set) var dir: String = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "skeleton-\(type(of: self))-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }
}

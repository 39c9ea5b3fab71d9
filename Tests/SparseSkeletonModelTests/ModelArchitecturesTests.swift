import Foundation
import XCTest
@testable import SparseSkeletonModel

/// The architecture registry refuses what it does not run, in one line naming what it does.
final class ModelArchitecturesTests: XCTestCase {
    func testUnsupportedArchitectureAndPositionInterpolation() throws {
        let path = try SyntheticGGUF.architectureOnly("mamba", name: "mamba")
        defer { unlink(path) }
        XCTAssertThrowsError(try ModelArchitectures.load(gguf: try GGUFFile(path: path))) { error in
            XCTAssertEqual(error as? ModelError, .unsupportedArchitecture("mamba"))
            XCTAssertEqual("\(error)", "model architecture 'mamba' is not supported; supported: llama, gemma3")
        }
        let p2 = try SyntheticGGUF.architectureOnly("llama", name: "llama-pi")
        defer { unlink(p2) }
        XCTAssertThrowsError(try ModelArchitectures.load(gguf: try GGUFFile(path: p2), positionInterpolation: 2)) { error in
            XCTAssertTrue("\(error)".contains("PI ×2") && "\(error)".contains("gemma3 only"), "\(error)")
        }
    }
}

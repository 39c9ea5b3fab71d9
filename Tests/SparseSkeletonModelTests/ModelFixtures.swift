import Foundation
import XCTest
@testable import SparseSkeletonModel

/// Where the real model and the committed fixtures live, relative to this file.
enum ModelFixtures {
    static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
    static let modelPath = repoRoot + "/data/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    static let fixtures = repoRoot + "/Tests/SparseSkeletonModelTests/Fixtures"

    /// The GGUF, or a skip with the line that says how to fetch it.
    static func requireModel() throws -> GGUFFile {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            print("model not fetched: run scripts/setup.sh --model-only")
            throw XCTSkip("model not fetched: run scripts/setup.sh --model-only")
        }
        return try GGUFFile(path: modelPath)
    }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/" + name))
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SkeletonTestError.badFixture(name)
        }
        return obj
    }

    /// Loading the model dequantises ~135M weights: share one instance across tests.
    nonisolated(unsafe) static var cachedModel: LlamaModel?
    static func requireLlama() throws -> LlamaModel {
        if let m = cachedModel { return m }
        let m = try LlamaModel(gguf: try requireModel())
        cachedModel = m
        return m
    }
}

enum SkeletonTestError: Error { case badFixture(String) }

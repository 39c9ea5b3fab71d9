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
        try requireGGUF(modelPath, note: "model not fetched: run scripts/setup.sh --model-only",
                        skip: "model not fetched: run scripts/setup.sh --model-only")
    }

    /// The GGUF at `path`, or (when it is not there) `note` printed and a skip saying `skip`.
    static func requireGGUF(_ path: String, note: String, skip: String) throws -> GGUFFile {
        guard FileManager.default.fileExists(atPath: path) else {
            print(note)
            throw XCTSkip(skip)
        }
        return try GGUFFile(path: path)
    }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/" + name))
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SkeletonTestError.badFixture(name)
        }
        return obj
    }

    /// Loading the model dequantises ~135M weights: share one instance across tests.
    static func requireLlama() throws -> LlamaModel { try cached { try LlamaModel(gguf: try requireModel()) } }

    /// One instance of each model type, loaded by the first `load` and shared across tests.
    nonisolated(unsafe) static var cachedModels: [ObjectIdentifier: AnyObject] = [:]
    static func cached<M: AnyObject>(_ load: () throws -> M) throws -> M {
        if let m = cachedModels[ObjectIdentifier(M.self)] as? M { return m }
        let m = try load()
        cachedModels[ObjectIdentifier(M.self)] = m
        return m
    }
}

enum SkeletonTestError: Error { case badFixture(String) }

import XCTest
import Foundation
import SparseSkeleton

final class CapturedLayersTests: TemporaryFolderTestCase {
    /// Writes layerLL_{roles}.npy: 12 tokens, 4 query heads / 2 KV heads, d 64.
    private func writeLayer(_ layer: Int, roles: [String]) throws {
        for role in roles {
            let heads = role == "q" ? 4 : 2
            let t = try HeadTensor(name: role, tokens: 12, heads: heads, headDim: 64,
                                   values: (0..<(12 * heads * 64)).map { Float($0 % 7) - 3 })
            try NPYFile.write(t, to: "\(dir)/" + String(format: "layer%02d_%@.npy", layer, role))
        }
    }

    func testStemsAreSortedAndFiltered() throws {
        try writeLayer(15, roles: ["q", "k", "v"])
        try writeLayer(0, roles: ["q", "k"])
        FileManager.default.createFile(atPath: dir + "/meta.json", contents: Data("{}".utf8))
        let folder = try CapturedLayers(directory: dir, requireManifest: false)
        XCTAssertEqual(try folder.layerStems(), ["layer00", "layer15"])
        XCTAssertEqual(try folder.layerStems(only: [15]), ["layer15"])
        XCTAssertThrowsError(try folder.layerStems(only: [15, 3])) { e in
            XCTAssertEqual(e as? SkeletonError, .invalidArgument("directory '\(dir)' holds no layer 3 (it has layer00, layer15)"))
        }
    }

    func testValuesPolicy() throws {
        try writeLayer(0, roles: ["q", "k"])
        try writeLayer(1, roles: ["q", "k", "v"])
        let folder = try CapturedLayers(directory: dir, requireManifest: false)
        let qk = try folder.inputs(layer: 1, values: .qk)
        XCTAssertNil(qk.v)
        XCTAssertEqual([qk.shape.tokens, qk.shape.queryHeads, qk.shape.kvHeads, qk.shape.headDim], [12, 4, 2, 64])
        XCTAssertNotNil(try folder.inputs(layer: 1, values: .qkv).v)
        XCTAssertNil(try folder.inputs("layer00", values: .qkvIfPresent).v)
        XCTAssertNotNil(try folder.inputs("layer01", values: .qkvIfPresent).v)
        // V required but absent: the reader's error names the missing file
        XCTAssertThrowsError(try folder.inputs(layer: 0, values: .qkv)) { e in
            XCTAssertTrue("\(e)".contains("layer00_v.npy"), "\(e)")
        }
    }

    func testUnreadableDirectory() {
        let missing = dir + "/absent"
        XCTAssertThrowsError(try CapturedLayers(directory: missing)) { e in
            XCTAssertEqual(e as? SkeletonError, .fileUnreadable(path: missing, reason: "not a readable directory"))
        }
    }
}

import XCTest
import SparseSkeleton

final class BlockMaskTests: XCTestCase {
    func testFullMaskIsDenseAndCausal() throws {
        let g = try TileGeometry(tokens: 200, queryTile: 64, keyTile: 64)  // 4 blocks, last partial
        let m = try BlockMask.full(geometry: g, heads: 3)
        XCTAssertEqual(g.causalTilesPerHead, 1 + 2 + 3 + 4)
        XCTAssertEqual(m.keptTiles, 3 * 10)
        XCTAssertEqual(m.density, 1.0)
        XCTAssertEqual(m.computedPairs, 3 * 200 * 201 / 2)
        XCTAssertTrue(m.contains(head: 2, queryBlock: 3, keyBlock: 3))
        XCTAssertFalse(m.contains(head: 0, queryBlock: 1, keyBlock: 2))
    }

    func testMixedTileSizesCausalRange() throws {
        let g = try TileGeometry(tokens: 300, queryTile: 128, keyTile: 64)
        XCTAssertEqual(g.queryBlocks, 3)
        XCTAssertEqual(g.lastCausalKeyBlock(0), 1)
        XCTAssertEqual(g.lastCausalKeyBlock(2), 4)
    }

    func testRowsAreSortedDeduplicatedAndCausalityEnforced() throws {
        let g = try TileGeometry(tokens: 128, queryTile: 64, keyTile: 64)
        let m = try BlockMask(geometry: g, heads: 1, rows: [[0, 0], [1, 0, 1]])
        XCTAssertEqual(Array(m.keyBlocks(head: 0, queryBlock: 1)), [0, 1])
        XCTAssertEqual(m.keptTiles, 3)
        XCTAssertThrowsError(try BlockMask(geometry: g, heads: 1, rows: [[1], [0]])) { err in
            XCTAssertTrue("\(err)".contains("causal"), "\(err)")
        }
    }

    func testBadGeometryAndTargets() {
        XCTAssertThrowsError(try TileGeometry(tokens: 0))
        XCTAssertThrowsError(try TileGeometry(tokens: 10, queryTile: 32))
        XCTAssertThrowsError(try MaskTarget.errorBound(epsilon: 1.0).validated())
        XCTAssertThrowsError(try MaskTarget.errorBound(epsilon: 0).validated())
        XCTAssertThrowsError(try MaskTarget.density(1.5).validated())
        XCTAssertNoThrow(try MaskTarget.density(1.0).validated())
    }

    func testShapeValidationNamesTheProblem() throws {
        let q = try HeadTensor(name: "Q", tokens: 4, heads: 6, headDim: 64, values: .init(repeating: 0.5, count: 4 * 6 * 64))
        let k = try HeadTensor(name: "K", tokens: 4, heads: 4, headDim: 64, values: .init(repeating: 0.5, count: 4 * 4 * 64))
        XCTAssertThrowsError(try AttentionShape.validate(q: q, k: k, v: nil)) { err in
            XCTAssertEqual(err as? SkeletonError, .headsNotDivisible(queryHeads: 6, kvHeads: 4))
        }
        var vals = [Float](repeating: 0.5, count: 4 * 2 * 64); vals[70] = .nan
        let kn = try HeadTensor(name: "K", tokens: 4, heads: 2, headDim: 64, values: vals)
        XCTAssertThrowsError(try AttentionShape.validate(q: q, k: kn, v: nil)) { err in
            XCTAssertTrue("\(err)".contains("non-finite") && "\(err)".contains("token 0, head 1, dim 6"), "\(err)")
        }
        let q48 = try HeadTensor(name: "Q", tokens: 4, heads: 2, headDim: 48, values: .init(repeating: 1, count: 4 * 2 * 48))
        XCTAssertThrowsError(try AttentionShape.validate(q: q48, k: q48, v: nil)) { err in
            XCTAssertEqual(err as? SkeletonError, .unsupportedHeadDim(48))
        }
        XCTAssertThrowsError(try HeadTensor.checkContiguous(name: "Q", shape: [4, 2, 64], strides: [64, 256, 1]))
    }

    func testHalfRoundTrip() {
        for x: Float in [0, 1, -2.5, 3.140625, 65504] {
            XCTAssertEqual(HalfBits.f16ToFloat(HalfBits.floatToF16(x)), x)
            XCTAssertEqual(HalfBits.bf16ToFloat(HalfBits.floatToBF16(x)), x, accuracy: abs(x) / 128)
        }
        XCTAssertEqual(HalfBits.bf16ToFloat(HalfBits.floatToBF16(1.0 + 1.0 / 256)), 1.0)  // ties to even
    }

    func testWidenedKeyTilesKeepATileWhenEitherHalfIsKept() throws {
        let g = try TileGeometry(tokens: 600, queryTile: 128, keyTile: 64)  // 5 query blocks, 10 key blocks
        var rows = [[Int32]](repeating: [], count: 2 * g.queryBlocks)
        rows[3] = [0, 1, 4, 7]; rows[4] = [9]; rows[g.queryBlocks + 2] = [5]
        let wide = try BlockMask(geometry: g, heads: 2, rows: rows).widenedKeyTiles(by: 2)
        XCTAssertEqual(wide.geometry.keyTile, 128)
        XCTAssertEqual(Array(wide.keyBlocks(head: 0, queryBlock: 3)), [0, 2, 3])
        XCTAssertEqual(Array(wide.keyBlocks(head: 0, queryBlock: 4)), [4])
        XCTAssertEqual(Array(wide.keyBlocks(head: 1, queryBlock: 2)), [2])
        XCTAssertEqual(wide.keptTiles, 5)
        XCTAssertEqual(try BlockMask.full(geometry: g, heads: 2).widenedKeyTiles(by: 2),
                       try BlockMask.full(geometry: try TileGeometry(tokens: 600, queryTile: 128, keyTile: 128), heads: 2))
        XCTAssertThrowsError(try BlockMask.full(geometry: g, heads: 1).widenedKeyTiles(by: 0))
    }
}

import XCTest
@testable import SparseSkeleton

final class ProfitabilityGateTests: XCTestCase {
    static func model(estimatePerPair: Double = 1e-9) throws -> AttentionCostModel {
        // dense 0.01 ms + 10 ns/tile, sparse 0.02 ms + 15 ns/tile, estimate 0.05 ms + estimatePerPair · pairs
        try AttentionCostModel(headDim: 64, dtype: .bf16, denseFixedMs: 0.01, densePerTileMs: 1e-5, sparseFixedMs: 0.02,
                               sparsePerTileMs: 1.5e-5, estimateFixedMs: 0.05, estimatePerPairMs: estimatePerPair)
    }

    func testDecisionFollowsThePredictedTimes() throws {
        let gate = try ProfitabilityGate(model: try Self.model(), margin: 1)
        let shape = try AttentionShape(tokens: 8192, queryHeads: 32, kvHeads: 8, headDim: 64)
        let g = try TileGeometry(tokens: 8192, queryTile: 128, keyTile: 64)
        let p = SkeletonParameters.growingStride
        let tiles = Double(32 * g.causalTilesPerHead)
        let pairs = AttentionCostModel.probePairs(shape: shape, parameters: p)
        XCTAssertEqual(pairs, 32.0 * Double(64 + 2 * ((8192 - 64 + 31) / 32)) * 8192)
        let d = try gate.decide(shape: shape, dtype: .bf16, geometry: g, predictedDensity: 0.2, parameters: p)
        XCTAssertEqual(d.denseMs, 0.01 + 1e-5 * tiles, accuracy: 1e-12)
        XCTAssertEqual(d.estimateMs, 0.05 + 1e-9 * pairs, accuracy: 1e-12)
        XCTAssertEqual(d.sparseMs, d.estimateMs + 0.02 + 1.5e-5 * 0.2 * tiles, accuracy: 1e-12)
        XCTAssertEqual(d.sparse, d.sparseMs <= d.denseMs)
        // at the break-even density the two predictions meet
        let at = try gate.decide(shape: shape, dtype: .bf16, geometry: g, predictedDensity: min(1, max(0, d.breakEvenDensity)), parameters: p)
        if d.breakEvenDensity > 0, d.breakEvenDensity < 1 { XCTAssertEqual(at.sparseMs, at.denseMs, accuracy: 1e-9) }
        // below break-even sparse, above dense
        if d.breakEvenDensity > 0.01, d.breakEvenDensity < 0.99 {
            XCTAssertTrue(try gate.decide(shape: shape, dtype: .bf16, geometry: g, predictedDensity: d.breakEvenDensity - 0.01, parameters: p).sparse)
            XCTAssertFalse(try gate.decide(shape: shape, dtype: .bf16, geometry: g, predictedDensity: d.breakEvenDensity + 0.01, parameters: p).sparse)
        } else { XCTFail("break-even density \(d.breakEvenDensity) should lie inside (0, 1) for this model") }
    }

    /// A costly estimate at small N: dense at any density (SmolLM2-like 4K, 9 heads, d 64); the same
    /// costs at 128K pay off at low density.
    func testSmallNGoesDenseLongNSparse() throws {
        let gate = try ProfitabilityGate(model: try Self.model(estimatePerPair: 5e-9))
        let p = SkeletonParameters.growingStride
        let small = try AttentionShape(tokens: 4096, queryHeads: 9, kvHeads: 3, headDim: 64)
        let gs = try TileGeometry(tokens: 4096, queryTile: 128, keyTile: 64)
        XCTAssertFalse(try gate.decide(shape: small, dtype: .bf16, geometry: gs, predictedDensity: 0, parameters: p).sparse)
        let long = try AttentionShape(tokens: 131072, queryHeads: 9, kvHeads: 3, headDim: 64)
        let gl = try TileGeometry(tokens: 131072, queryTile: 128, keyTile: 64)
        XCTAssertTrue(try gate.decide(shape: long, dtype: .bf16, geometry: gl, predictedDensity: 0.1, parameters: p).sparse)
        XCTAssertFalse(try gate.decide(shape: long, dtype: .bf16, geometry: gl, predictedDensity: 1, parameters: p).sparse)
        XCTAssertEqual(gate.headsWorthSparse(densities: [0.2, 0.6, 0.7, 1]), [true, true, false, false])
    }

    func testFitAndBadInput() throws {
        let m = try AttentionCostModel.fit(headDim: 128, dtype: .f16, dense: [(1000, 0.11), (2000, 0.21)],
                                           sparse: [(100, 0.05), (300, 0.09), (500, 0.13)], estimates: [(1e6, 0.5)])
        XCTAssertEqual(m.denseFixedMs, 0.01, accuracy: 1e-12); XCTAssertEqual(m.densePerTileMs, 1e-4, accuracy: 1e-15)
        XCTAssertEqual(m.sparseFixedMs, 0.03, accuracy: 1e-12); XCTAssertEqual(m.sparsePerTileMs, 2e-4, accuracy: 1e-15)
        XCTAssertEqual(m.estimateFixedMs, 0); XCTAssertEqual(m.estimatePerPairMs, 5e-7, accuracy: 1e-18)
        XCTAssertThrowsError(try AttentionCostModel.fit(headDim: 64, dtype: .bf16, dense: [], sparse: [(1, 1)], estimates: [(1, 1)]))
        XCTAssertThrowsError(try AttentionCostModel(headDim: 64, dtype: .bf16, denseFixedMs: 0, densePerTileMs: 0, sparseFixedMs: 0,
                                                    sparsePerTileMs: 1, estimateFixedMs: 0, estimatePerPairMs: 0))
        let gate = try ProfitabilityGate(model: try Self.model())
        let shape = try AttentionShape(tokens: 512, queryHeads: 2, kvHeads: 1, headDim: 128)
        let g = try TileGeometry(tokens: 512, queryTile: 64, keyTile: 64)
        XCTAssertThrowsError(try gate.decide(shape: shape, dtype: .bf16, geometry: g, predictedDensity: 0.5, parameters: SkeletonParameters()),
                             "a d64 model for a d128 layer")
        let ok = try AttentionShape(tokens: 512, queryHeads: 2, kvHeads: 1, headDim: 64)
        XCTAssertThrowsError(try gate.decide(shape: ok, dtype: .bf16, geometry: g, predictedDensity: 1.5, parameters: SkeletonParameters()))
        XCTAssertThrowsError(try ProfitabilityGate(model: try Self.model(), margin: 0))
    }
}

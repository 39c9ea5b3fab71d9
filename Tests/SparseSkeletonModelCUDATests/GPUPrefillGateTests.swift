import XCTest
import SparseSkeleton
@testable import SparseSkeletonModelCUDA

/// The GPU prefill's gate on the host: which predicted density each layer gets, and that its decision
/// is the core gate's (no GPU needed).
final class GPUPrefillGateTests: XCTestCase {
    func testPerLayerDensitiesAndDecision() throws {
        let model = try AttentionCostModel(headDim: 64, dtype: .bf16, denseFixedMs: 0.01, densePerTileMs: 1e-5, sparseFixedMs: 0.02,
                                           sparsePerTileMs: 1.5e-5, estimateFixedMs: 0.05, estimatePerPairMs: 1e-10)
        let gate = try ProfitabilityGate(model: model)
        let shape = try AttentionShape(tokens: 8192, queryHeads: 9, kvHeads: 3, headDim: 64)
        let g = try TileGeometry(tokens: 8192, queryTile: 128, keyTile: 64)
        let perLayer = try GPUPrefillGate(gate: gate, predictedDensity: [0.05, 0.99])
        XCTAssertEqual(try perLayer.density(layer: 1), 0.99)
        XCTAssertThrowsError(try perLayer.density(layer: 2))
        for l in 0..<2 {
            let d = try perLayer.decide(layer: l, shape: shape, dtype: .bf16, geometry: g)
            let core = try gate.decide(shape: shape, dtype: .bf16, geometry: g, predictedDensity: [0.05, 0.99][l], parameters: .growingStride)
            XCTAssertEqual(d, core)
        }
        XCTAssertTrue(try perLayer.decide(layer: 0, shape: shape, dtype: .bf16, geometry: g).sparse)
        XCTAssertFalse(try perLayer.decide(layer: 1, shape: shape, dtype: .bf16, geometry: g).sparse)
        let one = try GPUPrefillGate(gate: gate, predictedDensity: [0.3])
        XCTAssertEqual(try one.density(layer: 29), 0.3)
        XCTAssertThrowsError(try GPUPrefillGate(gate: gate, predictedDensity: []))
    }
}

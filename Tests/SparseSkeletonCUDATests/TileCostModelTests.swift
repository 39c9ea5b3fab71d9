import XCTest
import SparseSkeleton
@testable import SparseSkeletonCUDA

final class TileCostModelTests: XCTestCase {
    /// Points on an exact line are fitted exactly; budgets invert the line and clamp.
    func testFitRecoversLineAndInvertsBudget() throws {
        var rng = SystemRandomNumberGenerator()
        let a = Double.random(in: 0.05...0.5, using: &rng), b = Double.random(in: 1e-6...1e-4, using: &rng)
        let pts = [1e4, 5e4, 2e5].map { (tiles: $0, ms: a + b * $0) }
        let m = try TileCostModel.fit(headDim: 128, dtype: .bf16, tokens: 32768, points: pts)
        XCTAssertEqual(m.fixedMs, a, accuracy: 1e-9 * max(1, a))
        XCTAssertEqual(m.perTileMs, b, accuracy: 1e-12)
        let causal = 300_000
        let d = m.density(budgetMs: a + b * 150_000, estimationMs: 0, causalTiles: causal, minimumTiles: 100)
        XCTAssertEqual(d, 0.5, accuracy: 1e-9)
        // estimation time comes out of the budget
        let dEst = m.density(budgetMs: a + b * 150_000, estimationMs: b * 30_000, causalTiles: causal, minimumTiles: 100)
        XCTAssertEqual(dEst, 0.4, accuracy: 1e-9)
        XCTAssertEqual(m.density(budgetMs: 1e9, estimationMs: 0, causalTiles: causal, minimumTiles: 100), 1)
        XCTAssertEqual(m.density(budgetMs: 0, estimationMs: 0, causalTiles: causal, minimumTiles: 100), 100.0 / Double(causal))
    }

    func testFitRejectsDegenerateInput() {
        XCTAssertThrowsError(try TileCostModel.fit(headDim: 128, dtype: .bf16, tokens: 1, points: [(tiles: 1, ms: 1)]))
        XCTAssertThrowsError(try TileCostModel.fit(headDim: 128, dtype: .bf16, tokens: 1, points: [(tiles: 5, ms: 1), (tiles: 5, ms: 2)]))
        XCTAssertThrowsError(try TileCostModel.fit(headDim: 128, dtype: .bf16, tokens: 1, points: [(tiles: 1, ms: 2), (tiles: 5, ms: 1)]))
    }
}

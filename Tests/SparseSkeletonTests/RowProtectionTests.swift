import XCTest
@testable import SparseSkeleton

/// The row-exact local band (`AlwaysKeep.bandTokens`) and the tail calibration of the error bound.
final class RowProtectionTests: XCTestCase {
    func testBandKeepsEveryRowsLastKeys() throws {
        for (n, qt, w) in [(1000, 64, 64), (1000, 128, 64), (777, 128, 200), (300, 64, 1), (4096, 64, 130)] {
            let g = try TileGeometry(tokens: n, queryTile: qt, keyTile: 64)
            let keep = AlwaysKeep(sinkBlocks: 1, localBlocks: 1, bandTokens: w)
            for qb in 0..<g.queryBlocks {
                let blocks = Set(keep.keyBlocks(queryBlock: qb, geometry: g))
                for i in g.queryRows(qb) {
                    for j in max(0, i - w + 1)...i { XCTAssertTrue(blocks.contains(j / 64), "N \(n) tile \(qt) w \(w): row \(i) key \(j)") }
                }
                // and nothing more than the band, the diagonal tile and the sink
                let first = max(0, g.queryRows(qb).lowerBound - w + 1) / 64
                XCTAssertEqual(blocks, Set([0] + Array(min(first, g.lastCausalKeyBlock(qb))...g.lastCausalKeyBlock(qb))))
            }
        }
        let g = try TileGeometry(tokens: 1024, queryTile: 64, keyTile: 64)
        XCTAssertEqual(AlwaysKeep.banded.keyBlocks(queryBlock: 5, geometry: g), [0, 4, 5])
        XCTAssertEqual(AlwaysKeep.standard.keyBlocks(queryBlock: 5, geometry: g), [0, 5])
        let g128 = try TileGeometry(tokens: 1024, queryTile: 128, keyTile: 64)
        XCTAssertEqual(AlwaysKeep.banded.keyBlocks(queryBlock: 2, geometry: g128), [0, 3, 4, 5])
    }

    func testBandedMaskKeepsEveryRowsLocalWindow() throws {
        let x = try StructuredAttentionGenerator(.init(tokens: 1024, queryHeads: 2, kvHeads: 1, headDim: 64, seed: 3)).inputs()
        let g = try TileGeometry(tokens: 1024, queryTile: 64, keyTile: 64)
        var p = SkeletonParameters(); p.alwaysKeep = .banded
        for target in [MaskTarget.errorBound(epsilon: 0.3), .density(0.05)] {
            let m = try SkeletonEstimator(parameters: p).estimate(x, geometry: g, target: target).mask
            for h in 0..<2 { for qb in 1..<g.queryBlocks { XCTAssertTrue(m.contains(head: h, queryBlock: qb, keyBlock: qb - 1), "\(target) head \(h) block \(qb)") } }
        }
    }

    /// With the tail test asked of every check row, each check row keeps ≥ 1 − scale · ε at the
    /// calibrated ε' (or ε' sits at the bottom of its range), and ε' is never above the mean-only one.
    func testTailCalibrationHoldsOnEveryCheckRow() throws {
        let x = try StructuredAttentionGenerator(.init(tokens: 2048, queryHeads: 4, kvHeads: 2, headDim: 64, seed: 11)).inputs()
        let g = try TileGeometry(tokens: 2048, queryTile: 64, keyTile: 64)
        let eps = 0.05
        let meanOnly = SkeletonEstimator()
        var tp = SkeletonParameters(); tp.tailQuantile = 1e-9; tp.tailScale = 2
        let tail = SkeletonEstimator(parameters: tp)
        let (masses, fits) = try tail.masses(x, geometry: g)
        var tighter = 0
        for (h, f) in fits.enumerated() {
            let (e0, _) = meanOnly.calibratedEpsilon(f, masses: masses, head: h, epsilon: eps)
            let (e1, _) = tail.calibratedEpsilon(f, masses: masses, head: h, epsilon: eps)
            XCTAssertLessThanOrEqual(e1, e0 * (1 + 1e-12), "head \(h)")
            if e1 < e0 { tighter += 1 }
            guard e1 > eps / 256 * (1 + 1e-9) else { continue }
            let m = try ErrorBoundThreshold.mask(masses, epsilons: [Double](repeating: e1, count: fits.count), alwaysKeep: tp.alwaysKeep)
            for (ci, r) in f.checkRows.enumerated() {
                let kept = m.mask.keyBlocks(head: h, queryBlock: r / 64).reduce(0.0) { $0 + f.checkTileMass[ci][Int($1)] }
                XCTAssertGreaterThanOrEqual(kept, 1 - 2 * eps, "head \(h) check row \(r)")
            }
        }
        XCTAssertGreaterThan(tighter, 0, "the tail test should bind on some head of this input")
        var bad = SkeletonParameters(); bad.tailQuantile = 1.5
        XCTAssertThrowsError(try bad.validate(tokens: 100))
    }
}

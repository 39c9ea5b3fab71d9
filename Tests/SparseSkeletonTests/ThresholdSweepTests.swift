import XCTest
@testable import SparseSkeleton

/// `ErrorBoundThreshold.sweep` (one sort per row, rows in parallel) gives exactly the masks of
/// `mask(_:epsilon:)` at every ε, on heavy-tailed random masses with ties, for both always-kept
/// sets, a window and a tile size that does not divide N.
final class ThresholdSweepTests: XCTestCase {
    func masses(tokens: Int, tile: Int, heads: Int, seed: UInt64) throws -> TileMasses {
        var r = EstFixtures.Rng(s: seed)
        var m = try TileMasses(geometry: TileGeometry(tokens: tokens, queryTile: tile, keyTile: tile), heads: heads)
        for i in m.values.indices {
            let u = r.uniform()
            m.values[i] = u < 0.1 ? 0.25 : pow(u, 6)  // ties at 0.25, most tiles small
        }
        return m
    }

    func testSweepEqualsOneMaskPerEpsilon() throws {
        let cases: [(Int, Int, AlwaysKeep, AttentionSpec)] = [(1000, 64, .banded, .causal), (1500, 64, .standard, .causal),
                                                              (777, 128, .banded, AttentionSpec(window: 300))]
        for (i, (n, tile, keep, spec)) in cases.enumerated() {
            let m = try masses(tokens: n, tile: tile, heads: 3, seed: UInt64(40 + i))
            let swept = try ErrorBoundThreshold.sweep(m, epsilons: FrontierRunner.epsilonGrid, alwaysKeep: keep, spec: spec)
            XCTAssertEqual(swept.count, FrontierRunner.epsilonGrid.count)
            var densities: [Double] = []
            for (e, eps) in FrontierRunner.epsilonGrid.enumerated() {
                let one = try ErrorBoundThreshold.mask(m, epsilon: eps, alwaysKeep: keep, spec: spec).mask
                for h in 0..<3 {
                    for qb in 0..<one.geometry.queryBlocks {
                        XCTAssertEqual(Array(swept[e].keyBlocks(head: h, queryBlock: qb)), Array(one.keyBlocks(head: h, queryBlock: qb)),
                                       "case \(i) ε \(eps) head \(h) block \(qb)")
                    }
                }
                densities.append(one.density)
            }
            XCTAssertGreaterThan(densities.first!, 0); XCTAssertLessThan(densities.first!, densities.last!, "the sweep must span densities")
        }
    }

    func testSweepRefusesAnEpsilonOutOfRange() throws {
        let m = try masses(tokens: 256, tile: 64, heads: 1, seed: 3)
        XCTAssertThrowsError(try ErrorBoundThreshold.sweep(m, epsilons: [0.1, 1.0]))
    }
}

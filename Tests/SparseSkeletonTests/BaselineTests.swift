import XCTest
@testable import SparseSkeleton

final class BaselineTests: XCTestCase {
    func testMInferenceKeepsSinksAndLocalBandAndMeetsDensity() throws {
        let x = try EstFixtures.inputs(tokens: 1200, heads: 2, kvHeads: 1, seed: 4)
        let g = try TileGeometry(tokens: 1200, queryTile: 64, keyTile: 64)
        let mi = MInferenceEstimator()
        for target in [MaskTarget.density(0.5), .errorBound(epsilon: 0.3)] {
            let m = try mi.estimate(x, geometry: g, target: target).mask
            for h in 0..<2 { for qb in 0..<g.queryBlocks {
                XCTAssertTrue(m.contains(head: h, queryBlock: qb, keyBlock: 0), "sink columns 0..<30")
                XCTAssertTrue(m.contains(head: h, queryBlock: qb, keyBlock: g.lastCausalKeyBlock(qb)), "local diagonals")
            } }
        }
        // forced columns 0..<30 and diagonals 0..<100 alone cover ~0.4 of the tiles at N = 1200
        let d = try mi.estimate(x, geometry: g, target: .density(0.5)).mask.density
        XCTAssertEqual(d, 0.5, accuracy: 0.05)
        let tight = try mi.estimate(x, geometry: g, target: .errorBound(epsilon: 0.01)).mask.density
        let loose = try mi.estimate(x, geometry: g, target: .errorBound(epsilon: 0.5)).mask.density
        XCTAssertGreaterThanOrEqual(tight, loose)
    }

    func testMInferenceColumnAndDiagonalScoresMatchBruteForce() throws {
        let x = try EstFixtures.inputs(tokens: 100, heads: 1, kvHeads: 1, seed: 8)
        let mi = MInferenceEstimator()
        let s = try mi.scores(x, head: 0)
        let truth = try ExactTileMasses.compute(x, geometry: try TileGeometry(tokens: 100))
        // Column + diagonal scores both sum to the number of probe rows (each row sums to 1).
        XCTAssertEqual(s.column.reduce(0, +), 64, accuracy: 1e-3)
        XCTAssertEqual(s.diagonal.reduce(0, +), 64, accuracy: 1e-3)
        XCTAssertGreaterThan(truth[0, 1, 1], 0)
    }

    /// XAttention's stacked-row product equals the brute-force antidiagonal sums (float64).
    func testXAttentionAntidiagonalScores() throws {
        let n = 128
        let x = try EstFixtures.inputs(tokens: n, heads: 1, kvHeads: 1, seed: 12)
        let g = try TileGeometry(tokens: n, queryTile: 64, keyTile: 64)
        var xa = XAttentionEstimator(); xa.alwaysKeep = AlwaysKeep(sinkBlocks: 0, localBlocks: 1)
        let m = try xa.masses(x, geometry: g)
        let s = 8, groups = n / s, d = 64
        var z = [[Double]](repeating: [Double](repeating: -.infinity, count: groups), count: groups)
        for a in 0..<groups { for b in 0...a {
            var t = 0.0
            for u in 0..<s { for c in 0..<d { t += Double(x.q[(a * s + s - 1 - u) * d + c]) * Double(x.k[(b * s + u) * d + c]) } }
            z[a][b] = t / (Double(d).squareRoot() * Double(s))
        } }
        var tile = [[Double]](repeating: [0, 0], count: 2)
        for a in 0..<groups {
            let mx = z[a][0...a].max()!
            let den = z[a][0...a].reduce(0) { $0 + exp($1 - mx) }
            for b in 0...a { tile[a / 8][b / 8] += exp(z[a][b] - mx) / den / 8 }
        }
        for qb in 0..<2 { for kb in 0...qb { XCTAssertEqual(m[0, qb, kb], tile[qb][kb], accuracy: 1e-4) } }
    }

    func testFlexPrefillPooledScoresAndTargets() throws {
        let x = try EstFixtures.inputs(tokens: 640, heads: 2, kvHeads: 2, seed: 13)
        let g = try TileGeometry(tokens: 640, queryTile: 64, keyTile: 64)
        let fp = FlexPrefillEstimator()
        let m = try fp.masses(x, geometry: g)
        for h in 0..<2 { for qb in 0..<g.queryBlocks {
            XCTAssertEqual(m.values[m.rowRange(head: h, queryBlock: qb)].reduce(0, +), 1, accuracy: 1e-5)
        } }
        let d = try fp.estimate(x, geometry: g, target: .density(0.5)).mask.density
        XCTAssertEqual(d, 0.5, accuracy: 2.0 / Double(2 * g.causalTilesPerHead))
        XCTAssertThrowsError(try fp.estimate(x, geometry: g, target: .density(0)))
        XCTAssertThrowsError(try XAttentionEstimator().estimate(x, geometry: g, target: .errorBound(epsilon: 0)))
        XCTAssertThrowsError(try MInferenceEstimator().estimate(x, geometry: g, target: .errorBound(epsilon: 1)))
    }
}

import XCTest
@testable import SparseSkeleton

final class OracleTests: XCTestCase {
    /// Float64 brute-force tile masses (independent of Gemm and ExactRows).
    static func bruteTileMasses(_ x: AttentionInputs, geometry g: TileGeometry) -> [[[Double]]] {
        let s = x.shape, d = s.headDim
        return (0..<s.queryHeads).map { h in
            let kv = s.kvHead(forQueryHead: h)
            var rowsP: [[Double]] = []
            for i in 0..<s.tokens {
                var logits = [Double](repeating: 0, count: i + 1)
                for j in 0...i {
                    var dot = 0.0
                    for t in 0..<d { dot += Double(x.q[x.qOffset(token: i, head: h) + t]) * Double(x.k[x.kOffset(token: j, kvHead: kv) + t]) }
                    logits[j] = dot / Double(d).squareRoot()
                }
                let m = logits.max()!
                let z = logits.reduce(0) { $0 + exp($1 - m) }
                rowsP.append(logits.map { exp($0 - m) / z })
            }
            return (0..<g.queryBlocks).map { qb in
                (0...g.lastCausalKeyBlock(qb)).map { kb in
                    var sum = 0.0
                    for i in g.queryRows(qb) { for j in g.keyColumns(kb) where j <= i { sum += rowsP[i][j] } }
                    return sum / Double(g.queryRows(qb).count)
                }
            }
        }
    }

    func testExactTileMassesMatchFloat64() throws {
        let x = try EstFixtures.inputs(tokens: 150, heads: 4, kvHeads: 2, seed: 21)
        let g = try TileGeometry(tokens: 150, queryTile: 64, keyTile: 64)
        let m = try ExactTileMasses.compute(x, geometry: g)
        let ref = Self.bruteTileMasses(x, geometry: g)
        var worst = 0.0
        for h in 0..<4 { for qb in 0..<g.queryBlocks { for kb in 0...g.lastCausalKeyBlock(qb) {
            worst = max(worst, abs(m[h, qb, kb] - ref[h][qb][kb]) / max(ref[h][qb][kb], 1e-3))
        } } }
        XCTAssertLessThan(worst, 1e-4)
    }

    func testOracleReachesItsRecallWithTheFewestTiles() throws {
        let x = try EstFixtures.inputs(tokens: 400, heads: 2, kvHeads: 1, seed: 5)
        let g = try TileGeometry(tokens: 400, queryTile: 64, keyTile: 64)
        let truth = try ExactTileMasses.compute(x, geometry: g)
        for eps in [0.05, 0.2] {
            let est = try OracleEstimator().estimate(x, geometry: g, target: .errorBound(epsilon: eps))
            for h in 0..<2 { for qb in 0..<g.queryBlocks {
                let kept = est.mask.keyBlocks(head: h, queryBlock: qb).map(Int.init)
                let mass = kept.reduce(0.0) { $0 + truth[h, qb, $1] }
                XCTAssertGreaterThanOrEqual(mass, 1 - eps - 1e-9)
                // The best set with one tile fewer (diagonal forced + the largest others) misses the goal.
                let diag = g.lastCausalKeyBlock(qb)
                guard kept.count > 1 else { continue }
                let others = (0...diag).filter { $0 != diag }.map { truth[h, qb, $0] }.sorted(by: >)
                let best = truth[h, qb, diag] + others.prefix(kept.count - 2).reduce(0, +)
                XCTAssertLessThan(best, 1 - eps)
            } }
        }
        let dense = try OracleEstimator().estimate(x, geometry: g, target: .density(0.5))
        XCTAssertEqual(dense.mask.density, 0.5, accuracy: 1.0 / Double(dense.mask.causalTiles) + 1e-9)
    }
}

import XCTest
@testable import SparseSkeleton

/// The scorer behind `skeleton mask-eval` (AttentionTruth): recall and output error of any mask,
/// checked against float64 brute force and against the masked reference attention.
final class MaskEvalTests: XCTestCase {
    func testTruthScoresAgreeWithMaskedReferenceAttention() throws {
        let n = 200
        let x = try EstFixtures.inputs(tokens: n, heads: 4, kvHeads: 2, seed: 31)
        let g = try TileGeometry(tokens: n, queryTile: 64, keyTile: 64)
        let masses = try ExactTileMasses.compute(x, geometry: g)
        let mask = try ErrorBoundThreshold.mask(masses, epsilon: 0.3).mask
        let dense = try ReferenceAttention.dense(x, precision: .float64).output
        let masked = try ReferenceAttention.masked(x, mask: mask).output
        let brute = OracleTests.bruteTileMasses(x, geometry: g)
        let d = 64
        for h in 0..<4 {
            let t = try AttentionTruth(x, head: h, geometry: g)
            let s = t.score(mask, maskHead: h, outputs: true)
            var e2 = 0.0, o2 = 0.0
            for i in 0..<n { for c in 0..<d {
                let o = Double(dense[(i * 4 + h) * d + c]), m = Double(masked[(i * 4 + h) * d + c])
                e2 += (o - m) * (o - m); o2 += o * o
            } }
            XCTAssertEqual((s.errorSquared / s.outputSquared).squareRoot(), (e2 / o2).squareRoot(), accuracy: 1e-4)
            XCTAssertGreaterThan(s.errorSquared, 0)
            // mean recall = Σ over blocks of kept true masses weighted by rows
            var expect = 0.0
            for qb in 0..<g.queryBlocks {
                for kb in mask.keyBlocks(head: h, queryBlock: qb) { expect += brute[h][qb][Int(kb)] * Double(g.queryRows(qb).count) }
            }
            XCTAssertEqual(s.recallMean, expect / Double(n), accuracy: 1e-5)
            let full = t.score(try BlockMask.full(geometry: g, heads: 4), maskHead: h, outputs: true)
            XCTAssertEqual(full.recallMin, 1, accuracy: 1e-5)
            XCTAssertLessThan((full.errorSquared / full.outputSquared).squareRoot(), 1e-5)
        }
    }

    /// With an output row stride k the output error is that of exactly the rows i ≡ k − 1 (mod k),
    /// and recall is unchanged (still every row); strides that do not divide the tile, and one longer than it.
    func testSampledOutputRowsScoreExactlyThoseRows() throws {
        let n = 200, heads = 4, d = 64
        let x = try EstFixtures.inputs(tokens: n, heads: heads, kvHeads: 2, seed: 32)
        let g = try TileGeometry(tokens: n, queryTile: 64, keyTile: 64)
        let mask = try ErrorBoundThreshold.mask(try ExactTileMasses.compute(x, geometry: g), epsilon: 0.3).mask
        let dense = try ReferenceAttention.dense(x, precision: .float64).output
        let masked = try ReferenceAttention.masked(x, mask: mask).output
        var realErrors = 0
        for stride in [1, 3, 16, 70] {
            for h in 0..<heads {
                let all = try AttentionTruth(x, head: h, geometry: g).score(mask, maskHead: h, outputs: true)
                let t = try AttentionTruth(x, head: h, geometry: g, outputRowStride: stride)
                XCTAssertEqual(t.dense?.count, n / stride * d)
                let s = t.score(mask, maskHead: h, outputs: true)
                var e2 = 0.0, o2 = 0.0
                for i in 0..<n where i % stride == stride - 1 { for c in 0..<d {
                    let o = Double(dense[(i * heads + h) * d + c]), m = Double(masked[(i * heads + h) * d + c])
                    e2 += (o - m) * (o - m); o2 += o * o
                } }
                // float32 noise where the mask keeps a row's every tile: relative 1e-3 of the error or 1e-6 of the output
                XCTAssertEqual(s.errorSquared, e2, accuracy: 1e-3 * e2 + 1e-6 * o2, "stride \(stride) head \(h)")
                if e2 > 1e-4 * o2 { realErrors += 1 }
                XCTAssertEqual(s.outputSquared / o2, 1, accuracy: 1e-4, "stride \(stride) head \(h)")
                XCTAssertEqual(s.recallMean, all.recallMean)
                XCTAssertEqual(s.recallMin, all.recallMin)
            }
        }
        XCTAssertGreaterThanOrEqual(realErrors, 2, "the mask must drop mass on some sampled rows")
        XCTAssertThrowsError(try AttentionTruth(x, head: 0, geometry: g, outputRowStride: 0))
    }
}

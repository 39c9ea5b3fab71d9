import XCTest
@testable import SparseSkeleton

final class MetricsTests: XCTestCase {
    func testOutputErrorPerHeadIsTheKnownScaling() throws {
        let shape = try AttentionShape(tokens: 7, queryHeads: 3, kvHeads: 1, headDim: 64)
        let reference = (0..<(7 * 3 * 64)).map { _ in Float.random(in: -1...1) }
        let deltas: [Float] = [0, 0.5, -0.25]   // Ô_h = (1 + δ_h) · O_h ⇒ err_h = |δ_h|
        let approx = reference.enumerated().map { i, x in x * (1 + deltas[(i / 64) % 3]) }
        let e = try OutputError.relative(approx, reference: reference, shape: shape)
        for h in 0..<3 { XCTAssertEqual(e.perHead[h], Double(abs(deltas[h])), accuracy: 1e-6) }
        var num = 0.0, den = 0.0
        for (a, b) in zip(approx, reference) { num += Double(a - b) * Double(a - b); den += Double(b) * Double(b) }
        XCTAssertEqual(e.overall, (num / den).squareRoot(), accuracy: 1e-9)
        XCTAssertThrowsError(try OutputError.relative([1], reference: reference, shape: shape)) {
            XCTAssertTrue("\($0)".contains("output error"), "\($0)")
        }
        let zero = [Float](repeating: 0, count: reference.count)
        XCTAssertEqual(try OutputError.relative(zero, reference: zero, shape: shape).overall, 0)
        XCTAssertEqual(try OutputError.relative(reference, reference: zero, shape: shape).overall, .infinity)
    }

    func testFLOPsCountUsefulCausalPairs() throws {
        let g = try TileGeometry(tokens: 200, queryTile: 64, keyTile: 64)
        let full = AttentionFLOPs.of(try BlockMask.full(geometry: g, heads: 2), headDim: 128)
        XCTAssertEqual(full.computed, 4 * 128 * 2 * 200 * 201 / 2)
        XCTAssertEqual(full.fraction, 1)
        // diagonal tiles only: blocks of 64, 64, 64 and 8 rows, each a triangle b(b+1)/2
        let diag = try BlockMask(geometry: g, heads: 2, rows: (0..<8).map { [Int32($0 % 4)] })
        let pairs = 3 * (64 * 65 / 2) + 8 * 9 / 2
        let f = AttentionFLOPs.of(diag, headDim: 128)
        XCTAssertEqual(f.computed, Double(4 * 128 * 2 * pairs))
        XCTAssertEqual(f.fraction, Double(pairs) / Double(200 * 201 / 2), accuracy: 1e-12)
    }

    func testMaskQualityAgainstNaiveFloat64() throws {
        let n = 200, hq = 2, hkv = 1
        let x = try RefTestData.inputs(tokens: n, queryHeads: hq, kvHeads: hkv, spread: 3)
        let g = try TileGeometry(tokens: n)
        // keep the diagonal and block 0 in head 0, only the diagonal in head 1
        var rows: [[Int32]] = []
        for h in 0..<hq { for qb in 0..<g.queryBlocks { rows.append(h == 0 ? [0, Int32(qb)] : [Int32(qb)]) } }
        let mask = try BlockMask(geometry: g, heads: hq, rows: rows)
        let q = try MaskQuality.evaluate(x, mask: mask)
        let truthDense = RefTestData.naive(x)
        let truthMasked = RefTestData.naive(x) { h, i, j in mask.contains(head: h, queryBlock: i / 64, keyBlock: j / 64) }
        let expectedError = RefTestData.relativeError(truthMasked.o, truthDense.o)
        XCTAssertEqual(q.outputError.overall, expectedError, accuracy: 1e-4 * max(expectedError, 1e-3))
        XCTAssertGreaterThan(q.outputError.overall, 0)
        XCTAssertEqual(q.density, mask.density)
        XCTAssertEqual(q.perHeadDensity, [mask.density(head: 0), mask.density(head: 1)])
        XCTAssertGreaterThan(q.recall.perHeadMean[0], q.recall.perHeadMean[1])  // head 0 keeps a superset
        XCTAssertLessThan(q.flops.fraction, 1)
        // the batch path shares one dense and one exact-mass pass and must agree
        let full = try BlockMask.full(geometry: g, heads: hq)
        let batch = try MaskQuality.evaluate(x, masks: [mask, full])
        XCTAssertEqual(batch[0].recall, q.recall)
        XCTAssertEqual(batch[0].outputError.overall, q.outputError.overall, accuracy: 1e-9)
        XCTAssertLessThan(batch[1].outputError.overall, 1e-5)
        XCTAssertEqual(batch[1].recall.min, 1, accuracy: 1e-5)
        XCTAssertEqual(batch[1].flops.fraction, 1)
    }

    func testMaskQualityRejectsMismatchedMask() throws {
        let x = try RefTestData.inputs(tokens: 80, queryHeads: 2, kvHeads: 2)
        let g = try TileGeometry(tokens: 80)
        XCTAssertThrowsError(try MaskQuality.evaluate(x, mask: try BlockMask.full(geometry: g, heads: 1))) {
            XCTAssertTrue("\($0)".contains("1 heads"), "\($0)")
        }
    }
}

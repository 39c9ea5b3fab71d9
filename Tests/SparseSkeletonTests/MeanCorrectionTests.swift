import XCTest
@testable import SparseSkeleton

final class MeanCorrectionTests: XCTestCase {
    static func sparseMask(_ g: TileGeometry, heads: Int) throws -> BlockMask {
        var rows: [[Int32]] = []
        for _ in 0..<heads { for qb in 0..<g.queryBlocks { rows.append(qb >= 3 ? [0, Int32(qb)] : (0...qb).map(Int32.init)) } }
        return try BlockMask(geometry: g, heads: heads, rows: rows)
    }

    /// V the same for every key: any masked output is that V, and so is its correction (K̂ + Σ m̂ = 1).
    func testConstantValuesStayExact() throws {
        let base = try RefTestData.inputs(tokens: 400, queryHeads: 2, kvHeads: 1, headDim: 64)
        let row: [Float] = (0..<64).map { Float($0 % 8) - 3.5 }
        let v = (0..<400).flatMap { _ in row }
        let x = try AttentionInputs(shape: base.shape, q: base.q, k: base.k, v: v)
        let g = try TileGeometry(tokens: 400, queryTile: 64, keyTile: 64)
        let mask = try Self.sparseMask(g, heads: 2)
        var masses = try TileMasses(geometry: g, heads: 2)
        for i in masses.values.indices { masses.values[i] = Double(i % 7 + 1) }
        let c = try MeanCorrection(masses: masses, mask: mask, inputs: x)
        let out = try ReferenceAttention.masked(x, mask: mask, correction: c)
        for (i, o) in out.output.enumerated() { XCTAssertEqual(o, row[i % 64], accuracy: 1e-4) }
        XCTAssertTrue(c.keptShare.contains { $0 < 0.99 }, "the test mask drops mass")
    }

    /// The full mask has nothing to add back; the true tile masses bring a sparse output closer to dense,
    /// and the exact pass scores the corrected output as the corrected reference computes it.
    func testFullMaskUnchangedAndTrueMassesHelp() throws {
        let x = try StructuredAttentionGenerator(.init(tokens: 512, queryHeads: 2, kvHeads: 1, headDim: 64, seed: 5)).inputs()
        let g = try TileGeometry(tokens: 512, queryTile: 64, keyTile: 64)
        let truths = try (0..<2).map { try AttentionTruth(x, head: $0, geometry: g) }
        var masses = try TileMasses(geometry: g, heads: 2)
        for (h, t) in truths.enumerated() { t.tileMasses(into: &masses, as: h) }
        let full = try BlockMask.full(geometry: g, heads: 2)
        let plain = try ReferenceAttention.masked(x, mask: full)
        let same = try ReferenceAttention.masked(x, mask: full, correction: try MeanCorrection(masses: masses, mask: full, inputs: x))
        XCTAssertLessThan(RefTestData.relativeError(same.output, plain.output), 1e-5)
        let mask = try ErrorBoundThreshold.mask(masses, epsilon: 0.2).mask
        let c = try MeanCorrection(masses: masses, mask: mask, inputs: x)
        let dense = try ReferenceAttention.dense(x)
        let sparse = try ReferenceAttention.masked(x, mask: mask)
        let corrected = try ReferenceAttention.masked(x, mask: mask, correction: c)
        let e0 = RefTestData.relativeError(sparse.output, dense.output), e1 = RefTestData.relativeError(corrected.output, dense.output)
        XCTAssertLessThan(e1, e0, "correction with the true masses: \(e1) vs \(e0)")
        var e2 = 0.0, o2 = 0.0
        for (h, t) in truths.enumerated() { let s = t.score(mask, maskHead: h, outputs: true, correction: c); e2 += s.errorSquared; o2 += s.outputSquared }
        XCTAssertEqual((e2 / o2).squareRoot(), e1, accuracy: 1e-3 * e1 + 1e-6)
        // LSE: the kept mass's LSE minus log K̂ — above the sparse one, towards the dense one
        for i in 0..<(2 * 512) where sparse.logSumExp![i].isFinite { XCTAssertGreaterThanOrEqual(corrected.logSumExp![i], sparse.logSumExp![i] - 1e-6) }
    }

    func testMismatchedInputsThrow() throws {
        let x = try RefTestData.inputs(tokens: 200, queryHeads: 2, kvHeads: 1, headDim: 64)
        let g = try TileGeometry(tokens: 200, queryTile: 64, keyTile: 64)
        let m1 = try TileMasses(geometry: g, heads: 1)
        XCTAssertThrowsError(try MeanCorrection(masses: m1, mask: try BlockMask.full(geometry: g, heads: 2), inputs: x))
        let noV = try AttentionInputs(shape: x.shape, q: x.q, k: x.k, v: nil)
        XCTAssertThrowsError(try MeanCorrection(masses: try TileMasses(geometry: g, heads: 2), mask: try BlockMask.full(geometry: g, heads: 2), inputs: noV))
    }
}

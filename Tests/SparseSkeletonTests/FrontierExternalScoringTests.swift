import XCTest
@testable import SparseSkeleton

/// The scoring path of `gpu-mask-eval` on the CPU: truths built from row masses alone
/// (`AttentionTruth(masses:)`) and the output error supplied from outside (`FrontierRunner.outputError`)
/// must give `mask-eval`'s numbers, on generated inputs small enough for the full exact pass.
final class FrontierExternalScoringTests: XCTestCase {
    let n = 640, heads = 4

    func inputs() throws -> AttentionInputs {
        try StructuredAttentionGenerator(.init(tokens: n, queryHeads: heads, kvHeads: 1, headDim: 64, seed: 5)).inputs()
    }

    func testMassOnlyTruthsAndExternalOutputErrorReproduceMaskEval() throws {
        let x = try inputs()
        let g = try TileGeometry(tokens: n, queryTile: 64, keyTile: 64)
        let full = try (0..<heads).map { try AttentionTruth(x, head: $0, geometry: g) }
        let massOnly = try full.map { try AttentionTruth(masses: $0.mass, head: $0.head, headDim: $0.headDim, geometry: g) }
        let estimators: [any MaskEstimator] = [SkeletonEstimator(), MInferenceEstimator(), OracleEstimator()]

        var reference = FrontierRunner(estimators: estimators, geometryTile: 64)
        try reference.run(layer: "L", inputs: x, truths: full)

        var external = FrontierRunner(estimators: estimators, geometryTile: 64)
        var calls = 0
        external.outputError = { _, mask in
            calls += 1
            XCTAssertEqual(mask.heads, self.heads)
            return (0..<self.heads).map { h in
                let s = full[h].score(mask, maskHead: h, outputs: true)
                return (s.errorSquared / s.outputSquared).squareRoot()
            }
        }
        let xNoV = try AttentionInputs(shape: x.shape, q: x.q, k: x.k, v: nil)
        try external.run(layer: "L", inputs: xNoV, truths: massOnly)
        XCTAssertEqual(calls, estimators.count * 3, "one call per estimator and recall")

        let a = reference.summary, b = external.summary
        XCTAssertEqual(a.rows.map(\.estimator), b.rows.map(\.estimator))
        for (ra, rb) in zip(a.rows, b.rows) {
            XCTAssertEqual(ra.density, rb.density, "\(ra.estimator)")
            XCTAssertEqual(ra.worstRow, rb.worstRow, "\(ra.estimator)")
            XCTAssertEqual(ra.unreached, rb.unreached, "\(ra.estimator)")
            let ea = try XCTUnwrap(ra.outputError), eb = try XCTUnwrap(rb.outputError)
            for (u, v) in zip(ea, eb) { XCTAssertEqual(u, v, accuracy: 1e-12, "\(ra.estimator)") }
            XCTAssertTrue(ea.contains { $0 > 1e-4 }, "\(ra.estimator): the sparse masks must lose some output")
        }
        XCTAssertEqual(a.promise?.kept, b.promise?.kept)
        XCTAssertEqual(a.promise?.recallSum ?? 0, b.promise?.recallSum ?? 1, accuracy: 1e-12)
    }

    func testRecordedPromiseAndRowQuantile() throws {
        let x = try inputs()
        let g = try TileGeometry(tokens: n, queryTile: 64, keyTile: 64)
        let t = try AttentionTruth(x, head: 1, geometry: g, withOutputs: false)
        let mask = try SkeletonEstimator().estimate(x, geometry: g, target: .errorBound(epsilon: 0.05)).mask
        // brute force: every row's recall, sorted, the entry at ⌊0.05 · N⌋
        var recalls: [Float] = []
        for i in 0..<n {
            var r: Float = 0
            for b in mask.keyBlocks(head: 1, queryBlock: i / 64) { r += t.mass[i * g.keyBlocks + Int(b)] }
            recalls.append(r)
        }
        recalls.sort()
        XCTAssertEqual(t.rowRecallQuantile(mask, maskHead: 1, 0.05), Double(recalls[n / 20]))
        XCTAssertEqual(t.rowRecallQuantile(mask, maskHead: 1, 0.0), t.score(mask, maskHead: 1, outputs: false).recallMin, accuracy: 1e-6)
        XCTAssertLessThan(Double(recalls[0]), Double(recalls[n - 1]), "a mask whose rows all recall the same would not test the quantile")

        var f = FrontierRunner(estimators: [], geometryTile: 64)
        f.recordPromise(recallMean: 0.96, density: 0.5, estimatedRecall: 0.955)
        f.recordPromise(recallMean: 0.94, density: 0.3, estimatedRecall: 0.951)
        let p = try XCTUnwrap(f.summary.promise)
        XCTAssertEqual(p.heads, 2); XCTAssertEqual(p.kept, 1)
        XCTAssertEqual(p.densitySum, 0.8, accuracy: 1e-12)
    }

    func testMassOnlyTruthRefusesAWrongSize() {
        let g = try! TileGeometry(tokens: 128, queryTile: 64, keyTile: 64)
        XCTAssertThrowsError(try AttentionTruth(masses: [Float](repeating: 0, count: 128 * 2 - 1), head: 0, headDim: 64, geometry: g))
    }

    func testExternalRowsListEstimatorsRunOutsideTheSweep() throws {
        let x = try inputs()
        let g = try TileGeometry(tokens: n, queryTile: 64, keyTile: 64)
        let truths = try (0..<heads).map { try AttentionTruth(x, head: $0, geometry: g, withOutputs: false) }
        var f = FrontierRunner(estimators: [], geometryTile: 64)
        f.rowQuantile = 0.05
        let masks = try [0.2, 0.05, 0.01].map { try SkeletonEstimator().estimate(x, geometry: g, target: .errorBound(epsilon: $0)).mask }
        try f.accumulate(estimator: "skeleton-gpu-like", layer: "L", masks: masks, truths: truths, outputs: false)
        let row = try XCTUnwrap(f.summary.rows.first)
        XCTAssertEqual(row.estimator, "skeleton-gpu-like")
        let low = try XCTUnwrap(row.lowRow)
        for (w, l) in zip(row.worstRow, low) { XCTAssertGreaterThanOrEqual(l, w - 1e-12) }
        XCTAssertTrue(f.summary.table(title: "t").contains("p5.row@0.95"))
    }
}

import XCTest
@testable import SparseSkeleton

/// The numbers `mask-eval` ends with, from a mask set whose recalls are known in closed form:
/// with Q = 0 every row attends uniformly to its causal keys, so on 128 tokens in 64-tiles row i ≥ 64
/// has mass 64/(i+1) in tile (1,0) and (i−63)/(i+1) in tile (1,1); rows < 64 have everything in (0,0).
final class FrontierSummaryTests: XCTestCase {
    let n = 128
    lazy var g = try! TileGeometry(tokens: n, queryTile: 64, keyTile: 64)
    func mask(_ lastRow: [Int32]) throws -> BlockMask { try BlockMask(geometry: g, heads: 1, rows: [[0], lastRow]) }

    /// Mean row recall when query block 1 keeps tile (1,0) (`column`) or tile (1,1).
    func recall(column: Bool) -> (mean: Double, worst: Double) {
        var sum = 64.0, worst = 1.0
        for i in 64..<n {
            let r = column ? 64 / Double(i + 1) : Double(i - 63) / Double(i + 1)
            sum += r; worst = min(worst, r)
        }
        return (sum / Double(n), worst)
    }

    func truth() throws -> AttentionTruth {
        let shape = try AttentionShape(tokens: n, queryHeads: 1, kvHeads: 1, headDim: 64)
        let k = (0..<(n * 64)).map { Float(($0 * 7) % 5) - 2 }
        let x = try AttentionInputs(shape: shape, q: [Float](repeating: 0, count: n * 64), k: k, v: k)
        return try AttentionTruth(x, head: 0, geometry: g, withOutputs: true)
    }

    func testReadingInterpolatesBetweenTheSweepPointsAroundTheTarget() {
        let pts = FrontierReading.sorted([.init(density: 0.4, recall: 0.96), .init(density: 0.1, recall: 0.5),
                                          .init(density: 0.6, recall: 1.0), .init(density: 0.2, recall: 0.8)])
        XCTAssertEqual(FrontierReading.density(reaching: 0.9, in: pts)!.density, 0.2 + 0.625 * 0.2, accuracy: 1e-12)
        XCTAssertEqual(FrontierReading.density(reaching: 0.9, in: pts)!.index, 2)
        XCTAssertEqual(FrontierReading.density(reaching: 0.5, in: pts)!.density, 0.1)
        XCTAssertNil(FrontierReading.density(reaching: 1.01, in: pts))
    }

    func testRunnerSummaryFromAKnownMaskSet() throws {
        let t = try truth()
        let diagonal = try mask([1]), column = try mask([0]), full = try mask([0, 1])
        var f = FrontierRunner(estimators: [SkeletonEstimator(), OracleEstimator()], recalls: [0.8, 0.95], curveRecalls: [0.8, 0.9], geometryTile: 64)
        try f.accumulate(estimator: "skeleton", layer: "L", masks: [diagonal], truths: [t], outputs: true)
        try f.accumulate(estimator: "oracle", layer: "L", masks: [full, diagonal, column], truths: [t], outputs: true)
        let s = f.summary
        let oracle = try XCTUnwrap(s.rows.first { $0.estimator == "oracle" }), skeleton = try XCTUnwrap(s.rows.first { $0.estimator == "skeleton" })
        let col = recall(column: true), diag = recall(column: false)
        XCTAssertGreaterThan(col.mean, 0.8); XCTAssertLessThan(col.mean, 0.95); XCTAssertLessThan(diag.mean, 0.8)
        // 0.8: the column mask (2 of 3 causal tiles) is the first to reach it, at the diagonal's density
        XCTAssertEqual(oracle.density[0], 2.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(oracle.worstRow[0], col.worst, accuracy: 1e-5)  // row 127: 64/128
        // 0.95: between the column mask and the full one
        let t95 = (0.95 - col.mean) / (1 - col.mean)
        XCTAssertEqual(oracle.density[1], 2.0 / 3 + t95 / 3, accuracy: 1e-5)
        XCTAssertEqual(oracle.worstRow[1], 1, accuracy: 1e-5)
        XCTAssertEqual(oracle.outputError![1], 0, accuracy: 1e-5)
        XCTAssertEqual(oracle.curve[1], 2.0 / 3 + (0.9 - col.mean) / (1 - col.mean) / 3, accuracy: 1e-5)
        // the skeleton's only mask reaches neither: dense fallback, counted
        XCTAssertEqual(skeleton.density, [1, 1]); XCTAssertEqual(skeleton.unreached, [1, 1])
        XCTAssertEqual(s.skeletonRatio(to: "oracle")!, 1 / oracle.density[1], accuracy: 1e-9)
        XCTAssertEqual(f.medianHead(estimator: "oracle")?.density95 ?? 0, oracle.density[1], accuracy: 1e-12)
    }

    func testRatiosAndVerdictNameTheBaselinesBeatenAndNot() throws {
        func row(_ name: String, _ d95: Double) -> FrontierSummary.Row {
            .init(estimator: name, heads: 9, density: [d95 - 0.1, d95, d95 + 0.1], outputError: [0.1, 0.05, 0.01], worstRow: [0.5, 0.7, 0.9], unreached: [0, 0, 0])
        }
        let s = FrontierSummary(recalls: [0.9, 0.95, 0.99], rows: [row("skeleton", 0.3), row("minference", 0.4), row("xattention", 0.25), row("oracle", 0.2)])
        XCTAssertEqual(s.skeletonRatio(to: "minference")!, 0.75, accuracy: 1e-12)
        XCTAssertEqual(s.skeletonRatio(to: "xattention")!, 1.2, accuracy: 1e-12)
        XCTAssertEqual(s.skeletonRatio(to: "oracle")!, 1.5, accuracy: 1e-12)
        XCTAssertEqual(s.verdict, "verdict: for mean recall 0.95 the skeleton keeps 30.0% of the tiles: 1.50× the exact oracle's density; fewer tiles than minference but not xattention (minference 0.75×, xattention 1.20×); output error 0.050 there (lowest baseline: minference 0.050)")
        let table = s.table(title: "T")
        let line = try XCTUnwrap(table.split(separator: "\n").first { $0.hasPrefix("minference") })
        XCTAssertEqual(line.split(separator: " "), ["minference", "9", "0.300", "0.400", "0.500", "0.0500", "0.700", "0.75", "0/0/0"])
    }
}

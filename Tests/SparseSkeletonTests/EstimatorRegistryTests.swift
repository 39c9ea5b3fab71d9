import XCTest
@testable import SparseSkeleton

final class EstimatorRegistryTests: XCTestCase {
    func testNamesRoundTrip() throws {
        XCTAssertEqual(EstimatorRegistry.names, ["skeleton", "minference", "flexprefill", "xattention", "oracle"])
        XCTAssertEqual(Set(EstimatorRegistry.names).count, EstimatorRegistry.names.count, "names are unique")
        for name in EstimatorRegistry.names { XCTAssertEqual(try EstimatorRegistry.named(name).name, name) }
        XCTAssertEqual(EstimatorRegistry.all.map(\.name), EstimatorRegistry.names)
        XCTAssertTrue(try EstimatorRegistry.named("skeleton") is SkeletonEstimator)
        XCTAssertTrue(try EstimatorRegistry.named("oracle") is OracleEstimator)
    }

    func testUnknownNameErrorListsTheKnownNames() {
        XCTAssertThrowsError(try EstimatorRegistry.named("skeletn")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("'skeletn'"), text)
            for name in EstimatorRegistry.names { XCTAssertTrue(text.contains(name), "\(name) missing from: \(text)") }
        }
    }

    func testHelpHasOneLinePerEstimator() {
        let lines = EstimatorRegistry.helpText.split(separator: "\n")
        XCTAssertEqual(lines.count, EstimatorRegistry.names.count)
        for (line, name) in zip(lines, EstimatorRegistry.names) {
            XCTAssertTrue(line.hasPrefix("  \(name) "), String(line))
            XCTAssertGreaterThan(line.count, name.count + 10, "help text missing for \(name)")
            XCTAssertLessThanOrEqual(line.count, 80, "help of \(name) wraps in an 80-column terminal")
        }
        XCTAssertEqual(EstimatorRegistry.choices, "skeleton | minference | flexprefill | xattention | oracle")
    }

    /// Every registered estimator gives a valid causal mask at both tile targets: one row per
    /// (head, query block), the always-kept diagonal tile in every row, density in (0, 1].
    func testEveryEstimatorMakesAValidMask() throws {
        let n = 512
        let x = try StructuredAttentionGenerator(.init(tokens: n, queryHeads: 4, kvHeads: 2, headDim: 64, seed: 3)).inputs()
        let g = try TileGeometry(tokens: n, queryTile: 64, keyTile: 64)
        for estimator in EstimatorRegistry.all {
            for target in [MaskTarget.errorBound(epsilon: 0.05), .density(0.3)] {
                let m = try estimator.estimate(x, geometry: g, target: target).mask
                XCTAssertEqual(m.heads, 4, estimator.name)
                XCTAssertEqual(m.rowOffsets.count, 4 * g.queryBlocks + 1, estimator.name)
                XCTAssertGreaterThan(m.density, 0, "\(estimator.name) \(target)")
                XCTAssertLessThanOrEqual(m.density, 1, "\(estimator.name) \(target)")
                for h in 0..<4 {
                    for qb in 0..<g.queryBlocks {
                        let row = Array(m.keyBlocks(head: h, queryBlock: qb))
                        XCTAssertEqual(row, row.sorted(), "\(estimator.name) row \(h), \(qb) ascending")
                        XCTAssertTrue(row.allSatisfy { Int($0) <= g.lastCausalKeyBlock(qb) }, "\(estimator.name) causal")
                        XCTAssertTrue(m.contains(head: h, queryBlock: qb, keyBlock: g.lastCausalKeyBlock(qb)),
                                      "\(estimator.name) \(target): diagonal tile of row \(h), \(qb)")
                    }
                }
            }
        }
    }
}

import XCTest
@testable import SparseSkeleton

/// Seeded inputs for the estimator tests (name prefixed: other helpers' tests share this module).
enum EstFixtures {
    struct Rng {
        var s: UInt64
        mutating func next() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9; z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
        mutating func normal() -> Float { Float((-2 * log(max(uniform(), 1e-300))).squareRoot() * cos(2 * .pi * uniform())) }
    }

    static func inputs(tokens: Int, heads: Int, kvHeads: Int, headDim: Int = 64, seed: UInt64, scale: Float = 1.5) throws -> AttentionInputs {
        var r = Rng(s: seed)
        let shape = try AttentionShape(tokens: tokens, queryHeads: heads, kvHeads: kvHeads, headDim: headDim)
        let q = (0..<(tokens * heads * headDim)).map { _ in r.normal() * scale }
        let k = (0..<(tokens * kvHeads * headDim)).map { _ in r.normal() * scale }
        let v = (0..<(tokens * kvHeads * headDim)).map { _ in r.normal() }
        return try AttentionInputs(shape: shape, q: q, k: k, v: v)
    }

    /// Random positive tile masses, heavy-tailed (some concentrated rows).
    static func masses(tokens: Int, heads: Int, tile: Int = 64, seed: UInt64, sharpness: [Double]? = nil) throws -> TileMasses {
        var r = Rng(s: seed)
        let g = try TileGeometry(tokens: tokens, queryTile: tile, keyTile: tile)
        var m = try TileMasses(geometry: g, heads: heads)
        for h in 0..<heads {
            let sharp = sharpness?[h] ?? 2
            for i in 0..<m.tilesPerHead { m.values[h * m.tilesPerHead + i] = exp(sharp * Double(r.normal())) }
        }
        return m.normalisedPerQueryBlock()
    }
}

final class ThresholdTests: XCTestCase {
    func testErrorBoundMeetsEpsilonOnTheEstimateAndDensityFalls() throws {
        let m = try EstFixtures.masses(tokens: 1000, heads: 3, seed: 7)
        var lastDensity = 2.0
        for eps in [0.005, 0.02, 0.05, 0.1, 0.2, 0.4] {
            let est = try ErrorBoundThreshold.mask(m, epsilon: eps)
            for h in 0..<3 {
                for qb in 0..<m.geometry.queryBlocks {
                    let kept = est.mask.keyBlocks(head: h, queryBlock: qb).reduce(0.0) { $0 + m[h, qb, Int($1)] }
                    XCTAssertGreaterThanOrEqual(kept, 1 - eps - 1e-12, "head \(h) block \(qb) eps \(eps)")
                    // Minimal for the estimate: dropping the smallest optional tile breaks the bound.
                    let forced = Set(AlwaysKeep.standard.keyBlocks(queryBlock: qb, geometry: m.geometry))
                    let optional = est.mask.keyBlocks(head: h, queryBlock: qb).filter { !forced.contains(Int($0)) }
                    if let smallest = optional.min(by: { m[h, qb, Int($0)] < m[h, qb, Int($1)] }) {
                        XCTAssertLessThan(kept - m[h, qb, Int(smallest)], 1 - eps)
                    }
                }
                XCTAssertGreaterThanOrEqual(est.estimatedRecall![h], 1 - eps - 1e-12)
            }
            XCTAssertLessThanOrEqual(est.mask.density, lastDensity)
            lastDensity = est.mask.density
        }
        XCTAssertLessThan(lastDensity, 0.9)
    }

    func testAlwaysKeepSinkAndDiagonal() throws {
        let m = try EstFixtures.masses(tokens: 700, heads: 2, seed: 3)
        let est = try ErrorBoundThreshold.mask(m, epsilon: 0.9)
        for h in 0..<2 {
            for qb in 0..<m.geometry.queryBlocks {
                XCTAssertTrue(est.mask.contains(head: h, queryBlock: qb, keyBlock: 0))
                XCTAssertTrue(est.mask.contains(head: h, queryBlock: qb, keyBlock: m.geometry.lastCausalKeyBlock(qb)))
            }
        }
    }

    func testBudgetHitsTheDensityAndFavoursConcentratedHeads() throws {
        // head 0 concentrated (sharp), head 2 diffuse (flat)
        let m = try EstFixtures.masses(tokens: 1500, heads: 3, seed: 11, sharpness: [4, 2, 0.3])
        let total = 3 * m.tilesPerHead
        for d in [0.2, 0.3, 0.5, 0.8] {
            let est = try BudgetThreshold.mask(m, density: d)
            let target = Int((d * Double(total)).rounded())
            XCTAssertLessThanOrEqual(abs(est.mask.keptTiles - target), 3, "density \(d)")
            // Once τ falls below the diffuse head's flat level, the diffuse head takes more tiles than the
            // concentrated one (at tiny budgets both get only their biggest tiles, the sharp head's first).
            if d == 0.5 { XCTAssertLessThan(est.mask.keptTiles(head: 0), est.mask.keptTiles(head: 2), "density \(d)") }
            // one global threshold: every dropped optional tile has mass ≤ every kept optional tile
            var minKept = Double.infinity, maxDropped = 0.0
            for h in 0..<3 {
                for qb in 0..<m.geometry.queryBlocks {
                    let forced = Set(AlwaysKeep.standard.keyBlocks(queryBlock: qb, geometry: m.geometry))
                    for kb in 0...m.geometry.lastCausalKeyBlock(qb) where !forced.contains(kb) {
                        if est.mask.contains(head: h, queryBlock: qb, keyBlock: kb) { minKept = min(minKept, m[h, qb, kb]) }
                        else { maxDropped = max(maxDropped, m[h, qb, kb]) }
                    }
                }
            }
            XCTAssertLessThanOrEqual(maxDropped, minKept)
        }
    }

    func testBadTargetsThrow() throws {
        let m = try EstFixtures.masses(tokens: 200, heads: 1, seed: 1)
        for e in [0.0, 1.0, -0.1, .nan, 2] {
            XCTAssertThrowsError(try ErrorBoundThreshold.mask(m, epsilon: e)) { XCTAssertTrue("\($0)".contains("epsilon"), "\($0)") }
        }
        for d in [0.0, 1.5, -1, .infinity] {
            XCTAssertThrowsError(try BudgetThreshold.mask(m, density: d)) { XCTAssertTrue("\($0)".contains("budget"), "\($0)") }
        }
        XCTAssertThrowsError(try ErrorBoundThreshold.mask(m, epsilons: [0.1, 0.1]))
    }
}

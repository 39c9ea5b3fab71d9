import XCTest
import Foundation
import Dispatch
@testable import SparseSkeleton

/// Exact block masses and row recall against a float64 softmax computed in the test.
final class BlockMassTests: XCTestCase {
    /// probs[h][i][j] for j ≤ i, float64.
    private func naiveProbabilities(_ x: AttentionInputs) -> [[[Double]]] {
        let s = x.shape, d = s.headDim
        return (0..<s.queryHeads).map { h in
            let g = h / s.groupSize
            return (0..<s.tokens).map { i in
                let logits = (0...i).map { j -> Double in
                    var dot = 0.0
                    for c in 0..<d { dot += Double(x.q[(i * s.queryHeads + h) * d + c]) * Double(x.k[(j * s.kvHeads + g) * d + c]) }
                    return dot / Double(d).squareRoot()
                }
                let m = logits.max()!
                let e = logits.map { exp($0 - m) }
                let z = e.reduce(0, +)
                return e.map { $0 / z }
            }
        }
    }

    func testMassesMatchNaiveFloat64() throws {
        for (n, hq, hkv, qt, kt) in [(200, 2, 1, 64, 64), (190, 3, 3, 128, 64), (150, 2, 2, 64, 128)] {
            let x = try RefTestData.inputs(tokens: n, queryHeads: hq, kvHeads: hkv, spread: 3)
            let g = try TileGeometry(tokens: n, queryTile: qt, keyTile: kt)
            let table = try ExactAttentionMass.compute(x, geometry: g).masses
            let probs = naiveProbabilities(x)
            XCTAssertEqual(table.values.count, hq * g.causalTilesPerHead)
            for h in 0..<hq {
                for qb in 0..<g.queryBlocks {
                    var rowTotal = 0.0
                    for kb in 0...g.lastCausalKeyBlock(qb) {
                        var expected = 0.0
                        for i in g.queryRows(qb) { for j in g.keyColumns(kb) where j <= i { expected += probs[h][i][j] } }
                        let got = table.mass(head: h, queryBlock: qb, keyBlock: kb)
                        XCTAssertEqual(got, expected, accuracy: 1e-5 * max(1, expected), "h\(h) I\(qb) J\(kb) tiles \(qt)x\(kt)")
                        rowTotal += got
                    }
                    // every row carries mass 1, so a query block's tiles sum to its row count
                    XCTAssertEqual(rowTotal, Double(g.queryRows(qb).count), accuracy: 1e-4)
                    XCTAssertEqual(table.mass(head: h, queryBlock: qb, keyBlock: g.lastCausalKeyBlock(qb) + 1), 0)
                }
            }
        }
    }

    func testRowRecallOfMasksMatchesNaive() throws {
        let n = 230, hq = 4, hkv = 2
        let x = try RefTestData.inputs(tokens: n, queryHeads: hq, kvHeads: hkv, spread: 3)
        let g = try TileGeometry(tokens: n, queryTile: 64, keyTile: 64)
        var rows: [[Int32]] = []
        for _ in 0..<hq {
            for qb in 0..<g.queryBlocks { rows.append((0...g.lastCausalKeyBlock(qb)).filter { _ in Bool.random() }.map(Int32.init)) }
        }
        let mask = try BlockMask(geometry: g, heads: hq, rows: rows)
        let full = try BlockMask.full(geometry: g, heads: hq)
        let (table, recalls) = try ExactAttentionMass.compute(x, geometry: g, recallOf: [mask, full])
        let probs = naiveProbabilities(x)
        for h in 0..<hq {
            var lo = Double.infinity, total = 0.0
            for i in 0..<n {
                var r = 0.0
                for j in 0...i where mask.contains(head: h, queryBlock: i / 64, keyBlock: j / 64) { r += probs[h][i][j] }
                lo = min(lo, r); total += r
            }
            XCTAssertEqual(recalls[0].perHeadMin[h], lo, accuracy: 1e-5)
            XCTAssertEqual(recalls[0].perHeadMean[h], total / Double(n), accuracy: 1e-5)
            XCTAssertEqual(recalls[1].perHeadMin[h], 1, accuracy: 1e-5)
        }
        let fromTable = try table.meanRecall(of: mask)
        for h in 0..<hq { XCTAssertEqual(fromTable[h], recalls[0].perHeadMean[h], accuracy: 1e-9) }
        XCTAssertEqual(recalls[0].min, recalls[0].perHeadMin.min()!)
        XCTAssertEqual(recalls[1].mean, 1, accuracy: 1e-5)
        XCTAssertEqual(try ExactAttentionMass.recall(x, masks: [mask]), [recalls[0]])
    }

    func testMismatchedGeometryOrHeadsIsRejected() throws {
        let x = try RefTestData.inputs(tokens: 100, queryHeads: 2, kvHeads: 1)
        let g = try TileGeometry(tokens: 100)
        XCTAssertThrowsError(try ExactAttentionMass.compute(x, geometry: try TileGeometry(tokens: 99))) {
            XCTAssertTrue("\($0)".contains("99 tokens"), "\($0)")
        }
        XCTAssertThrowsError(try ExactAttentionMass.compute(x, geometry: g, recallOf: [try BlockMask.full(geometry: g, heads: 1)])) {
            XCTAssertTrue("\($0)".contains("1 heads"), "\($0)")
        }
        let other = try TileGeometry(tokens: 100, queryTile: 128, keyTile: 64)
        XCTAssertThrowsError(try ExactAttentionMass.compute(x, geometry: g, recallOf: [try BlockMask.full(geometry: other, heads: 2)]))
        let table = try ExactAttentionMass.compute(x, geometry: g).masses
        XCTAssertThrowsError(try table.meanRecall(of: try BlockMask.full(geometry: other, heads: 2)))
    }
}

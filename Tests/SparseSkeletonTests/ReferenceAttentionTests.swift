import XCTest
import Foundation
@testable import SparseSkeleton

/// Fresh random attention inputs and float64 ground truth written independently of the library.
enum RefTestData {
    static func inputs(tokens: Int, queryHeads: Int, kvHeads: Int, headDim: Int = 64, spread: Float = 2) throws -> AttentionInputs {
        let shape = try AttentionShape(tokens: tokens, queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim)
        func draw(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -spread...spread) } }
        return try AttentionInputs(shape: shape, q: draw(tokens * queryHeads * headDim),
                                   k: draw(tokens * kvHeads * headDim), v: draw(tokens * kvHeads * headDim))
    }

    /// Naive float64 causal softmax attention; `keep(head, i, j)` removes pairs (default: keep all).
    /// Returns O [N, Hq, d] and LSE [Hq, N]; rows with nothing kept get O = 0, LSE = −∞.
    static func naive(_ x: AttentionInputs, keep: (Int, Int, Int) -> Bool = { _, _, _ in true }) -> (o: [Double], lse: [Double]) {
        let s = x.shape, d = s.headDim
        var o = [Double](repeating: 0, count: s.tokens * s.queryHeads * d)
        var lse = [Double](repeating: -.infinity, count: s.queryHeads * s.tokens)
        let v = x.v!
        for h in 0..<s.queryHeads {
            let g = h / (s.queryHeads / s.kvHeads)
            for i in 0..<s.tokens {
                var logits: [(Int, Double)] = []
                for j in 0...i where keep(h, i, j) {
                    var dot = 0.0
                    for c in 0..<d { dot += Double(x.q[(i * s.queryHeads + h) * d + c]) * Double(x.k[(j * s.kvHeads + g) * d + c]) }
                    logits.append((j, dot / Double(d).squareRoot()))
                }
                guard let m = logits.map({ $0.1 }).max() else { continue }
                let z = logits.reduce(0.0) { $0 + exp($1.1 - m) }
                lse[h * s.tokens + i] = m + log(z)
                for (j, l) in logits {
                    let p = exp(l - m) / z
                    for c in 0..<d { o[(i * s.queryHeads + h) * d + c] += p * Double(v[(j * s.kvHeads + g) * d + c]) }
                }
            }
        }
        return (o, lse)
    }

    /// ‖a − b‖ / ‖b‖ over all entries.
    static func relativeError<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ a: [A], _ b: [B]) -> Double {
        precondition(a.count == b.count)
        var e = 0.0, r = 0.0
        for (x, y) in zip(a, b) { let dd = Double(x) - Double(y); e += dd * dd; r += Double(y) * Double(y) }
        return (e / max(r, 1e-300)).squareRoot()
    }

    /// Largest |LSE difference| over finite entries; −∞ must match −∞ exactly.
    static func maxLSEDifference(_ a: [Float], _ b: [Double]) -> Double {
        var worst = 0.0
        for (x, y) in zip(a, b) {
            if y == -.infinity { if x != -.infinity { return .infinity }; continue }
            worst = max(worst, abs(Double(x) - y) / max(1, abs(y)))
        }
        return worst
    }
}

final class ReferenceAttentionTests: XCTestCase {
    func testVectorExpMatchesFloat64() {
        var xs: [Float] = (0..<4000).map { _ in Float.random(in: -87...88) } + [0, -0.0, 1, -1, 88.5, -86.99]
        xs += (0..<1000).map { _ in Float.random(in: -1...1) }
        var worst = 0.0
        for x in xs {
            let ref = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(VectorMath.exp(x)) - ref) / ref)
        }
        XCTAssertLessThan(worst, 3e-7)
        XCTAssertEqual(VectorMath.exp(-.infinity), 0)
        XCTAssertEqual(VectorMath.exp(-200), 0)
        XCTAssertEqual(VectorMath.exp(100), .infinity)
        XCTAssertTrue(VectorMath.exp(.nan).isNaN)
        // expShifted on a 13-long row (vector body + tail) returns the sum it wrote
        var row: [Float] = (0..<13).map { _ in Float.random(in: -5...5) }
        let orig = row
        let total = row.withUnsafeMutableBufferPointer { VectorMath.expShifted($0.baseAddress!, count: 13, shift: 2) }
        let expected = orig.map { Foundation.exp(Double($0) - 2) }
        XCTAssertLessThan(RefTestData.relativeError(row, expected), 1e-6)
        XCTAssertEqual(Double(total), expected.reduce(0, +), accuracy: 1e-5 * expected.reduce(0, +))
    }

    func testDenseFloat32MatchesNaiveFloat64AndFloat64Mode() throws {
        for (hq, hkv) in [(2, 2), (4, 2)] {
            let x = try RefTestData.inputs(tokens: 150, queryHeads: hq, kvHeads: hkv)
            let truth = RefTestData.naive(x)
            let f32 = try ReferenceAttention.dense(x)
            let f64 = try ReferenceAttention.dense(x, precision: .float64)
            XCTAssertLessThan(RefTestData.relativeError(f32.output, truth.o), 1e-5, "f32 vs naive, \(hq)/\(hkv)")
            XCTAssertLessThan(RefTestData.relativeError(f64.output, truth.o), 1e-6, "f64 vs naive")
            XCTAssertLessThan(RefTestData.relativeError(f32.output, f64.output), 1e-5, "f32 vs f64")
            XCTAssertLessThan(RefTestData.maxLSEDifference(f32.logSumExp!, truth.lse), 1e-5)
            XCTAssertLessThan(RefTestData.maxLSEDifference(f64.logSumExp!, truth.lse), 1e-6)
            XCTAssertEqual(f32.density, 1)
        }
    }

    func testMaskedUnderFullMaskEqualsDense() throws {
        // MHA and GQA, N not a multiple of the tile, square and mixed tiles.
        let cases: [(n: Int, hq: Int, hkv: Int, qt: Int, kt: Int)] = [
            (200, 2, 2, 64, 64), (150, 4, 1, 64, 64), (260, 2, 1, 128, 128), (201, 3, 3, 128, 64), (130, 2, 1, 64, 128),
        ]
        for c in cases {
            let x = try RefTestData.inputs(tokens: c.n, queryHeads: c.hq, kvHeads: c.hkv)
            let g = try TileGeometry(tokens: c.n, queryTile: c.qt, keyTile: c.kt)
            let masked = try ReferenceAttention.masked(x, mask: try BlockMask.full(geometry: g, heads: c.hq))
            let dense = try ReferenceAttention.dense(x)
            let rel = RefTestData.relativeError(masked.output, dense.output)
            XCTAssertLessThan(rel, 1e-5, "\(c)")
            let lseRel = RefTestData.maxLSEDifference(masked.logSumExp!, dense.logSumExp!.map(Double.init))
            XCTAssertLessThan(lseRel, 1e-5, "\(c)")
        }
    }

    func testPartialMaskEqualsNaiveMaskedSoftmax() throws {
        for (qt, kt) in [(64, 64), (128, 64), (64, 128)] {
            let n = 260, hq = 4, hkv = 2
            let x = try RefTestData.inputs(tokens: n, queryHeads: hq, kvHeads: hkv)
            let g = try TileGeometry(tokens: n, queryTile: qt, keyTile: kt)
            var rows: [[Int32]] = []
            for h in 0..<hq {
                for qb in 0..<g.queryBlocks {
                    let last = g.lastCausalKeyBlock(qb)
                    // head 3, block 0 keeps nothing; otherwise a random subset (maybe without the diagonal)
                    if h == 3 && qb == 0 { rows.append([]); continue }
                    rows.append((0...last).filter { _ in Bool.random() }.map(Int32.init))
                }
            }
            // a query block whose only tile is in the future of its first rows (mixed tiles)
            if qt == 128 { rows[0] = [1] }
            let mask = try BlockMask(geometry: g, heads: hq, rows: rows)
            let truth = RefTestData.naive(x) { h, i, j in mask.contains(head: h, queryBlock: i / qt, keyBlock: j / kt) }
            let got = try ReferenceAttention.masked(x, mask: mask)
            XCTAssertLessThan(RefTestData.relativeError(got.output, truth.o), 1e-5, "tiles \(qt)x\(kt)")
            XCTAssertLessThan(RefTestData.maxLSEDifference(got.logSumExp!, truth.lse), 1e-5, "tiles \(qt)x\(kt)")
            // rows with nothing kept: O = 0, LSE = −∞
            for i in g.queryRows(0) {
                XCTAssertEqual(got.logSumExp![3 * n + i], -.infinity)
                XCTAssertTrue((0..<64).allSatisfy { got.output[(i * hq + 3) * 64 + $0] == 0 })
            }
            XCTAssertEqual(got.density, mask.density)
        }
    }

    func testBadInputsGetTypedErrors() throws {
        let x = try RefTestData.inputs(tokens: 70, queryHeads: 2, kvHeads: 1)
        let g = try TileGeometry(tokens: 70)
        XCTAssertThrowsError(try ReferenceAttention.masked(x, mask: try BlockMask.full(geometry: g, heads: 3))) {
            XCTAssertTrue("\($0)".contains("3 heads"), "\($0)")
        }
        let g2 = try TileGeometry(tokens: 71)
        XCTAssertThrowsError(try ReferenceAttention.masked(x, mask: try BlockMask.full(geometry: g2, heads: 2))) {
            XCTAssertTrue("\($0)".contains("71 tokens"), "\($0)")
        }
        let noV = try AttentionInputs(shape: x.shape, q: x.q, k: x.k, v: nil)
        XCTAssertThrowsError(try ReferenceAttention.dense(noV)) { XCTAssertTrue("\($0)".contains("needs V"), "\($0)") }
    }

    func testBackendsAgreeAndRecordDensity() throws {
        let x = try RefTestData.inputs(tokens: 140, queryHeads: 2, kvHeads: 2)
        let dense = DenseReferenceBackend()
        let masked = MaskedReferenceBackend(name: "full") { inputs, _ in
            try BlockMask.full(geometry: try TileGeometry(tokens: inputs.shape.tokens), heads: inputs.shape.queryHeads)
        }
        let a = try dense.attend(x, layer: 0), b = try masked.attend(x, layer: 0)
        XCTAssertLessThan(RefTestData.relativeError(b.output, a.output), 1e-5)
        XCTAssertEqual(masked.densities.count, 1)
        XCTAssertEqual(masked.meanDensity, 1)
    }
}

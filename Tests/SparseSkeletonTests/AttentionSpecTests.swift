import XCTest
import Foundation
@testable import SparseSkeleton

/// Windowed, scaled and softcapped attention against a float64 computation written here, plus the
/// tile bookkeeping of a window and the errors of bad specs.
final class AttentionSpecTests: XCTestCase {
    /// Float64 attention of the given rows under `spec`, written from the definition: row i sees
    /// j ∈ [i − w + 1, i], logit = cap(scale · q·k). Returns O rows [rows, Hq, d] and LSE [rows, Hq].
    static func naive(_ x: AttentionInputs, spec: AttentionSpec, rows: [Int]) -> (o: [Double], lse: [Double]) {
        let s = x.shape, d = s.headDim, v = x.v!
        let scale = spec.scale ?? 1 / Double(d).squareRoot()
        var o = [Double](repeating: 0, count: rows.count * s.queryHeads * d)
        var lse = [Double](repeating: 0, count: rows.count * s.queryHeads)
        for (r, i) in rows.enumerated() {
            for h in 0..<s.queryHeads {
                let g = h / (s.queryHeads / s.kvHeads)
                let first = spec.window.map { max(0, i - $0 + 1) } ?? 0
                var logits: [Double] = []
                for j in first...i {
                    var dot = 0.0
                    for c in 0..<d { dot += Double(x.q[(i * s.queryHeads + h) * d + c]) * Double(x.k[(j * s.kvHeads + g) * d + c]) }
                    var l = dot * scale
                    if let cap = spec.softcap { l = cap * tanh(l / cap) }
                    logits.append(l)
                }
                let m = logits.max()!
                let z = logits.reduce(0.0) { $0 + exp($1 - m) }
                lse[r * s.queryHeads + h] = m + log(z)
                for (u, l) in logits.enumerated() {
                    let p = exp(l - m) / z, j = first + u
                    for c in 0..<d { o[(r * s.queryHeads + h) * d + c] += p * Double(v[(j * s.kvHeads + g) * d + c]) }
                }
            }
        }
        return (o, lse)
    }

    /// Checks `result` on `rows` against the float64 computation (relative O error, LSE difference).
    func assertMatches(_ result: AttentionResult, _ x: AttentionInputs, spec: AttentionSpec, rows: [Int],
                       tolerance: Double, _ what: String) {
        let s = x.shape, d = s.headDim
        let (o, lse) = Self.naive(x, spec: spec, rows: rows)
        var got = [Float](), gotLSE = [Float]()
        for i in rows {
            got += result.output[(i * s.queryHeads * d)..<((i + 1) * s.queryHeads * d)]
            for h in 0..<s.queryHeads { gotLSE.append(result.logSumExp![h * s.tokens + i]) }
        }
        XCTAssertLessThan(RefTestData.relativeError(got, o), tolerance, "\(what): output")
        var worst = 0.0
        for (a, b) in zip(gotLSE, lse) { worst = max(worst, abs(Double(a) - b) / max(1, abs(b))) }
        XCTAssertLessThan(worst, tolerance, "\(what): LSE")
    }

    func testWindow512AndScaleDenseMaskedMHAAndGQA() throws {
        let n = 640
        let spec = try AttentionSpec(window: 512, scale: 0.2).validated()
        for (hq, hkv) in [(2, 2), (4, 2)] {
            let x = try RefTestData.inputs(tokens: n, queryHeads: hq, kvHeads: hkv)
            // rows before, at and past the window's edge (511/512), and in every query block
            let rows = Array(stride(from: 0, to: n, by: 23)) + Array(508..<516) + Array((n - 4)..<n)
            let dense = try ReferenceAttention.dense(x, spec: spec)
            assertMatches(dense, x, spec: spec, rows: rows, tolerance: 2e-5, "dense f32 \(hq)/\(hkv)")
            if hq == hkv {
                let dense64 = try ReferenceAttention.dense(x, spec: spec, precision: .float64)
                assertMatches(dense64, x, spec: spec, rows: rows, tolerance: 1e-6, "dense f64 \(hq)/\(hkv)")
            }
            // A full windowed mask is windowed dense attention; so is the plain causal full mask (the
            // tiles left of the window contribute nothing).
            let g = try TileGeometry(tokens: n)
            for mask in [try BlockMask.full(geometry: g, heads: hq, spec: spec), try BlockMask.full(geometry: g, heads: hq)] {
                let masked = try ReferenceAttention.masked(x, mask: mask, spec: spec)
                assertMatches(masked, x, spec: spec, rows: rows, tolerance: 2e-5, "masked full \(hq)/\(hkv)")
                XCTAssertEqual(masked.density, 1)
                XCTAssertLessThan(RefTestData.relativeError(masked.output, dense.output), 1e-5)
            }
        }
    }

    func testWindow4096DenseOnLongRows() throws {
        let n = 4160, spec = AttentionSpec(window: 4096)
        let x = try RefTestData.inputs(tokens: n, queryHeads: 1, kvHeads: 1)
        let rows = Array(0..<4) + Array(4094..<4100) + Array((n - 6)..<n)
        assertMatches(try ReferenceAttention.dense(x, spec: spec), x, spec: spec, rows: rows, tolerance: 2e-5, "dense w4096")
    }

    func testSoftcap() throws {
        let n = 200, spec = try AttentionSpec(window: 64, scale: 0.5, softcap: 5).validated()
        let x = try RefTestData.inputs(tokens: n, queryHeads: 2, kvHeads: 1)
        let dense = try ReferenceAttention.dense(x, spec: spec)
        assertMatches(dense, x, spec: spec, rows: Array(0..<n), tolerance: 2e-5, "dense softcap")
        let g = try TileGeometry(tokens: n)
        let masked = try ReferenceAttention.masked(x, mask: try BlockMask.full(geometry: g, heads: 2, spec: spec), spec: spec)
        assertMatches(masked, x, spec: spec, rows: Array(0..<n), tolerance: 2e-5, "masked softcap")
        // the cap changes the result: the uncapped output differs
        let uncapped = try ReferenceAttention.dense(x, spec: AttentionSpec(window: 64, scale: 0.5))
        XCTAssertGreaterThan(RefTestData.relativeError(uncapped.output, dense.output), 1e-3)
    }

    func testReachableTilesAndWindowedDensity() throws {
        let g = try TileGeometry(tokens: 640)
        let spec = AttentionSpec(window: 512)
        // query block I's first row 64I sees keys from 64I − 511 = 64(I − 8) + 1: key block I − 8
        for qb in 0..<g.queryBlocks { XCTAssertEqual(g.reachableKeyBlocks(qb, spec: spec), max(0, qb - 8)...qb) }
        XCTAssertEqual(g.reachableTilesPerHead(spec: spec), 36 + 18)
        XCTAssertEqual(g.reachableTilesPerHead(spec: .causal), g.causalTilesPerHead)
        XCTAssertEqual(g.seenPairsPerHead(spec: spec), 512 * 513 / 2 + 128 * 512)
        // seen pairs, tile by tile, against the definition
        for qb in [0, 8, 9] {
            for kb in 0...qb {
                var n = 0
                for i in g.queryRows(qb) { for j in g.keyColumns(kb) where j <= i && j > i - 512 { n += 1 } }
                XCTAssertEqual(g.seenPairs(queryBlock: qb, keyBlock: kb, spec: spec), n, "tile (\(qb), \(kb))")
            }
        }
        XCTAssertEqual(g.seenPairs(queryBlock: 9, keyBlock: 0, spec: spec), 0)
        let full = try BlockMask.full(geometry: g, heads: 2, spec: spec)
        XCTAssertEqual(full.keptTiles, 2 * 54)
        XCTAssertEqual(full.density(spec: spec), 1)
        XCTAssertEqual(try BlockMask.full(geometry: g, heads: 2).density(spec: spec), 1, "unreachable kept tiles do not count")
        XCTAssertEqual(full.computedPairs(spec: spec), 2 * g.seenPairsPerHead(spec: spec))
        let diagonal = try BlockMask(geometry: g, heads: 1, rows: (0..<g.queryBlocks).map { [Int32($0)] })
        XCTAssertEqual(diagonal.density(spec: spec), 10.0 / 54, accuracy: 1e-12)
        XCTAssertEqual(diagonal.density(spec: .causal), 10.0 / 55, accuracy: 1e-12)
        XCTAssertEqual(AttentionFLOPs.of(full, headDim: 64, spec: spec).fraction, 1, accuracy: 1e-12)
        // sink tiles outside the window are not always kept
        XCTAssertEqual(AlwaysKeep(sinkBlocks: 1, localBlocks: 2).keyBlocks(queryBlock: 9, geometry: g, spec: spec), [8, 9])
        XCTAssertEqual(AlwaysKeep(sinkBlocks: 1, localBlocks: 2).keyBlocks(queryBlock: 8, geometry: g, spec: spec), [0, 7, 8])
    }

    static var estimators: [MaskEstimator] {
        [SkeletonEstimator(), MInferenceEstimator(), FlexPrefillEstimator(), XAttentionEstimator(), OracleEstimator()]
    }

    func testEstimatorsKeepNoTileOutsideTheWindow() throws {
        let n = 640, spec = try AttentionSpec(window: 150, scale: 0.15).validated()
        let x = try RefTestData.inputs(tokens: n, queryHeads: 2, kvHeads: 1)
        let g = try TileGeometry(tokens: n)
        let reachable = 2 * g.reachableTilesPerHead(spec: spec)
        for est in Self.estimators {
            for target in [MaskTarget.errorBound(epsilon: 0.05), .density(0.5)] {
                let m = try est.estimate(x, geometry: g, spec: spec, target: target).mask
                for h in 0..<2 {
                    for qb in 0..<g.queryBlocks {
                        let r = g.reachableKeyBlocks(qb, spec: spec)
                        for kb in m.keyBlocks(head: h, queryBlock: qb) {
                            XCTAssertTrue(r.contains(Int(kb)), "\(est.name) \(target): tile (\(qb), \(kb)) is outside the window")
                        }
                    }
                }
                XCTAssertEqual(m.density(spec: spec), Double(m.keptTiles) / Double(reachable), accuracy: 1e-12)
                if case .density = target, est.name != "minference" {
                    // the skeleton's band alone may exceed the budget at this small window: then it keeps just the band
                    let keep = (est as? SkeletonEstimator)?.parameters.alwaysKeep ?? .standard
                    let always = 2 * (0..<g.queryBlocks).reduce(0) { $0 + keep.keyBlocks(queryBlock: $1, geometry: g, spec: spec).count }
                    XCTAssertEqual(m.keptTiles, max(always, Int((0.5 * Double(reachable)).rounded())), "\(est.name): budget counts reachable tiles")
                }
            }
        }
    }

    func testOracleMeetsItsRecallOnTheWindowedTruth() throws {
        let n = 640, spec = AttentionSpec(window: 200)
        let x = try RefTestData.inputs(tokens: n, queryHeads: 2, kvHeads: 2, spread: 3)
        let g = try TileGeometry(tokens: n)
        let eps = 0.05
        let mask = try OracleEstimator().estimate(x, geometry: g, spec: spec, target: .errorBound(epsilon: eps)).mask
        let (table, recalls) = try ExactAttentionMass.compute(x, geometry: g, spec: spec, recallOf: [mask])
        for h in 0..<2 {
            for qb in 0..<g.queryBlocks {
                let r = g.reachableKeyBlocks(qb, spec: spec)
                var total = 0.0, kept = 0.0
                for kb in 0...g.lastCausalKeyBlock(qb) {
                    let f = table.fraction(head: h, queryBlock: qb, keyBlock: kb)
                    if !r.contains(kb) { XCTAssertEqual(f, 0, "unreachable tile (\(qb), \(kb)) has mass") }
                    total += f
                    if mask.contains(head: h, queryBlock: qb, keyBlock: kb) { kept += f }
                }
                XCTAssertEqual(total, 1, accuracy: 1e-4)
                XCTAssertGreaterThanOrEqual(kept, 1 - eps - 1e-4, "block recall of (\(h), \(qb))")
            }
        }
        XCTAssertGreaterThanOrEqual(recalls[0].mean, 1 - eps - 1e-4)
        // the windowed truth is the windowed dense softmax: the one-head truth agrees with the table
        let truth = try AttentionTruth(x, head: 1, geometry: g, spec: spec)
        let score = truth.score(mask, maskHead: 1, outputs: true)
        XCTAssertEqual(score.recallMean, recalls[0].perHeadMean[1], accuracy: 1e-4)
        let quality = try MaskQuality.evaluate(x, mask: mask, spec: spec)
        XCTAssertEqual(quality.recall.mean, recalls[0].mean, accuracy: 1e-9)
        XCTAssertEqual(quality.density, mask.density(spec: spec))
    }

    /// `.causal` (and a window or scale that changes nothing) gives bit-identical results to the call without a spec.
    func testCausalDefaultIsUnchanged() throws {
        let n = 320
        let x = try RefTestData.inputs(tokens: n, queryHeads: 2, kvHeads: 1)
        let g = try TileGeometry(tokens: n)
        let same = [AttentionSpec.causal, AttentionSpec(window: n), AttentionSpec(window: n + 5, scale: 0.125)]
        let dense = try ReferenceAttention.dense(x)
        let mask = try SkeletonEstimator().estimate(x, geometry: g, target: .errorBound(epsilon: 0.05)).mask
        let masked = try ReferenceAttention.masked(x, mask: mask)
        let masses = try ExactAttentionMass.compute(x, geometry: g, recallOf: [mask])
        for spec in same {
            XCTAssertEqual(try ReferenceAttention.dense(x, spec: spec).output, dense.output, "\(spec)")
            XCTAssertEqual(try ReferenceAttention.masked(x, mask: mask, spec: spec).output, masked.output, "\(spec)")
            let m = try ExactAttentionMass.compute(x, geometry: g, spec: spec, recallOf: [mask])
            XCTAssertEqual(m.masses.values, masses.masses.values, "\(spec)")
            XCTAssertEqual(m.recalls, masses.recalls, "\(spec)")
            for est in Self.estimators {
                for target in [MaskTarget.errorBound(epsilon: 0.05), .density(0.4)] {
                    XCTAssertEqual(try est.estimate(x, geometry: g, spec: spec, target: target).mask,
                                   try est.estimate(x, geometry: g, target: target).mask, "\(est.name) \(target) \(spec)")
                }
            }
        }
    }

    func testBadSpecsAreRefused() throws {
        let x = try RefTestData.inputs(tokens: 64, queryHeads: 1, kvHeads: 1)
        let g = try TileGeometry(tokens: 64)
        let bad: [(AttentionSpec, String)] = [
            (AttentionSpec(window: 0), "window 0"), (AttentionSpec(scale: .nan), "scale nan"),
            (AttentionSpec(scale: -1), "scale -1"), (AttentionSpec(scale: 0), "scale 0"),
            (AttentionSpec(softcap: 0), "softcap 0"), (AttentionSpec(causal: false), "not causal"),
        ]
        func expect(_ what: String, _ needle: String, _ body: () throws -> Void) {
            XCTAssertThrowsError(try body(), what) { error in
                guard case SkeletonError.invalidArgument(let message) = error else { return XCTFail("\(what): \(error)") }
                XCTAssertTrue(message.contains(needle), "\(what): '\(message)' should name \(needle)")
            }
        }
        for (spec, needle) in bad {
            expect("dense \(spec)", needle) { _ = try ReferenceAttention.dense(x, spec: spec) }
            expect("masked \(spec)", needle) { _ = try ReferenceAttention.masked(x, mask: try .full(geometry: g, heads: 1), spec: spec) }
            expect("mass \(spec)", needle) { _ = try ExactAttentionMass.compute(x, geometry: g, spec: spec) }
            for est in Self.estimators {
                expect("\(est.name) \(spec)", needle) { _ = try est.estimate(x, geometry: g, spec: spec, target: .density(0.5)) }
            }
        }
    }
}

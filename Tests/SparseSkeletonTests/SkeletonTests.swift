import XCTest
@testable import SparseSkeleton

final class SkeletonTests: XCTestCase {
    /// Q, K whose logits are exactly V[j] + D[i − j]: one dim carries V (q = 1, k = V·√d), 31
    /// rotating pairs carry D(δ) = Σ_m a_m cos(ω_m δ) (q_i = √a_m (cos ω_m i, sin ω_m i), k_j alike).
    /// So A = softmax is exactly h[i] v[j] s[i − j] with v = e^V, s = e^D.
    static func skeletonInputs(tokens n: Int, seed: UInt64) throws -> (AttentionInputs, [Double], [Double]) {
        var r = EstFixtures.Rng(s: seed)
        let d = 64
        let vLog = (0..<n).map { j -> Double in j == 0 ? 3 : Double(r.normal()) * 0.8 }
        let amps = (0..<31).map { m -> Double in 0.4 * Double(r.uniform()) / (1 + Double(m) * 0.2) }
        let freqs = (0..<31).map { m in pow(10000, -2 * Double(m) / 62) }
        let dLog = (0..<n).map { delta in zip(amps, freqs).reduce(0.0) { $0 + $1.0 * cos($1.1 * Double(delta)) } }
        let root = Double(d).squareRoot()
        var q = [Float](repeating: 0, count: n * d), k = [Float](repeating: 0, count: n * d)
        for i in 0..<n {
            q[i * d] = Float(root); k[i * d] = Float(vLog[i])  // q·k/√d = V[j]
            for m in 0..<31 {
                let a = (amps[m] * root).squareRoot(), w = freqs[m] * Double(i)
                q[i * d + 1 + 2 * m] = Float(a * cos(w)); q[i * d + 2 + 2 * m] = Float(a * sin(w))
                k[i * d + 1 + 2 * m] = Float(a * cos(w)); k[i * d + 2 + 2 * m] = Float(a * sin(w))
            }
        }
        let shape = try AttentionShape(tokens: n, queryHeads: 1, kvHeads: 1, headDim: d)
        let v = (0..<(n * d)).map { _ in r.normal() }
        return (try AttentionInputs(shape: shape, q: q, k: k, v: v), vLog, dLog)
    }

    /// Residual of log(fitted) − truth after removing the gauge a + b·index (v·s·h is invariant
    /// under V + b·j, D + b·δ, H − b·i and constant shifts): should be ~0.
    static func gaugeResidual(_ fitted: [Double], _ truth: [Double]) -> Double {
        let y = zip(fitted, truth).map { log($0) - $1 }
        let n = Double(y.count), xs = (0..<y.count).map(Double.init)
        let mx = xs.reduce(0, +) / n, my = y.reduce(0, +) / n
        let b = zip(xs, y).reduce(0.0) { $0 + ($1.0 - mx) * ($1.1 - my) } / xs.reduce(0.0) { $0 + ($1 - mx) * ($1 - mx) }
        return zip(xs, y).map { abs($1 - (my + b * ($0 - mx))) }.max() ?? 0
    }

    func testRecoversComponentsOfAnExactSkeletonMatrix() throws {
        let n = 256
        let (x, vLog, dLog) = try Self.skeletonInputs(tokens: n, seed: 42)
        var sk = SkeletonEstimator()
        sk.parameters.lastRows = 16; sk.parameters.fixedStride = 16; sk.parameters.fitSweeps = 200; sk.parameters.localWeight = 0
        let g = try TileGeometry(tokens: n, queryTile: 64, keyTile: 64)
        let fit = try sk.fitHeads(x, geometry: g)[0]
        XCTAssertLessThan(Self.gaugeResidual(fit.vertical, vLog), 2e-3, "vertical component")
        XCTAssertLessThan(Self.gaugeResidual(fit.slash, dLog), 2e-3, "slash component")
        // The modelled matrix equals the exact softmax on every entry (probe and non-probe rows).
        let h = fit.horizontal()
        var worst = 0.0
        for i in stride(from: 3, to: n, by: 7) {
            var logits = (0...i).map { vLog[$0] + dLog[i - $0] }
            let m = logits.max()!
            let z = logits.reduce(0) { $0 + exp($1 - m) }
            logits = logits.map { exp($0 - m) / z }
            for j in 0...i { worst = max(worst, abs(fit.modelled(row: i, key: j, h: h) - logits[j]) / logits[j]) }
        }
        XCTAssertLessThan(worst, 5e-3)
        // Tile masses from the factors match the exact ones (only h is block-constant).
        let exact = try ExactTileMasses.compute(x, geometry: g)
        let (est, _) = try sk.masses(x, geometry: g)
        var tileErr = 0.0
        for qb in 0..<g.queryBlocks { for kb in 0...g.lastCausalKeyBlock(qb) { tileErr = max(tileErr, abs(est[0, qb, kb] - exact[0, qb, kb])) } }
        XCTAssertLessThan(tileErr, 0.05)  // h is taken constant inside a 64-row block
    }

    func testErrorBoundCalibrationAndBudgetOnRandomHeads() throws {
        let x = try EstFixtures.inputs(tokens: 512, heads: 4, kvHeads: 2, seed: 9, scale: 1.3)
        let g = try TileGeometry(tokens: 512, queryTile: 64, keyTile: 64)
        var sk = SkeletonEstimator(); sk.parameters.fixedStride = 16; sk.parameters.lastRows = 32
        var last = 2.0
        for eps in [0.02, 0.1, 0.3] {
            let est = try sk.estimate(x, geometry: g, target: .errorBound(epsilon: eps))
            XCTAssertLessThanOrEqual(est.mask.density, last + 1e-12)
            last = est.mask.density
            for r in est.estimatedRecall! { XCTAssertGreaterThanOrEqual(r, 1 - eps - 1e-9, "probe recall at eps \(eps)") }
        }
        // (at N = 512 the sink and the local band alone are 58 % of the causal tiles)
        let b = try sk.estimate(x, geometry: g, target: .density(0.75))
        XCTAssertLessThanOrEqual(abs(b.mask.keptTiles - Int((0.75 * Double(b.mask.causalTiles)).rounded())), 4)
        sk.parameters.shareGroupMask = true
        let shared = try sk.estimate(x, geometry: g, target: .errorBound(epsilon: 0.1)).mask
        for qb in 0..<g.queryBlocks {
            XCTAssertEqual(Array(shared.keyBlocks(head: 0, queryBlock: qb)), Array(shared.keyBlocks(head: 1, queryBlock: qb)))
        }
    }

    func testBadInputThrows() throws {
        let x = try EstFixtures.inputs(tokens: 100, heads: 1, kvHeads: 1, seed: 1)
        let wrong = try TileGeometry(tokens: 99, queryTile: 64, keyTile: 64)
        XCTAssertThrowsError(try SkeletonEstimator().estimate(x, geometry: wrong, target: .density(0.5)))
        let g = try TileGeometry(tokens: 100, queryTile: 64, keyTile: 64)
        XCTAssertThrowsError(try SkeletonEstimator().estimate(x, geometry: g, target: .errorBound(epsilon: 1.2)))
        var sk = SkeletonEstimator(); sk.parameters.localWeight = 2
        XCTAssertThrowsError(try sk.estimate(x, geometry: g, target: .density(0.5)))
    }
}

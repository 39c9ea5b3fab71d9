import Foundation
import SparseSkeleton

/// The mask-quality frontier (issue 4): for every head of every layer, each estimator's knob is
/// swept; per head we read off the smallest density whose TRUE mean recall reaches R (linear
/// interpolation between the two sweep points around R, i.e. the knob tuned per head after the
/// fact — the most favourable reading for every estimator, baselines included), and the output
/// relative error ‖O − Ô‖/‖O‖ of the first sweep mask reaching R. Means are over heads. A head whose
/// estimator never reaches R within its sweep counts as density 1 (dense fallback) and is counted.
///
/// The skeleton's promise is checked apart: its calibrated error-bound mask at ε = 0.05, true mean
/// recall per head ≥ 0.95?
struct FrontierRunner {
    let estimators: [any MaskEstimator]
    let recalls: [Double]
    let geometryTile: Int
    var promiseEpsilon = 0.05

    static let epsilonGrid: [Double] = [0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.16, 0.13, 0.1, 0.08, 0.065, 0.05, 0.04, 0.03,
                                        0.022, 0.016, 0.011, 0.008, 0.005, 0.003, 0.002, 0.001, 4e-4, 1e-4, 1e-5]

    struct Accumulator {
        var density: [Double]; var error: [Double]; var unreached: [Int]; var heads = 0
        init(_ r: Int) { density = .init(repeating: 0, count: r); error = .init(repeating: 0, count: r); unreached = .init(repeating: 0, count: r) }
    }
    struct Promise { var heads = 0; var kept = 0; var recallSum = 0.0; var densitySum = 0.0; var estRecallSum = 0.0 }

    var totals: [String: Accumulator] = [:]
    var promise = Promise()
    var perLayer: [(layer: String, est: String, d95: Double)] = []

    mutating func run(layer: EvalLayer) throws {
        let x = layer.inputs
        let g = try TileGeometry(tokens: x.shape.tokens, queryTile: geometryTile, keyTile: geometryTile)
        let heads = x.shape.queryHeads
        let truths = try (0..<heads).map { try AttentionTruth(x, head: $0, geometry: g, withOutputs: x.v != nil) }
        for estimator in estimators {
            let name = estimator.name
            let masks: [BlockMask]
            // Each estimator's own knob, swept.
            switch estimator {
            case let oracle as OracleEstimator:
                var m = try TileMasses(geometry: g, heads: heads)
                for (h, t) in truths.enumerated() { t.tileMasses(into: &m, as: h) }
                masks = try Self.epsilonGrid.map { try ErrorBoundThreshold.mask(m, epsilon: $0, alwaysKeep: oracle.alwaysKeep).mask }
            case let skeleton as SkeletonEstimator:
                let (m, fits) = try skeleton.masses(x, geometry: g)
                masks = try Self.epsilonGrid.map { try ErrorBoundThreshold.mask(m, epsilon: $0, alwaysKeep: skeleton.parameters.alwaysKeep).mask }
                let p = try skeleton.errorBoundMask(masses: m, fits: fits, epsilon: promiseEpsilon)
                for h in 0..<heads {
                    let s = truths[h].score(p.mask, maskHead: h, outputs: false)
                    promise.heads += 1; promise.recallSum += s.recallMean; promise.densitySum += p.mask.density(head: h)
                    promise.estRecallSum += p.estimatedRecall?[h] ?? .nan
                    if s.recallMean >= 1 - promiseEpsilon { promise.kept += 1 }
                }
            case let flex as FlexPrefillEstimator:
                let m = try flex.masses(x, geometry: g)
                masks = try Self.epsilonGrid.map { try ErrorBoundThreshold.mask(m, epsilon: $0).mask }
            case let xattention as XAttentionEstimator:
                let m = try xattention.masses(x, geometry: g)
                masks = try Self.epsilonGrid.map { try ErrorBoundThreshold.mask(m, epsilon: $0).mask }
            case let minference as MInferenceEstimator:
                let top = Double(x.shape.tokens) / 1000 + 0.1
                let scales = (0..<26).map { 0.004 * pow(top / 0.004, Double($0) / 25) }
                masks = try minference.masks(x, geometry: g, scales: scales)
            default:
                throw SkeletonError.invalidArgument("the frontier has no knob sweep for estimator '\(name)'")
            }
            var acc = totals[name] ?? Accumulator(recalls.count)
            var layer95 = 0.0
            for h in 0..<heads {
                let pts = masks.map { (d: $0.density(head: h), r: truths[h].score($0, maskHead: h, outputs: false).recallMean, m: $0) }
                    .sorted { $0.d != $1.d ? $0.d < $1.d : $0.r < $1.r }
                for (ri, target) in recalls.enumerated() {
                    guard let k = pts.firstIndex(where: { $0.r >= target }) else {
                        acc.density[ri] += 1; acc.unreached[ri] += 1; continue
                    }
                    var d = pts[k].d
                    if k > 0, pts[k].r > pts[k - 1].r {
                        let t = (target - pts[k - 1].r) / (pts[k].r - pts[k - 1].r)
                        d = pts[k - 1].d + t * (pts[k].d - pts[k - 1].d)
                    }
                    acc.density[ri] += d
                    if abs(target - 0.95) < 1e-9 { layer95 += d }
                    if x.v != nil {
                        let s = truths[h].score(pts[k].m, maskHead: h, outputs: true)
                        acc.error[ri] += s.outputSquared > 0 ? (s.errorSquared / s.outputSquared).squareRoot() : 0
                    }
                }
            }
            acc.heads += heads
            totals[name] = acc
            perLayer.append((layer.name, name, layer95 / Double(heads)))
        }
    }

    func report(title: String) -> String {
        var out = "### \(title)\n\n"
        let oracle95 = recalls.firstIndex(where: { abs($0 - 0.95) < 1e-9 }).flatMap { i in totals[OracleEstimator().name].map { $0.density[i] / Double($0.heads) } }
        out += "| estimator | heads | " + recalls.map { "density@\($0)" }.joined(separator: " | ")
            + " | " + recalls.map { "out.err@\($0)" }.joined(separator: " | ") + " | ×oracle@0.95 | unreached |\n"
        out += "|" + String(repeating: "---|", count: 4 + 2 * recalls.count) + "\n"
        for name in estimators.map(\.name) {
            guard let a = totals[name] else { continue }
            let n = Double(a.heads)
            let i95 = recalls.firstIndex(where: { abs($0 - 0.95) < 1e-9 })
            let ratio = (oracle95 != nil && i95 != nil) ? String(format: "%.2f", a.density[i95!] / n / oracle95!) : "-"
            out += "| \(name) | \(a.heads) | " + a.density.map { String(format: "%.3f", $0 / n) }.joined(separator: " | ")
                + " | " + a.error.map { String(format: "%.4f", $0 / n) }.joined(separator: " | ")
                + " | \(ratio) | \(a.unreached.map(String.init).joined(separator: "/")) |\n"
        }
        if promise.heads > 0 {
            let n = Double(promise.heads)
            out += String(format: "\nSkeleton error-bound promise, ε = %.2f: true mean recall ≥ %.2f on %d / %d heads (%.1f%%); mean true recall %.4f, mean probe-estimated recall %.4f, mean density %.3f\n",
                          promiseEpsilon, 1 - promiseEpsilon, promise.kept, promise.heads, 100 * Double(promise.kept) / n,
                          promise.recallSum / n, promise.estRecallSum / n, promise.densitySum / n)
        }
        return out
    }
}

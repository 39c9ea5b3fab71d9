import Dispatch
import Foundation
import SparseSkeleton

/// One line of the `mask-eval` table.
struct EvalRow: Codable {
    var layer: String
    var estimator: String
    var target: String
    var density: Double
    var recallMin: Double
    var recallMean: Double
    /// ‖O − Ô‖ / ‖O‖ over the layer (all heads and rows); nil without V.
    var outputError: Double?
    var estimateSeconds: Double
    /// What the estimator believed it kept (mean over heads), when it says.
    var estimatedRecall: Double?
}

/// Runs estimators × targets on one layer and scores every mask against the exact attention.
/// The exact pass (AttentionTruth, one per head) is also the oracle's estimation; its time is the
/// oracle's estimation time.
enum EvalRunner {
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    /// Also returns the exact pass, which the frontier reuses.
    static func run(layer: EvalLayer, estimators: [any MaskEstimator], targets: [MaskTarget], tile: Int) throws -> ([EvalRow], [AttentionTruth]) {
        let x = layer.inputs
        let g = try TileGeometry(tokens: x.shape.tokens, queryTile: tile, keyTile: tile)
        var truths: [AttentionTruth] = []
        var oracleMasses = try TileMasses(geometry: g, heads: x.shape.queryHeads)
        let truthTime = try seconds {
            truths = try (0..<x.shape.queryHeads).map { try AttentionTruth(x, head: $0, geometry: g, withOutputs: x.v != nil) }
            for (h, t) in truths.enumerated() { t.tileMasses(into: &oracleMasses, as: h) }
        }
        var rows: [EvalRow] = []
        for est in estimators {
            let oracle = est as? OracleEstimator
            for target in targets {
                var result: MaskEstimate?
                var time = try seconds {
                    if let oracle {
                        result = try oracle.estimate(masses: oracleMasses, target: target)
                    } else {
                        result = try est.estimate(x, geometry: g, target: target)
                    }
                }
                if oracle != nil { time += truthTime }
                guard let r = result else { continue }
                var rmin = Double.infinity, rsum = 0.0, e2 = 0.0, o2 = 0.0
                for (h, t) in truths.enumerated() {
                    let s = t.score(r.mask, maskHead: h, outputs: x.v != nil)
                    rmin = min(rmin, s.recallMin); rsum += s.recallMean; e2 += s.errorSquared; o2 += s.outputSquared
                }
                let heads = Double(x.shape.queryHeads)
                rows.append(EvalRow(layer: layer.name, estimator: est.name, target: target.description, density: r.mask.density,
                                    recallMin: rmin, recallMean: rsum / heads,
                                    outputError: x.v != nil && o2 > 0 ? (e2 / o2).squareRoot() : nil,
                                    estimateSeconds: time,
                                    estimatedRecall: r.estimatedRecall.map { $0.reduce(0, +) / heads }))
            }
        }
        return (rows, truths)
    }

    /// Over layers: mean density, min of recall minima, mean of recall means, RMS output error, summed time.
    static func overall(_ rows: [EvalRow]) -> [EvalRow] {
        var order: [String] = []
        var groups: [String: [EvalRow]] = [:]
        for r in rows {
            let key = r.estimator + "\u{1}" + r.target
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(r)
        }
        return order.map { key in
            let g = groups[key]!
            let n = Double(g.count)
            let errs = g.compactMap(\.outputError)
            let est = g.compactMap(\.estimatedRecall)
            return EvalRow(layer: "overall", estimator: g[0].estimator, target: g[0].target,
                           density: g.map(\.density).reduce(0, +) / n, recallMin: g.map(\.recallMin).min() ?? 0,
                           recallMean: g.map(\.recallMean).reduce(0, +) / n,
                           outputError: errs.isEmpty ? nil : (errs.map { $0 * $0 }.reduce(0, +) / Double(errs.count)).squareRoot(),
                           estimateSeconds: g.map(\.estimateSeconds).reduce(0, +),
                           estimatedRecall: est.isEmpty ? nil : est.reduce(0, +) / Double(est.count))
        }
    }

    /// Fails on the first NaN or infinite score (non-finite inputs), instead of printing it.
    static func requireFinite(_ rows: [EvalRow], _ summary: FrontierSummary) throws {
        var values: [(what: String, value: Double?)] = []
        for r in rows { values += [("\(r.layer) \(r.estimator) \(r.target) recall", r.recallMean), ("\(r.layer) \(r.estimator) output error", r.outputError)] }
        for r in summary.rows { values += (r.density + r.worstRow + (r.outputError ?? [])).map { ("\(r.estimator)'s frontier summary", $0) } }
        try NonFiniteResult.check(values)
    }

    static func table(_ rows: [EvalRow]) -> String {
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        let head = ["layer", "estimator", "target", "density", "recall.min", "recall.mean", "out.err", "est.recall", "est.time(s)"]
        let widths = [10, 12, 14, 8, 10, 11, 9, 10, 11]
        var out = zip(head, widths).map { pad($0, $1) }.joined(separator: " ") + "\n"
        for r in rows {
            let cells = [r.layer, r.estimator, r.target, String(format: "%.4f", r.density), String(format: "%.4f", r.recallMin),
                         String(format: "%.4f", r.recallMean), r.outputError.map { String(format: "%.4f", $0) } ?? "-",
                         r.estimatedRecall.map { String(format: "%.4f", $0) } ?? "-", String(format: "%.3f", r.estimateSeconds)]
            out += zip(cells, widths).map { pad($0, $1) }.joined(separator: " ") + "\n"
        }
        return out
    }
}

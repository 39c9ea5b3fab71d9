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
    /// Mean over heads of each head's worst row recall.
    var worstRowMean: Double
    /// ‖O − Ô‖ / ‖O‖ over the layer (all heads and rows); nil without V.
    var outputError: Double?
    /// The same after the zeroth-order mean correction of the dropped tiles (skeleton and oracle, with --mean-correction).
    var outputErrorCorrected: Double?
    /// The skeleton's correction with its v-weighted tile values (`MeanCorrection` keyWeights).
    var outputErrorWeighted: Double?
    /// The ceiling of a row-exact mean-V correction of the same mask (true row masses × mean V of the dropped tiles).
    var outputErrorRowExact: Double?
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

    /// Also returns the exact pass, which the frontier reuses. `matchSkeleton`: every other estimator also
    /// runs at the skeleton's density of each of its error-bound targets (target "=skel <target>").
    /// `meanCorrection`: the skeleton's and the oracle's masks are also scored after the mean correction
    /// of their dropped tiles from their own tile masses.
    static func run(layer: EvalLayer, estimators: [any MaskEstimator], targets: [MaskTarget], tile: Int,
                    matchSkeleton: Bool = false, meanCorrection: Bool = false, outputRowStride: Int = 1) throws -> ([EvalRow], [AttentionTruth]) {
        let x = layer.inputs
        let g = try TileGeometry(tokens: x.shape.tokens, queryTile: tile, keyTile: tile)
        var truths: [AttentionTruth] = []
        var oracleMasses = try TileMasses(geometry: g, heads: x.shape.queryHeads)
        let truthTime = try seconds {
            truths = try (0..<x.shape.queryHeads).map {
                try AttentionTruth(x, head: $0, geometry: g, withOutputs: x.v != nil, outputRowStride: outputRowStride)
            }
            for (h, t) in truths.enumerated() { t.tileMasses(into: &oracleMasses, as: h) }
        }
        let outputs = x.v != nil
        let heads = Double(x.shape.queryHeads)
        var rows: [EvalRow] = []
        var skeletonDensity: [(String, Double)] = []
        let ordered = estimators.filter { $0 is SkeletonEstimator } + estimators.filter { !($0 is SkeletonEstimator) }
        for est in ordered {
            let oracle = est as? OracleEstimator
            let skeleton = est as? SkeletonEstimator
            var ownMasses: TileMasses? = nil
            var keyWeights: [[Double]]? = nil
            if meanCorrection, outputs {
                if oracle != nil { ownMasses = oracleMasses }
                if let skeleton { let (m, fits) = try skeleton.masses(x, geometry: g); ownMasses = m; keyWeights = fits.map(\.vertical) }
            }
            var labelled = targets.map { ($0.description, $0) }
            if matchSkeleton, skeleton == nil { labelled += skeletonDensity.map { ("=skel \($0.0)", MaskTarget.density($0.1)) } }
            for (label, target) in labelled {
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
                if skeleton != nil, case .errorBound = target { skeletonDensity.append((label, r.mask.density)) }
                let correction = try ownMasses.map { try MeanCorrection(masses: $0, mask: r.mask, inputs: x) }
                let meanV = meanCorrection ? x.v.map { MeanCorrection.tileMeanV($0, shape: x.shape, geometry: g) } : nil
                let weighted = try keyWeights.map { try MeanCorrection(masses: ownMasses!, mask: r.mask, inputs: x, keyWeights: $0) }
                var rmin = Double.infinity, rsum = 0.0, wsum = 0.0, e2 = 0.0, o2 = 0.0, c2 = 0.0, r2 = 0.0, w2 = 0.0
                for (h, t) in truths.enumerated() {
                    let s = t.score(r.mask, maskHead: h, outputs: outputs)
                    rmin = min(rmin, s.recallMin); rsum += s.recallMean; wsum += s.recallMin; e2 += s.errorSquared; o2 += s.outputSquared
                    if let correction { c2 += t.score(r.mask, maskHead: h, outputs: true, correction: correction).errorSquared }
                    if let weighted { w2 += t.score(r.mask, maskHead: h, outputs: true, correction: weighted).errorSquared }
                    if let meanV { r2 += t.rowExactCorrectionErrorSquared(r.mask, maskHead: h, meanV: meanV, kvHead: x.shape.kvHead(forQueryHead: h)) }
                }
                rows.append(EvalRow(layer: layer.name, estimator: est.name, target: label, density: r.mask.density,
                                    recallMin: rmin, recallMean: rsum / heads, worstRowMean: wsum / heads,
                                    outputError: outputs && o2 > 0 ? (e2 / o2).squareRoot() : nil,
                                    outputErrorCorrected: correction != nil && o2 > 0 ? (c2 / o2).squareRoot() : nil,
                                    outputErrorWeighted: weighted != nil && o2 > 0 ? (w2 / o2).squareRoot() : nil,
                                    outputErrorRowExact: meanV != nil && o2 > 0 ? (r2 / o2).squareRoot() : nil,
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
            let corrected = g.compactMap(\.outputErrorCorrected)
            let rowExact = g.compactMap(\.outputErrorRowExact)
            let weighted = g.compactMap(\.outputErrorWeighted)
            let est = g.compactMap(\.estimatedRecall)
            return EvalRow(layer: "overall", estimator: g[0].estimator, target: g[0].target,
                           density: g.map(\.density).reduce(0, +) / n, recallMin: g.map(\.recallMin).min() ?? 0,
                           recallMean: g.map(\.recallMean).reduce(0, +) / n, worstRowMean: g.map(\.worstRowMean).reduce(0, +) / n,
                           outputError: errs.isEmpty ? nil : (errs.map { $0 * $0 }.reduce(0, +) / Double(errs.count)).squareRoot(),
                           outputErrorCorrected: corrected.isEmpty ? nil : (corrected.map { $0 * $0 }.reduce(0, +) / Double(corrected.count)).squareRoot(),
                           outputErrorWeighted: weighted.isEmpty ? nil : (weighted.map { $0 * $0 }.reduce(0, +) / Double(weighted.count)).squareRoot(),
                           outputErrorRowExact: rowExact.isEmpty ? nil : (rowExact.map { $0 * $0 }.reduce(0, +) / Double(rowExact.count)).squareRoot(),
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
        let head = ["layer", "estimator", "target", "density", "recall.min", "worst.row", "recall.mean", "out.err", "err+mc", "err+mc.v", "err+mc.row", "est.recall", "est.time(s)"]
        let widths = [10, 12, 18, 8, 10, 9, 11, 9, 9, 9, 10, 10, 11]
        var out = zip(head, widths).map { pad($0, $1) }.joined(separator: " ") + "\n"
        for r in rows {
            let cells = [r.layer, r.estimator, r.target, String(format: "%.4f", r.density), String(format: "%.4f", r.recallMin), String(format: "%.4f", r.worstRowMean),
                         String(format: "%.4f", r.recallMean), r.outputError.map { String(format: "%.4f", $0) } ?? "-",
                         r.outputErrorCorrected.map { String(format: "%.4f", $0) } ?? "-",
                         r.outputErrorWeighted.map { String(format: "%.4f", $0) } ?? "-",
                         r.outputErrorRowExact.map { String(format: "%.4f", $0) } ?? "-",
                         r.estimatedRecall.map { String(format: "%.4f", $0) } ?? "-", String(format: "%.3f", r.estimateSeconds)]
            out += zip(cells, widths).map { pad($0, $1) }.joined(separator: " ") + "\n"
        }
        return out
    }
}

import Dispatch
import Foundation

/// The mask-quality frontier: for every head of every layer, each estimator's knob is swept; per
/// head we read off the smallest density whose TRUE mean recall reaches R (`FrontierReading`, the
/// most favourable reading for every estimator, baselines included), the output relative error
/// ‖O − Ô‖/‖O‖ and the head's worst row recall of the first sweep mask reaching R. Means are over heads.
/// A head whose estimator never reaches R within its sweep counts as density 1 (dense fallback)
/// and is counted.
///
/// The skeleton's promise is checked apart: its calibrated error-bound mask at ε = 0.05, true mean
/// recall per head ≥ 0.95?
public struct FrontierRunner {
    public let estimators: [any MaskEstimator]
    /// The recalls of the summary table (0.90 / 0.95 / 0.99).
    public let recalls: [Double]
    /// The recalls of the frontier curve (the plot): density only.
    public let curveRecalls: [Double]
    public let geometryTile: Int
    public var promiseEpsilon = 0.05
    /// The output error is scored on every this-many-th row (`AttentionTruth.outputRowStride`).
    public var outputRowStride = 1
    /// When set, each head's row-recall quantile at this q (e.g. 0.05) is scored beside the worst row.
    public var rowQuantile: Double?
    /// Output error measured elsewhere (e.g. the GPU kernel on the mask against the dense output),
    /// for truths without partial outputs: given a mask whose head h is head h's chosen mask at one
    /// recall (the full mask for a head that never reached it), the relative error ‖O − Ô‖/‖O‖ of
    /// every head. Used in place of the truths' own outputs.
    public var outputError: ((_ estimator: String, _ mask: BlockMask) throws -> [Double])?

    public static let epsilonGrid: [Double] = [0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.16, 0.13, 0.1, 0.08, 0.065, 0.05, 0.04, 0.03,
                                               0.022, 0.016, 0.011, 0.008, 0.005, 0.003, 0.002, 0.001, 4e-4, 1e-4, 1e-5]
    public static let defaultCurveRecalls: [Double] = (0...38).map { 0.80 + 0.005 * Double($0) }

    /// Sums over heads of one estimator (divide by `heads` for means).
    public struct Accumulator: Sendable {
        public var density: [Double], error: [Double], worstRow: [Double], lowRow: [Double], unreached: [Int], curve: [Double]
        public var heads = 0
        public init(recalls: Int, curve: Int) {
            density = .init(repeating: 0, count: recalls); error = density
            worstRow = density; lowRow = density; unreached = .init(repeating: 0, count: recalls)
            self.curve = .init(repeating: 0, count: curve)
        }
    }
    public struct Promise: Sendable { public var heads = 0, kept = 0; public var recallSum = 0.0, densitySum = 0.0, estRecallSum = 0.0; public init() {} }
    /// One head's density at recall 0.95 (the plot picks its head from these).
    public struct HeadReading: Sendable { public var layer: String; public var head: Int; public var estimator: String; public var density95: Double }

    public private(set) var totals: [String: Accumulator] = [:]
    /// Names accumulated that are not among `estimators` (run outside `sweep`), in first-seen order.
    private var extraNames: [String] = []
    public private(set) var promise = Promise()
    public private(set) var heads: [HeadReading] = []

    public init(estimators: [any MaskEstimator], recalls: [Double] = [0.9, 0.95, 0.99],
                curveRecalls: [Double] = FrontierRunner.defaultCurveRecalls, geometryTile: Int) {
        self.estimators = estimators; self.recalls = recalls; self.curveRecalls = curveRecalls; self.geometryTile = geometryTile
    }

    /// `truths`: the exact pass of these inputs at `geometryTile` (with outputs when `x` has V), when
    /// the caller already has it; computed here otherwise.
    public mutating func run(layer: String, inputs x: AttentionInputs, truths given: [AttentionTruth]? = nil) throws {
        let g = try TileGeometry(tokens: x.shape.tokens, queryTile: geometryTile, keyTile: geometryTile)
        if let given, given.count != x.shape.queryHeads {
            throw SkeletonError.shapeMismatch("\(given.count) exact passes for \(x.shape.queryHeads) query heads")
        }
        let truths = try given ?? (0..<x.shape.queryHeads).map {
            try AttentionTruth(x, head: $0, geometry: g, withOutputs: x.v != nil, outputRowStride: outputRowStride)
        }
        for estimator in estimators {
            try accumulate(estimator: estimator.name, layer: layer, masks: try sweep(estimator, x, geometry: g, truths: truths),
                           truths: truths, outputs: x.v != nil || outputError != nil)
        }
    }

    /// Each estimator's own knob, swept (the skeleton's promise is scored on the way).
    public mutating func sweep(_ estimator: any MaskEstimator, _ x: AttentionInputs, geometry g: TileGeometry,
                        truths: [AttentionTruth]) throws -> [BlockMask] {
        let heads = x.shape.queryHeads
        switch estimator {
        case let oracle as OracleEstimator:
            var m = try TileMasses(geometry: g, heads: heads)
            for (h, t) in truths.enumerated() { t.tileMasses(into: &m, as: h) }
            return try ErrorBoundThreshold.sweep(m, epsilons: Self.epsilonGrid, alwaysKeep: oracle.alwaysKeep)
        case let skeleton as SkeletonEstimator:
            let (m, fits) = try skeleton.masses(x, geometry: g)
            let p = try skeleton.errorBoundMask(masses: m, fits: fits, epsilon: promiseEpsilon)
            for h in 0..<heads {
                let s = truths[h].score(p.mask, maskHead: h, outputs: false)
                promise.heads += 1; promise.recallSum += s.recallMean; promise.densitySum += p.mask.density(head: h)
                promise.estRecallSum += p.estimatedRecall?[h] ?? .nan
                if s.recallMean >= 1 - promiseEpsilon { promise.kept += 1 }
            }
            return try ErrorBoundThreshold.sweep(m, epsilons: Self.epsilonGrid, alwaysKeep: skeleton.parameters.alwaysKeep)
        case let flex as FlexPrefillEstimator:
            let m = try flex.masses(x, geometry: g)
            return try ErrorBoundThreshold.sweep(m, epsilons: Self.epsilonGrid)
        case let xattention as XAttentionEstimator:
            let m = try xattention.masses(x, geometry: g)
            return try ErrorBoundThreshold.sweep(m, epsilons: Self.epsilonGrid)
        case let minference as MInferenceEstimator:
            let top = Double(x.shape.tokens) / 1000 + 0.1
            let scales = (0..<26).map { 0.004 * pow(top / 0.004, Double($0) / 25) }
            return try minference.masks(x, geometry: g, scales: scales)
        default:
            throw SkeletonError.invalidArgument("the frontier has no knob sweep for estimator '\(estimator.name)'")
        }
    }

    /// Adds the true recall of one head's calibrated error-bound mask at `promiseEpsilon` to the
    /// promise (for an estimator run outside `sweep`, e.g. on the GPU).
    public mutating func recordPromise(recallMean: Double, density: Double, estimatedRecall: Double) {
        promise.heads += 1; promise.recallSum += recallMean; promise.densitySum += density
        promise.estRecallSum += estimatedRecall
        if recallMean >= 1 - promiseEpsilon { promise.kept += 1 }
    }

    /// Adds one estimator's sweep `masks` (all heads of one layer) to its totals.
    public mutating func accumulate(estimator name: String, layer: String, masks: [BlockMask], truths: [AttentionTruth], outputs: Bool) throws {
        if totals[name] == nil, !estimators.contains(where: { $0.name == name }) { extraNames.append(name) }
        var acc = totals[name] ?? Accumulator(recalls: recalls.count, curve: curveRecalls.count)
        let external = outputs && outputError != nil
        // per recall, the chosen sweep index of each head (nil: unreached), for the external output error
        var chosen = [[Int?]](repeating: [Int?](repeating: nil, count: truths.count), count: recalls.count)
        // every (head, sweep mask) recall, in parallel (long sequences: N rows × kept tiles each)
        var sweepRecall = [Double](repeating: 0, count: truths.count * masks.count)
        sweepRecall.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: truths.count * masks.count) { t in
                let h = t / masks.count, k = t % masks.count
                base[t] = truths[h].score(masks[k], maskHead: h, outputs: false).recallMean
            }
        }
        for (h, truth) in truths.enumerated() {
            let scored = masks.enumerated().map { (index: $0.offset, mask: $0.element, point: FrontierReading.Point(density: $0.element.density(head: h), recall: sweepRecall[h * masks.count + $0.offset])) }
                .sorted { $0.point.density != $1.point.density ? $0.point.density < $1.point.density : $0.point.recall < $1.point.recall }
            let pts = scored.map(\.point)
            for (ri, target) in recalls.enumerated() {
                guard let (d, k) = FrontierReading.density(reaching: target, in: pts) else {
                    acc.density[ri] += 1; acc.worstRow[ri] += 1; acc.unreached[ri] += 1; continue  // dense: every row recalls 1
                }
                acc.density[ri] += d
                if abs(target - 0.95) < 1e-9 { heads.append(HeadReading(layer: layer, head: h, estimator: name, density95: d)) }
                let s = truth.score(scored[k].mask, maskHead: h, outputs: outputs && !external)
                acc.worstRow[ri] += s.recallMin
                if let q = rowQuantile { acc.lowRow[ri] += truth.rowRecallQuantile(scored[k].mask, maskHead: h, q) }
                if external { chosen[ri][h] = scored[k].index }
                else if outputs { acc.error[ri] += s.outputSquared > 0 ? (s.errorSquared / s.outputSquared).squareRoot() : 0 }
            }
            for (ci, target) in curveRecalls.enumerated() { acc.curve[ci] += FrontierReading.density(reaching: target, in: pts)?.density ?? 1 }
        }
        if external, let outputError, let g = masks.first?.geometry {
            for ri in recalls.indices where chosen[ri].contains(where: { $0 != nil }) {
                let full = try BlockMask.full(geometry: g, heads: 1)
                let rows: [[Int32]] = chosen[ri].enumerated().flatMap { h, k in
                    (0..<g.queryBlocks).map { qb in Array(k.map { masks[$0].keyBlocks(head: h, queryBlock: qb) } ?? full.keyBlocks(head: 0, queryBlock: qb)) }
                }
                let errors = try outputError(name, try BlockMask(geometry: g, heads: truths.count, rows: rows))
                guard errors.count == truths.count else {
                    throw SkeletonError.shapeMismatch("output error of \(errors.count) heads for \(truths.count)")
                }
                for (h, e) in errors.enumerated() where chosen[ri][h] != nil { acc.error[ri] += e }  // unreached heads run dense: 0
            }
        }
        acc.heads += truths.count
        totals[name] = acc
    }

    /// The head whose `estimator` density at recall 0.95 is the median over every head run: a typical
    /// head, neither the sharpest (nearly all on the diagonal) nor the most spread.
    public func medianHead(estimator: String) -> HeadReading? {
        let sorted = heads.filter { $0.estimator == estimator }.sorted { $0.density95 < $1.density95 }
        return sorted.isEmpty ? nil : sorted[sorted.count / 2]
    }

    /// The summary of everything run so far, estimators in their given order.
    public var summary: FrontierSummary {
        FrontierSummary(recalls: recalls, rows: (estimators.map(\.name) + extraNames).compactMap { name in totals[name].map { FrontierSummary.Row(estimator: name, $0, lowRow: rowQuantile != nil) } },
                        promise: promise.heads > 0 ? promise : nil, promiseEpsilon: promiseEpsilon)
    }
}

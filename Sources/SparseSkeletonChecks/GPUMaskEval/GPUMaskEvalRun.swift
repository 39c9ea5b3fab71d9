import Dispatch
import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel
import SparseSkeletonModelCUDA

/// `gpu-mask-eval`'s work: one dense GPU prefill whose chosen layers are tapped after their
/// attention; per tapped layer the exact (row, key tile) masses and the dense output
/// (`GPULayerTruth`), every estimator's knob swept on the same Q/K (`GPUMaskSweeps`; CPU estimators
/// on the Q/K copied back), each sweep scored by the CPU frontier (`FrontierRunner`: density at
/// recall R, worst and 5th-percentile row, the ε promise) with the output error measured by our
/// sparse kernel on each chosen mask (`GPUOutputErrorMeter`). Tiles 64 × 64, as `mask-eval`.
public final class GPUMaskEvalRun {
    public let session: GPUSession
    /// Fixed probe strides run beside the skeleton's default (growing) stride.
    public let strides: [Int]
    public let cpuEstimators: [any MaskEstimator]
    public private(set) var frontier: FrontierRunner
    public let tile = 64
    /// Per skeleton variant (in run order): its ε = 0.05 promise, summed over heads.
    public private(set) var promises: [(name: String, stride: Int?, promise: FrontierRunner.Promise)] = []
    /// One line per tapped layer: the truth's checks and the times.
    public private(set) var layerNotes: [String] = []
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    /// Largest |Σ_J mass − 1| a row may show before the run is refused (the masses and the dense
    /// pass's LSE disagree).
    public var rowSumTolerance = 1e-2

    public init(session: GPUSession, strides: [Int], cpuEstimators: [any MaskEstimator]) {
        self.session = session; self.strides = strides; self.cpuEstimators = cpuEstimators
        frontier = FrontierRunner(estimators: cpuEstimators, geometryTile: 64)
        frontier.rowQuantile = 0.05
    }

    /// The skeleton variants: the default (`.growingStride`) as "skeleton", then each fixed stride.
    var skeletonVariants: [(name: String, parameters: SkeletonParameters)] {
        [("skeleton", SkeletonParameters.growingStride)] + strides.map { s in
            var p = SkeletonParameters.growingStride
            p.fixedStride = s
            return ("skeleton-s\(s)", p)
        }
    }

    /// Runs the dense prefill of `ids` on `prefill` with `layers` tapped and scores each.
    public func run(prefill: GPUModelPrefill, tokens ids: [Int32], layers: [Int]) throws {
        var failure: Error?
        prefill.attentionTap = (Set(layers), { [unowned self] a in
            do { try self.evaluate(a) } catch { failure = error; throw error }
        })
        defer { prefill.attentionTap = nil }
        do { _ = try prefill.prefill(tokens: ids, attention: .dense) } catch { throw failure ?? error }
    }

    /// Scores one layer given on the host (a capture's, or generated): Q/K/V rounded to `dtype`, the
    /// dense pass (O and LSE) run here by our kernel, then scored as a tapped layer. `mask-eval`
    /// scores the same inputs with the default softmax scale 1/√d, so `spec` defaults to it.
    public func evaluate(inputs x: AttentionInputs, layer: Int, spec: AttentionSpec = .causal, dtype: DType = .bf16) throws {
        guard let v = x.v else { throw SkeletonError.invalidArgument("layer \(layer): gpu-mask-eval needs V (the output error); the input has Q and K only") }
        let s = x.shape, n = s.tokens, d = s.headDim
        let q = try session.upload(try HeadTensor(name: "Q", tokens: n, heads: s.queryHeads, headDim: d, values: x.q, dtype: dtype))
        let k = try session.upload(try HeadTensor(name: "K", tokens: n, heads: s.kvHeads, headDim: d, values: x.k, dtype: dtype))
        let vd = try session.upload(try HeadTensor(name: "V", tokens: n, heads: s.kvHeads, headDim: d, values: v, dtype: dtype))
        let o = try DeviceBuffer(device: session.device, byteCount: n * s.queryHeads * d * 2)
        let lse = try DeviceBuffer(device: session.device, byteCount: n * s.queryHeads * 4)
        try o.fill8(0xFF); try lse.fill32(0x7FC0_0000)  // NaN: the dense pass must write every entry
        let traits = try FlashKernelTraits.default(headDim: d, geometry: try TileGeometry(tokens: n, queryTile: 128, keyTile: 64), dtype: dtype)
        try session.attention.forward(shape: s, traits: traits, q: q, k: k, v: vd, o: o, lse: lse, mask: nil, spec: spec, stream: session.stream)
        try session.stream.synchronize()
        try evaluate(GPULayerAttention(layer: layer, shape: s, spec: spec, dtype: dtype, q: q, k: k, v: vd, o: o, lse: lse))
    }

    func evaluate(_ a: GPULayerAttention) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        let layer = "L\(a.layer)", stream = session.stream, library = session.library
        let g = try TileGeometry(tokens: a.shape.tokens, queryTile: tile, keyTile: tile)
        let truth = try GPULayerTruth(a, geometry: g, library: library, stream: stream)
        guard truth.maxRowSumError <= rowSumTolerance else {  // NaN fails too
            throw SkeletonError.invalidArgument("layer \(a.layer): exact tile masses sum to 1 ± \(truth.maxRowSumError) per row (tolerance \(rowSumTolerance)): masses and the dense pass's LSE disagree")
        }
        let meter = try GPUOutputErrorMeter(attention: session.attention, layer: a, dense: truth.denseOutput, geometry: g, stream: stream)
        let floor = try meter.errors(try BlockMask.full(geometry: g, heads: a.shape.queryHeads))
        guard floor.allSatisfy({ $0.isFinite && $0 < 0.05 }) else {
            throw SkeletonError.invalidArgument("layer \(a.layer): the full-mask kernel run differs from the dense pass by \(floor) (relative)")
        }
        frontier.outputError = { _, mask in
            let e = try meter.errors(mask)
            guard e.allSatisfy(\.isFinite) else { throw SkeletonError.invalidArgument("layer \(a.layer): non-finite output error \(e) (unwritten rows?)") }
            return e
        }
        defer { frontier.outputError = nil }
        log("\(layer): masses \(fixed(truth.massMs, 1)) ms on the GPU, rows sum to 1 ± \(truth.maxRowSumError.sci), full-mask floor \(fixed(floor.max() ?? 0, 4)) (\(fixed(elapsed(), 1)) s)")

        var estimateNotes: [String] = []
        for (name, p) in skeletonVariants {
            let s = try GPUMaskSweeps.skeleton(name: name, parameters: p, layer: a, geometry: g, library: library, stream: stream,
                                               promiseEpsilon: frontier.promiseEpsilon)
            try frontier.accumulate(estimator: name, layer: layer, masks: s.masks, truths: truth.truths, outputs: true)
            recordPromise(s, truths: truth.truths, intoFrontier: name == "skeleton")
            estimateNotes.append("\(name) stride \(s.stride.map(String.init) ?? "-") \(fixed(s.estimateMs, 2)) ms")
            log("\(layer): \(name) (stride \(s.stride ?? 0)) scored (\(fixed(elapsed(), 1)) s)")
        }
        let m = try GPUMaskSweeps.minference(layer: a, geometry: g, library: library, stream: stream)
        try frontier.accumulate(estimator: m.name, layer: layer, masks: m.masks, truths: truth.truths, outputs: true)
        estimateNotes.append("minference \(fixed(m.estimateMs, 2)) ms")
        log("\(layer): minference scored (\(fixed(elapsed(), 1)) s)")
        if !cpuEstimators.isEmpty {
            let s = a.shape
            let q = try session.downloadFloats(a.q, count: s.tokens * s.queryHeads * s.headDim, dtype: a.dtype)
            let k = try session.downloadFloats(a.k, count: s.tokens * s.kvHeads * s.headDim, dtype: a.dtype)
            let x = try AttentionInputs(shape: s, q: q, k: k, v: nil)
            for e in cpuEstimators {
                let masks = try frontier.sweep(e, x, geometry: g, truths: truth.truths)
                try frontier.accumulate(estimator: e.name, layer: layer, masks: masks, truths: truth.truths, outputs: true)
                log("\(layer): \(e.name) (CPU) scored (\(fixed(elapsed(), 1)) s)")
            }
        }
        let o = try GPUMaskSweeps.oracle(truths: truth.truths, geometry: g)
        try frontier.accumulate(estimator: o.name, layer: layer, masks: o.masks, truths: truth.truths, outputs: true)
        layerNotes.append("layer \(a.layer): exact masses \(fixed(truth.massMs, 1)) ms (rows sum to 1 ± \(truth.maxRowSumError.sci)); "
                          + "full-mask kernel vs the dense pass \(fixed(floor.max() ?? 0, 4)) (output-error floor); "
                          + "estimates \(estimateNotes.joined(separator: ", ")); \(meter.runs) sparse runs \(fixed(meter.kernelMs, 1)) ms; \(fixed(elapsed(), 1)) s")
        log("\(layer): done (\(fixed(elapsed(), 1)) s)")
    }

    private func recordPromise(_ s: GPUMaskSweep, truths: [AttentionTruth], intoFrontier: Bool) {
        guard let mask = s.promiseMask else { return }
        var p = promises.first { $0.name == s.name }?.promise ?? FrontierRunner.Promise()
        for (h, t) in truths.enumerated() {
            let recall = t.score(mask, maskHead: h, outputs: false).recallMean
            let est = h < s.estimatedRecall.count ? s.estimatedRecall[h] : .nan
            p.heads += 1; p.recallSum += recall; p.densitySum += mask.density(head: h); p.estRecallSum += est
            if recall >= 1 - frontier.promiseEpsilon { p.kept += 1 }
            if intoFrontier { frontier.recordPromise(recallMean: recall, density: mask.density(head: h), estimatedRecall: est) }
        }
        if let i = promises.firstIndex(where: { $0.name == s.name }) { promises[i].promise = p }
        else { promises.append((s.name, s.stride, p)) }
    }

    /// Every frontier number finite (a NaN would otherwise print as a figure).
    public func requireFinite() throws {
        for r in frontier.summary.rows {
            let all = r.density + r.worstRow + (r.outputError ?? []) + (r.lowRow ?? [])
            if let bad = all.first(where: { !$0.isFinite }) {
                throw SkeletonError.invalidArgument("estimator \(r.estimator): non-finite frontier value \(bad)")
            }
        }
    }

    /// The promise of every skeleton variant, one line each.
    public var promiseLines: [String] {
        promises.map { v in
            let n = Double(max(v.promise.heads, 1))
            return String(format: "%@ (stride %@) ε = %.2f promise: true mean recall ≥ %.2f on %d / %d heads; mean true recall %.4f, probe-estimated %.4f, mean density %.3f",
                          v.name, v.stride.map(String.init) ?? "-", frontier.promiseEpsilon, 1 - frontier.promiseEpsilon, v.promise.kept, v.promise.heads,
                          v.promise.recallSum / n, v.promise.estRecallSum / n, v.promise.densitySum / n)
        }
    }

    /// The text report: the summary table (as `mask-eval`), the promises, the per-layer checks, the verdict.
    public func text(title: String) -> String {
        let s = frontier.summary
        return s.table(title: title) + promiseLines.joined(separator: "\n") + "\n" + layerNotes.joined(separator: "\n") + "\n" + s.verdict + "\n"
    }

    /// The same as markdown (for --report).
    public func markdown(title: String) -> String {
        let s = frontier.summary
        return s.markdown(title: title) + "\n" + promiseLines.map { "- " + $0 }.joined(separator: "\n") + "\n\n"
            + layerNotes.map { "- " + $0 }.joined(separator: "\n") + "\n"
    }
}

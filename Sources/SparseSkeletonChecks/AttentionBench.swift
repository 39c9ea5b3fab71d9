import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// One timed configuration of `gpu-bench` (and gpu-minference's timing): the JSON record
/// bench/gpu/merge.py reads; field names are that format.
public struct BenchRecord: Codable, Sendable {
    public var impl: String          // "ours"
    public var variant: String       // kernel traits
    public var mode: String          // "dense" or "sparse"
    public var tokens: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var dtype: String
    public var density: Double       // kept causal tiles / causal tiles
    public var usefulFlops: Double   // 4 · d · computed causal pairs (all heads)
    public var msMedian: Double
    public var msMin: Double
    public var reps: Int
    public var tflops: Double        // usefulFlops / median time
    public var peakBytes: Int        // device memory in use at the peak, above what was in use before
    public var note: String

    public init(impl: String, variant: String, mode: String, tokens: Int, heads: Int, kvHeads: Int, headDim: Int, dtype: String,
                density: Double, usefulFlops: Double, msMedian: Double, msMin: Double, reps: Int, tflops: Double, peakBytes: Int, note: String) {
        self.impl = impl; self.variant = variant; self.mode = mode; self.tokens = tokens; self.heads = heads; self.kvHeads = kvHeads
        self.headDim = headDim; self.dtype = dtype; self.density = density; self.usefulFlops = usefulFlops; self.msMedian = msMedian
        self.msMin = msMin; self.reps = reps; self.tflops = tflops; self.peakBytes = peakBytes; self.note = note
    }
}

/// Times our kernels with CUDA events: warm-up, then repeated launches, median.
/// Inputs are device-generated random data (never zeros); at every benchmarked size Q, K, V
/// and O together exceed the 50 MB L2, so repeated runs do not measure the cache.
public final class AttentionBench {
    let s: GPUSession
    public let secondsPerMeasurement: Double
    public var records: [BenchRecord] = []
    public var log: (String) -> Void
    /// When set, every timed mask (strided and estimated) is written here with its inputs and our output (`MaskDump`).
    public var dump: MaskDump?

    public init(session: GPUSession, secondsPerMeasurement: Double, log: @escaping (String) -> Void) {
        s = session; self.secondsPerMeasurement = secondsPerMeasurement; self.log = log
    }

    /// Median / min milliseconds of `body` (one kernel launch), at least 1 and at most 50 reps
    /// within the time budget; warm-up skipped when one run already exceeds the budget.
    public func time(_ body: () throws -> Void) throws -> (median: Double, min: Double, reps: Int) {
        let start = try GPUEvent(device: s.device), stop = try GPUEvent(device: s.device)
        func once() throws -> Double {
            try start.record(on: s.stream); try body(); try stop.record(on: s.stream)
            try stop.synchronize()
            return try stop.milliseconds(since: start)
        }
        let first = try once()  // warm-up: may include a first launch's compile or allocation, never reported
        if first / 1000 > secondsPerMeasurement { let t = try once(); return (t, t, 1) }
        let reps = max(3, min(50, Int(secondsPerMeasurement * 1000 / max(first, 1e-3))))
        var t: [Double] = []
        for _ in 0..<reps { t.append(try once()) }
        t.sort()
        return (t[t.count / 2], t[0], reps)
    }

    /// Dense and sparse timings for one shape. `densities` empty = dense only.
    public func run(tokens n: Int, heads: Int, kvHeads: Int, headDim d: Int, dtype: DType, geometryTiles: (Int, Int),
             densities: [Double], extraVariants: [FlashKernelTraits]) throws {
        let shape = try AttentionShape(tokens: n, queryHeads: heads, kvHeads: kvHeads, headDim: d)
        try s.device.synchronize()
        let baseline = try s.device.memoryInfo()
        let inUseBefore = baseline.total - baseline.free
        let qCount = n * heads * d, kvCount = n * kvHeads * d
        let q = try DeviceBuffer(device: s.device, byteCount: qCount * 2)
        let k = try DeviceBuffer(device: s.device, byteCount: kvCount * 2)
        let v = try DeviceBuffer(device: s.device, byteCount: kvCount * 2)
        let o = try DeviceBuffer(device: s.device, byteCount: qCount * 2)
        let lse = try DeviceBuffer(device: s.device, byteCount: n * heads * 4)
        try s.fill.random(q, count: qCount, dtype: dtype, seed: 11, scale: 1, stream: s.stream)
        try s.fill.random(k, count: kvCount, dtype: dtype, seed: 22, scale: 1, stream: s.stream)
        try s.fill.random(v, count: kvCount, dtype: dtype, seed: 33, scale: 1, stream: s.stream)
        try s.stream.synchronize()
        func peak() throws -> Int { let m = try s.device.memoryInfo(); return m.total - m.free - inUseBefore }
        let inputsName = "random-\(n)-d\(d)"
        if let dump, !densities.isEmpty { try dump.writeInputs(inputsName, q: q, k: k, v: v, count: qCount, kvCount: kvCount) }

        let geometry = try TileGeometry(tokens: n, queryTile: geometryTiles.0, keyTile: geometryTiles.1)
        let denseFlops = 4.0 * Double(d) * Double(n) * Double(n + 1) / 2 * Double(heads)
        let mainTraits = try FlashKernelTraits.default(headDim: d, geometry: geometry, dtype: dtype)
        let wide = s.attention.runnable(mainTraits, dense: true)
        var denseVariants = [mainTraits] + extraVariants.filter { $0 != mainTraits && $0 != wide }
        if !extraVariants.isEmpty && wide != s.attention.runnable(mainTraits) { denseVariants.append(mainTraits) }  // its own tiles too
        for (idx, traits) in denseVariants.enumerated() {
            // the default as a dense forward runs it (128-key tiles on the hopper kernel), every other variant as given
            s.attention.denseKeyTiles128 = idx == 0
            defer { s.attention.denseKeyTiles128 = true }
            _ = try s.attention.kernel(traits)
            let t = try time { try s.attention.forward(shape: shape, traits: traits, q: q, k: k, v: v, o: o, lse: lse, mask: nil, stream: s.stream) }
            let occ = (try? s.attention.kernel(traits).blocksPerMultiprocessor()) ?? 0
            let rec = BenchRecord(impl: "ours", variant: s.attention.runnable(traits, dense: true).description, mode: "dense", tokens: n, heads: heads, kvHeads: kvHeads,
                                  headDim: d, dtype: dtype.rawValue, density: 1, usefulFlops: denseFlops, msMedian: t.median, msMin: t.min,
                                  reps: t.reps, tflops: denseFlops / (t.median * 1e9), peakBytes: try peak(),
                                  note: "\(try s.attention.kernel(traits).compiled.report.registers) regs, \(occ) blocks/SM")
            records.append(rec); report(rec)
        }
        for density in densities {
            let masks = [("sparse", "strided mask", StridedMask(geometry: geometry, heads: heads, density: density)),
                         ("sparse-graded", "strided, head densities 0.1–1.9× the mean", StridedMask.graded(geometry: geometry, heads: heads, meanDensity: density))]
            for (mode, label, m) in masks {
                let dm = try DeviceBlockMask(device: s.device, geometry: geometry, heads: heads, rowOffsets: m.offsets, keyBlocks: m.indices,
                                             computedPairs: m.computedPairs, validate: false)
                let flops = 4.0 * Double(d) * Double(m.computedPairs)
                var queueTime: (median: Double, min: Double, reps: Int)?
                for order in try workOrders(mainTraits) {
                    s.attention.dynamicSparseOrder = order.dynamic
                    defer { s.attention.dynamicSparseOrder = true }
                    let t = try time { try s.attention.forward(shape: shape, traits: mainTraits, q: q, k: k, v: v, o: o, lse: lse, mask: dm, stream: s.stream) }
                    let rec = BenchRecord(impl: "ours", variant: mainTraits.description + order.suffix, mode: mode, tokens: n, heads: heads, kvHeads: kvHeads,
                                          headDim: d, dtype: dtype.rawValue, density: try dm.stats().density, usefulFlops: flops, msMedian: t.median, msMin: t.min,
                                          reps: t.reps, tflops: flops / (t.median * 1e9), peakBytes: try peak(), note: "\(label), asked \(density)")
                    records.append(rec); report(rec)
                    if order.dynamic { queueTime = t }
                }
                if let dump, let t = queueTime {
                    let st = try dm.stats()
                    try dump.writeMask(MaskDump.Record(inputs: inputsName, mask: MaskDump.slug(inputsName, mode, "\(density)"), mode: mode,
                                                       label: "\(label), asked \(density)", dtype: dtype.rawValue, variant: mainTraits.description,
                                                       tokens: n, heads: heads, kvHeads: kvHeads, headDim: d, queryTile: geometry.queryTile,
                                                       keyTile: geometry.keyTile, density: st.density, computedPairs: m.computedPairs,
                                                       keptTiles: st.keptTiles, oursMsMedian: t.median, oursMsMin: t.min, oursReps: t.reps),
                                       mask: dm, output: o)
                }
            }
        }
    }

    /// The persistent kernel's two orders for sparse masks (the work queue, then the static snake,
    /// labelled); other kernels have one.
    func workOrders(_ traits: FlashKernelTraits) throws -> [(dynamic: Bool, suffix: String)] {
        let run = s.attention.runnable(traits)
        return run.family == .wgmma && run.persistent ? [(true, ""), (false, " static order")] : [(true, "")]
    }

    /// Calibrates the cost model at `calibrationTokens` (dense + two strided densities), then, at
    /// each N in `tokens`, turns each asked budget (ms) into a density, builds that mask and
    /// times it: asked vs predicted vs achieved. No GPU estimator yet: estimation time is 0 and
    /// the masks are strided (the model is about tile throughput).
    public func runBudgets(tokens: [Int], budgetsMs: [[Double]], calibrationTokens: Int, heads: Int, kvHeads: Int, headDim d: Int,
                    dtype: DType, geometryTiles: (Int, Int)) throws {
        let traits = try FlashKernelTraits.default(headDim: d, geometry: try TileGeometry(tokens: calibrationTokens, queryTile: geometryTiles.0, keyTile: geometryTiles.1), dtype: dtype)
        var model: TileCostModel? = nil
        for (idx, n) in ([calibrationTokens] + tokens).enumerated() {
            let shape = try AttentionShape(tokens: n, queryHeads: heads, kvHeads: kvHeads, headDim: d)
            let qCount = n * heads * d, kvCount = n * kvHeads * d
            let q = try DeviceBuffer(device: s.device, byteCount: qCount * 2), o = try DeviceBuffer(device: s.device, byteCount: qCount * 2)
            let k = try DeviceBuffer(device: s.device, byteCount: kvCount * 2), v = try DeviceBuffer(device: s.device, byteCount: kvCount * 2)
            let lse = try DeviceBuffer(device: s.device, byteCount: n * heads * 4)
            try s.fill.random(q, count: qCount, dtype: dtype, seed: 5, scale: 1, stream: s.stream)
            try s.fill.random(k, count: kvCount, dtype: dtype, seed: 6, scale: 1, stream: s.stream)
            try s.fill.random(v, count: kvCount, dtype: dtype, seed: 7, scale: 1, stream: s.stream)
            let geometry = try TileGeometry(tokens: n, queryTile: geometryTiles.0, keyTile: geometryTiles.1)
            let causal = heads * geometry.causalTilesPerHead
            func timeMask(_ density: Double) throws -> (ms: Double, tiles: Int) {
                let m = StridedMask(geometry: geometry, heads: heads, density: density)
                let dm = try DeviceBlockMask(device: s.device, geometry: geometry, heads: heads, rowOffsets: m.offsets, keyBlocks: m.indices,
                                             computedPairs: m.computedPairs, validate: false)
                let t = try time { try s.attention.forward(shape: shape, traits: traits, q: q, k: k, v: v, o: o, lse: lse, mask: dm, stream: s.stream) }
                return (t.median, try dm.stats().keptTiles)
            }
            if idx == 0 {
                var pts: [(tiles: Double, ms: Double)] = []
                for dens in [1.0, 0.3, 0.1] { let r = try timeMask(dens); pts.append((Double(r.tiles), r.ms)) }
                let m = try TileCostModel.fit(headDim: d, dtype: dtype, tokens: n, points: pts)
                model = m
                log(m.description)
                continue
            }
            guard let model else { continue }
            let minimum = StridedMask(geometry: geometry, heads: heads, density: 0).indices.count
            for budget in budgetsMs[min(idx - 1, budgetsMs.count - 1)] {
                let dens = model.density(budgetMs: budget, estimationMs: 0, causalTiles: causal, minimumTiles: minimum)
                let r = try timeMask(dens)
                let predicted = model.predictMs(tiles: r.tiles)
                let flops = 4.0 * Double(d) * Double(StridedMask(geometry: geometry, heads: heads, density: dens).computedPairs)
                let rec = BenchRecord(impl: "ours", variant: traits.description, mode: "budget", tokens: n, heads: heads, kvHeads: kvHeads,
                                      headDim: d, dtype: dtype.rawValue, density: Double(r.tiles) / Double(causal), usefulFlops: flops,
                                      msMedian: r.ms, msMin: r.ms, reps: 0, tflops: flops / (r.ms * 1e9), peakBytes: 0,
                                      note: "asked \(fixed(budget, 2)) ms, predicted \(fixed(predicted, 2)) ms, achieved \(fixed(r.ms, 2)) ms")
                records.append(rec)
                log("budget N=\(n) d=\(d): asked \(fixed(budget, 2)) ms → density \(fixed(rec.density, 4)) → predicted \(fixed(predicted, 2)) ms, achieved \(fixed(r.ms, 2)) ms (\(fixed(r.ms / budget * 100, 0))% of budget)")
            }
            // the paper's mode end to end: the budget covers estimation + attention. The estimator's
            // cost at this N is measured first, the rest of the budget becomes a tile budget, and the
            // estimator's budget mode picks those tiles (random Q/K here: this times, it does not judge masks)
            let estimator = GPUSkeletonEstimator(library: s.library)
            _ = try estimator.estimate(q: q, k: k, shape: shape, dtype: dtype, geometry: geometry, target: .density(0.1), stream: s.stream)
            try s.stream.synchronize()
            let te = try time { _ = try estimator.estimate(q: q, k: k, shape: shape, dtype: dtype, geometry: geometry, target: .density(0.1), stream: s.stream) }
            for budget in budgetsMs[min(idx - 1, budgetsMs.count - 1)] {
                let dens = model.density(budgetMs: budget, estimationMs: te.median, causalTiles: causal, minimumTiles: minimum)
                let r = try estimator.estimate(q: q, k: k, shape: shape, dtype: dtype, geometry: geometry, target: .density(dens), stream: s.stream)
                try s.stream.synchronize()
                let kept = try r.mask.stats().keptTiles
                let t = try time {
                    let e = try estimator.estimate(q: q, k: k, shape: shape, dtype: dtype, geometry: geometry, target: .density(dens), stream: s.stream)
                    try s.attention.forward(shape: shape, traits: traits, q: q, k: k, v: v, o: o, lse: lse, mask: e.mask, stream: s.stream)
                }
                let predicted = te.median + model.predictMs(tiles: kept)
                let rec = BenchRecord(impl: "ours", variant: traits.description, mode: "budget-estimated", tokens: n, heads: heads, kvHeads: kvHeads,
                                      headDim: d, dtype: dtype.rawValue, density: Double(kept) / Double(causal), usefulFlops: 0,
                                      msMedian: t.median, msMin: t.min, reps: t.reps, tflops: 0, peakBytes: 0,
                                      note: "asked \(fixed(budget, 2)) ms, estimation \(fixed(te.median, 2)) ms, predicted \(fixed(predicted, 2)) ms, achieved \(fixed(t.median, 2)) ms")
                records.append(rec)
                log("budget with the GPU estimator N=\(n) d=\(d): asked \(fixed(budget, 2)) ms, estimation \(fixed(te.median, 2)) ms → density \(fixed(rec.density, 4)) → predicted \(fixed(predicted, 2)) ms, achieved \(fixed(t.median, 2)) ms (\(fixed(t.median / budget * 100, 0))% of budget)")
            }
        }
    }

    public func report(_ r: BenchRecord) {
        log("ours \(r.mode) N=\(r.tokens) d=\(r.headDim) \(r.variant) density \(r.density.f(3)): \(r.msMedian.f(3)) ms (min \(r.msMin.f(3)), \(r.reps) reps) \(r.tflops.f(1)) TFLOP/s, peak \(formatBytes(r.peakBytes)) [\(r.note)]")
    }
}

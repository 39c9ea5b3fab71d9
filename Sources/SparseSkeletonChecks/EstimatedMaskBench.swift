import Dispatch
import SparseSkeleton
import SparseSkeletonCUDA

/// The method end to end on the GPU: structured **generated** Q/K/V (the core's
/// StructuredAttentionGenerator — not real data) → the GPU skeleton estimator (error bound ε,
/// and the budget mode at given densities) → block-sparse attention with that mask. Times the
/// estimation (probes, fit, tile masses, mask) and the attention apart, with CUDA events, and
/// reports each mask's output error against our dense output.
/// Records: mode "estimate" (msMedian = estimation time) and mode "estimated" (the attention).
public enum EstimatedMaskBench {
    /// Generates the inputs on the host (CPU cores; not timed).
    public static func generate(tokens n: Int, heads: Int, kvHeads: Int, headDim d: Int, dtype: DType,
                         log: (String) -> Void) throws -> (q: HeadTensor, k: HeadTensor, v: HeadTensor) {
        let gen = try StructuredAttentionGenerator(.init(tokens: n, queryHeads: heads, kvHeads: kvHeads, headDim: d, dtype: dtype, seed: 7))
        let t0 = DispatchTime.now().uptimeNanoseconds
        let out = try gen.generate()
        log("generated structured Q/K/V N=\(n) \(heads)/\(kvHeads) d=\(d) in \(fixed(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6, 0)) ms (host, not timed)")
        return out
    }

    public static func run(session s: GPUSession, tokens n: Int, heads: Int, kvHeads: Int, headDim d: Int, dtype: DType, tiles: (Int, Int),
                    epsilon: Double, budgets: [Double], fitRows: [Int], bench: AttentionBench) throws {
        let (q, k, v) = try generate(tokens: n, heads: heads, kvHeads: kvHeads, headDim: d, dtype: dtype, log: bench.log)
        let inputsName = "structured-\(n)-d\(d)"
        try bench.dump?.writeInputs(inputsName, q: q, k: k, v: v)
        let shape = try AttentionShape(tokens: n, queryHeads: heads, kvHeads: kvHeads, headDim: d)
        let geometry = try TileGeometry(tokens: n, queryTile: tiles.0, keyTile: tiles.1)
        let traits = try FlashKernelTraits.default(headDim: d, geometry: geometry, dtype: dtype)
        let qd = try s.upload(q), kd = try s.upload(k), vd = try s.upload(v)
        let count = n * heads * d
        let oDense = try DeviceBuffer(device: s.device, byteCount: count * 2), oSparse = try DeviceBuffer(device: s.device, byteCount: count * 2)
        let lse = try DeviceBuffer(device: s.device, byteCount: n * heads * 4)
        let estimator = GPUSkeletonEstimator(library: s.library)
        try s.attention.forward(shape: shape, traits: traits, q: qd, k: kd, v: vd, o: oDense, lse: lse, mask: nil, stream: s.stream)  // warm-up (compile)
        try s.stream.synchronize()
        let td = try bench.time { try s.attention.forward(shape: shape, traits: traits, q: qd, k: kd, v: vd, o: oDense, lse: lse, mask: nil, stream: s.stream) }
        try s.stream.synchronize()
        let dense = try s.downloadFloats(oDense, count: count, dtype: dtype)
        var targets: [MaskTarget] = [.errorBound(epsilon: epsilon)]
        targets += budgets.map { MaskTarget.density($0) }
        // every target with the first probe budget; the other budgets: the error-bound mask only (the cost comparison)
        var cases: [(fitRows: Int, target: MaskTarget, label: String)] = []
        for (fi, fit) in fitRows.enumerated() {
            for target in (fi == 0 ? targets : [targets[0]]) {
                var label: String
                switch target {
                case .errorBound(let e): label = "skeleton eps=\(e)"
                case .density(let x): label = "skeleton budget \(x)"
                case .timeBudget(let ms): label = "skeleton time budget \(ms) ms"
                }
                if fi > 0 { label += " fit rows \(fit)" }
                cases.append((fit, target, label))
            }
        }
        for (fit, target, label) in cases {
            estimator.parameters.fitRowsPerHead = fit
            let stride = estimator.parameters.stride(tokens: n)
            var result: GPUSkeletonEstimator.Result?
            // warm-up (compiles and loads the kernels, allocates the workspace), then a profiled run
            estimator.profileStages = true
            _ = try estimator.estimate(q: qd, k: kd, shape: shape, dtype: dtype, geometry: geometry, target: target, stream: s.stream)
            try s.stream.synchronize()
            let h0 = DispatchTime.now().uptimeNanoseconds
            _ = try estimator.estimate(q: qd, k: kd, shape: shape, dtype: dtype, geometry: geometry, target: target, stream: s.stream)
            let enqueueMs = Double(DispatchTime.now().uptimeNanoseconds - h0) / 1e6
            try s.stream.synchronize()
            bench.log("\(label) N=\(n): host enqueue of one estimate \(fixed(enqueueMs, 3)) ms")
            bench.log("\(label) N=\(n) stages: " + (try estimator.stageMilliseconds()).map { "\($0.stage) \(fixed($0.ms, 3)) ms" }.joined(separator: ", "))
            estimator.profileStages = false
            let te = try bench.time {
                result = try estimator.estimate(q: qd, k: kd, shape: shape, dtype: dtype, geometry: geometry, target: target, stream: s.stream)
            }
            try s.stream.synchronize()
            guard let r = result else { continue }
            let st = try r.mask.stats()
            let ts = try bench.time { try s.attention.forward(shape: shape, traits: traits, q: qd, k: kd, v: vd, o: oSparse, lse: lse, mask: r.mask, stream: s.stream) }
            try s.stream.synchronize()
            let flops = 4.0 * Double(d) * Double(st.computedPairs)
            if try bench.workOrders(traits).count > 1 {  // the same mask in the static snake order, for the queue's gain
                s.attention.dynamicSparseOrder = false
                defer { s.attention.dynamicSparseOrder = true }
                let tStatic = try bench.time { try s.attention.forward(shape: shape, traits: traits, q: qd, k: kd, v: vd, o: oSparse, lse: lse, mask: r.mask, stream: s.stream) }
                try s.stream.synchronize()
                bench.records.append(BenchRecord(impl: "ours", variant: traits.description + " static order", mode: "estimated", tokens: n, heads: heads,
                                                 kvHeads: kvHeads, headDim: d, dtype: dtype.rawValue, density: st.density, usefulFlops: flops,
                                                 msMedian: tStatic.median, msMin: tStatic.min, reps: tStatic.reps, tflops: flops / (tStatic.median * 1e9),
                                                 peakBytes: 0, note: "\(label), static order"))
            }
            try bench.dump?.writeMask(MaskDump.Record(inputs: inputsName, mask: MaskDump.slug(inputsName, label), mode: "estimated", label: label,
                                                      dtype: dtype.rawValue, variant: traits.description, tokens: n, heads: heads, kvHeads: kvHeads,
                                                      headDim: d, queryTile: geometry.queryTile, keyTile: geometry.keyTile, density: st.density,
                                                      computedPairs: st.computedPairs, keptTiles: st.keptTiles, oursMsMedian: ts.median,
                                                      oursMsMin: ts.min, oursReps: ts.reps),
                                      mask: r.mask, output: oSparse)
            let sparse = try s.downloadFloats(oSparse, count: count, dtype: dtype)
            var num = 0.0, den = 0.0
            for (x, y) in zip(dense, sparse) { num += Double(x - y) * Double(x - y); den += Double(x) * Double(x) }
            let rel = (num / max(den, 1e-30)).squareRoot()
            let note = "\(label) on generated structured Q/K; probe stride \(stride); estimate \(fixed(te.median, 3)) ms; our dense \(fixed(td.median, 3)) ms; rel err vs dense \(rel.sci)"
            bench.records.append(BenchRecord(impl: "ours", variant: "GPU skeleton estimator", mode: "estimate", tokens: n, heads: heads, kvHeads: kvHeads,
                                             headDim: d, dtype: dtype.rawValue, density: st.density, usefulFlops: 0, msMedian: te.median,
                                             msMin: te.min, reps: te.reps, tflops: 0, peakBytes: 0, note: note))
            bench.records.append(BenchRecord(impl: "ours", variant: traits.description, mode: "estimated", tokens: n, heads: heads, kvHeads: kvHeads,
                                             headDim: d, dtype: dtype.rawValue, density: st.density, usefulFlops: flops, msMedian: ts.median,
                                             msMin: ts.min, reps: ts.reps, tflops: flops / (ts.median * 1e9), peakBytes: 0, note: note))
            bench.log("\(label) N=\(n): estimate \(fixed(te.median, 3)) ms (\(te.reps) reps), density \(fixed(st.density, 4)), sparse \(fixed(ts.median, 3)) ms, "
                      + "estimate + sparse \(fixed(te.median + ts.median, 3)) ms vs our dense \(fixed(td.median, 3)) ms (\(fixed(td.median / (te.median + ts.median), 2))x); "
                      + "output rel. error vs dense \(rel.sci)")
        }
    }
}

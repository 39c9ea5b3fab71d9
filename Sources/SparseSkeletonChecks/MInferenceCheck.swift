import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// `skeleton gpu-minference`'s matrix: the MInference-style estimator on the GPU
/// (GPUMInferenceEstimator) against the CPU `MInferenceEstimator` on the same 16-bit-rounded Q/K:
/// fresh random Q/K, generated structured Q/K (StructuredAttentionGenerator, not real data) and
/// captured real Q/K. Per case and target: tiles whose kept state differs between the GPU and CPU
/// masks, both densities, and the relative error of the GPU's column / diagonal scores against a
/// float64 recomputation. GPU outputs are poisoned (0xFF) first.
public enum MInferenceCheck {
    public enum Source: Sendable { case random(UInt64), structured(UInt64), real(AttentionInputs, String) }

    /// One case: inputs and shape; each runs every target of `targets`.
    public struct Case: Sendable, CustomStringConvertible {
        public let source: Source
        public let tokens: Int, queryHeads: Int, kvHeads: Int, headDim: Int
        public let dtype: DType
        public var description: String {
            let what: String
            switch source {
            case .random: what = "random"
            case .structured: what = "structured"
            case .real(_, let name): what = name
            }
            return "\(what) N=\(tokens) \(queryHeads)/\(kvHeads) d\(headDim) \(dtype.rawValue)"
        }
    }

    /// One (case, target) outcome: the numbers of gpu-minference's table and the verdict.
    public struct Row: Sendable {
        public let target: String
        public let differing: Int, total: Int
        public let cpuDensity: Double, gpuDensity: Double
        public let columnError: Double, diagonalError: Double
        public let ok: Bool
        public let verdict: String
    }

    /// Scores may differ from float64 by this relative L2 error; masks in at most this share of causal tiles.
    public static let scoreTolerance = 1e-4
    public static let tileTolerance = 0.005

    /// The default matrix at a fixed seed (the CLI draws its seed per run).
    public static var cases: [Case] { defaultCases(seed: 20_240_601) }

    /// Two cases (bf16, fp16) on one captured layer's Q/K.
    public static func capturedCases(inputs x: AttentionInputs, name: String) -> [Case] {
        [DType.bf16, .f16].map {
            Case(source: .real(x, name), tokens: x.shape.tokens, queryHeads: x.shape.queryHeads,
                 kvHeads: x.shape.kvHeads, headDim: x.shape.headDim, dtype: $0)
        }
    }

    /// Runs `cases` and prints gpu-minference's check table (a case that throws counts as one failure).
    public static func runAll(_ cases: [Case], session: GPUSession, estimator: GPUMInferenceEstimator, seed: UInt64, tiles: (Int, Int),
                              log: (String) -> Void = { print($0) }) -> CheckSummary {
        log("gpu-minference checks on \(session.banner); seed \(seed); tiles \(tiles.0)x\(tiles.1)")
        log("| case | target | tiles differing / total | CPU density | GPU density | col score rel.err | diag score rel.err | verdict |")
        log("|---|---|---|---|---|---|---|---|")
        var sum = CheckSummary()
        for c in cases {
            sum.tally({ try run(c, session: session, estimator: estimator, tiles: tiles) }, ok: \.ok, line: { r in
                "| \(c) | \(r.target) | \(r.differing) / \(r.total) | \(r.cpuDensity.f(4)) | \(r.gpuDensity.f(4)) | \(r.columnError.sci) | \(r.diagonalError.sci) | \(r.verdict) |"
            }, errorLine: { "| \(c) | - | error: \($0) | | | | | FAIL |" }, log: log)
        }
        log("gpu-minference checks: \(sum.passed)/\(sum.ran) passed")
        return sum
    }

    /// Random and structured inputs at N = 1000, 2048, 4100 (4100 is not a multiple of the tiles),
    /// MHA and GQA, d 64 and 128, bf16 and fp16 (alternating so every combination appears).
    public static func defaultCases(seed: UInt64) -> [Case] {
        var out: [Case] = []
        var i = 0
        for n in [1000, 2048, 4100] {
            for (hq, hkv) in [(4, 4), (8, 2)] {
                for d in [64, 128] {
                    let dt: DType = i % 2 == 0 ? .bf16 : .f16
                    out.append(Case(source: .random(seed &+ UInt64(i) &* 7919), tokens: n, queryHeads: hq, kvHeads: hkv, headDim: d, dtype: dt))
                    i += 1
                }
            }
        }
        for (n, hq, hkv, d, dt) in [(1000, 4, 4, 64, DType.bf16), (2048, 8, 2, 128, .f16), (4100, 8, 2, 128, .bf16), (4100, 4, 4, 64, .f16)] {
            out.append(Case(source: .structured(seed &+ UInt64(n)), tokens: n, queryHeads: hq, kvHeads: hkv, headDim: d, dtype: dt))
        }
        return out
    }

    /// Targets checked per case: the default counts, two smaller scales (at these N the default
    /// 6096 diagonals cover every diagonal, so the mask is full), and the density search.
    public static let targets: [GPUMInferenceEstimator.Target] = [.scale(1), .scale(0.1), .scale(0.02), .density(0.25)]

    static func inputs(_ c: Case) throws -> (q: HeadTensor, k: HeadTensor) {
        switch c.source {
        case .random(let s):
            var rng = SplitMix64(seed: s)
            let q = try HeadTensor.roughNormal(name: "q", tokens: c.tokens, heads: c.queryHeads, headDim: c.headDim, dtype: c.dtype, scale: 1.2, rng: &rng)
            let k = try HeadTensor.roughNormal(name: "k", tokens: c.tokens, heads: c.kvHeads, headDim: c.headDim, dtype: c.dtype, scale: 1.2, rng: &rng)
            return (q, k)
        case .structured(let s):
            let g = try StructuredAttentionGenerator(.init(tokens: c.tokens, queryHeads: c.queryHeads, kvHeads: c.kvHeads, headDim: c.headDim,
                                                           dtype: c.dtype, seed: s))
            let (q, k, _) = try g.generate()
            return (q, k)
        case .real(let x, _):
            return (try HeadTensor(name: "q", tokens: c.tokens, heads: c.queryHeads, headDim: c.headDim, values: x.q, dtype: c.dtype),
                    try HeadTensor(name: "k", tokens: c.tokens, heads: c.kvHeads, headDim: c.headDim, values: x.k, dtype: c.dtype))
        }
    }

    public static func run(_ c: Case, session s: GPUSession, estimator given: GPUMInferenceEstimator? = nil,
                           tiles: (Int, Int) = (128, 64)) throws -> [Row] {
        let est = given ?? GPUMInferenceEstimator(library: s.library)
        let (q, k) = try inputs(c)
        let x = try AttentionInputs(q: q, k: k, v: nil)  // the rounded values: CPU and GPU see the same numbers
        let shape = x.shape
        let geometry = try TileGeometry(tokens: shape.tokens, queryTile: tiles.0, keyTile: tiles.1)
        let cpu = est.config
        let ref = referenceScores(x, lastQueries: cpu.lastQueries)
        let qd = try s.upload(q), kd = try s.upload(k)
        let w = try est.makeWorkspace(shape: shape, geometry: geometry)
        var out: [Row] = []
        for target in targets {
            try w.poison()
            let dm = try est.estimate(shape: shape, dtype: c.dtype, q: qd, k: kd, target: target, workspace: w, stream: s.stream)
            try s.stream.synchronize()
            let gpuMask = try dm.download()  // validates: ascending, unique, causal
            let n = shape.tokens
            let gCol = try w.columnScores.download(Float.self, count: shape.queryHeads * n)
            let gDiag = try w.diagonalScores.download(Float.self, count: shape.queryHeads * n)
            let cpuMask: BlockMask
            let label: String
            var counts: (Int, Int)? = nil
            switch target {
            case .scale(let a):
                cpuMask = try cpu.masks(x, geometry: geometry, scales: [a])[0]
                counts = GPUMInferenceEstimator.counts(scale: a, config: cpu)
                label = "counts \(counts!.0)/\(counts!.1)"
            case .density(let d):
                cpuMask = try cpu.estimate(x, geometry: geometry, target: .density(d)).mask
                label = "density \(d) (α \(fixed(try w.chosenScale(), 4)))"
            }
            let differing = tileDifference(cpuMask, gpuMask)
            let total = cpuMask.causalTiles
            let colErr = relError(gCol, ref.column), diagErr = relError(gDiag, ref.diagonal)
            let scoresOK = colErr < scoreTolerance && diagErr < scoreTolerance && !gCol.contains(where: { $0.isNaN }) && !gDiag.contains(where: { $0.isNaN })
            let ok = scoresOK && Double(differing) <= tileTolerance * Double(total)
            var verdict = ok ? "ok" : "FAIL"
            if differing > 0, let k = counts {
                // explain: the smallest relative gap between the k-th and (k+1)-th score of any head
                let gc = boundaryGap(gCol, heads: shape.queryHeads, n: n, k: k.0)
                let gd = boundaryGap(gDiag, heads: shape.queryHeads, n: n, k: k.1)
                verdict += " (k-th vs next score gap: columns \(gc.sci), diagonals \(gd.sci))"
            } else if differing > 0 {
                verdict += " (bisection over α on masks that differ by \(differing) tiles)"
            }
            out.append(Row(target: label, differing: differing, total: total, cpuDensity: cpuMask.density, gpuDensity: gpuMask.density,
                              columnError: colErr, diagonalError: diagErr, ok: ok, verdict: verdict))
        }
        return out
    }

    /// Column and diagonal scores in float64 from the same rounded inputs (all heads, [h][N]).
    static func referenceScores(_ x: AttentionInputs, lastQueries: Int) -> (column: [Double], diagonal: [Double]) {
        let sh = x.shape, n = sh.tokens, d = sh.headDim
        var col = [Double](repeating: 0, count: sh.queryHeads * n), diag = col
        let scale = 1 / Double(d).squareRoot()
        let rows = max(0, n - lastQueries)..<n
        col.withUnsafeMutableBufferPointer { cp in
            diag.withUnsafeMutableBufferPointer { dp in
                let cb = cp.baseAddress!, db = dp.baseAddress!
                DispatchQueue.concurrentPerform(iterations: sh.queryHeads) { h in
                    let kv = sh.kvHead(forQueryHead: h)
                    var s = [Double](repeating: 0, count: n)
                    for r in rows {
                        let qo = x.qOffset(token: r, head: h)
                        var m = -Double.infinity
                        for j in 0...r {
                            let ko = x.kOffset(token: j, kvHead: kv)
                            var dot = 0.0
                            for t in 0..<d { dot += Double(x.q[qo + t]) * Double(x.k[ko + t]) }
                            s[j] = dot * scale; m = max(m, s[j])
                        }
                        var z = 0.0
                        for j in 0...r { s[j] = Foundation.exp(s[j] - m); z += s[j] }
                        for j in 0...r { let p = s[j] / z; cb[h * n + j] += p; db[h * n + r - j] += p }
                    }
                }
            }
        }
        return (col, diag)
    }

    static func relError(_ g: [Float], _ r: [Double]) -> Double {
        var num = 0.0, den = 0.0
        for (a, b) in zip(g, r) { let e = Double(a) - b; num += e * e; den += b * b }
        return den > 0 ? (num / den).squareRoot() : num.squareRoot()
    }

    /// Tiles kept by exactly one of two masks of the same geometry and heads.
    static func tileDifference(_ a: BlockMask, _ b: BlockMask) -> Int {
        var diff = 0
        for h in 0..<a.heads {
            for qb in 0..<a.geometry.queryBlocks {
                let x = Set(a.keyBlocks(head: h, queryBlock: qb)), y = Set(b.keyBlocks(head: h, queryBlock: qb))
                diff += x.symmetricDifference(y).count
            }
        }
        return diff
    }

    /// min over heads of (s_k − s_{k+1}) / s_k, the scores sorted descending (k 1-based): how close
    /// the selection boundary is to a tie. Infinity when every entry is kept.
    static func boundaryGap(_ scores: [Float], heads: Int, n: Int, k: Int) -> Double {
        guard k > 0, k < n else { return .infinity }
        var gap = Double.infinity
        for h in 0..<heads {
            let sorted = scores[(h * n)..<((h + 1) * n)].sorted(by: >)
            let a = Double(sorted[k - 1]), b = Double(sorted[k])
            if a > 0 { gap = min(gap, (a - b) / a) }
        }
        return gap
    }
}

/// gpu-minference's timing: estimation + mask on device-random Q/K (CUDA events, median), with our
/// dense attention and the attention on this mask for scale.
public enum MInferenceTiming {
    /// Median / min ms of `body` with CUDA events on the session stream: one warm-up, then
    /// reps fitting `seconds` (3...30).
    static func time(_ s: GPUSession, seconds: Double = 1.0, _ body: () throws -> Void) throws -> (median: Double, min: Double, reps: Int) {
        let start = try GPUEvent(device: s.device), stop = try GPUEvent(device: s.device)
        func once() throws -> Double {
            try start.record(on: s.stream); try body(); try stop.record(on: s.stream)
            try stop.synchronize()
            return try stop.milliseconds(since: start)
        }
        let first = try once()
        let reps = max(3, min(30, Int(seconds * 1000 / max(first, 1e-3))))
        var t: [Double] = []
        for _ in 0..<reps { t.append(try once()) }
        t.sort()
        return (t[t.count / 2], t[0], reps)
    }

    public static func run(session s: GPUSession, estimator est: GPUMInferenceEstimator, tokens n: Int, heads: Int, kvHeads: Int, headDim d: Int,
                    dtype: DType, tiles: (Int, Int), density: Double, attention: Bool) throws -> (records: [BenchRecord], rows: [String]) {
        let shape = try AttentionShape(tokens: n, queryHeads: heads, kvHeads: kvHeads, headDim: d)
        let geometry = try TileGeometry(tokens: n, queryTile: tiles.0, keyTile: tiles.1)
        let qCount = n * heads * d, kvCount = n * kvHeads * d
        try s.device.synchronize()
        let before = try s.device.memoryInfo()
        let q = try DeviceBuffer(device: s.device, byteCount: qCount * 2), k = try DeviceBuffer(device: s.device, byteCount: kvCount * 2)
        try s.fill.random(q, count: qCount, dtype: dtype, seed: 101, scale: 1, stream: s.stream)
        try s.fill.random(k, count: kvCount, dtype: dtype, seed: 202, scale: 1, stream: s.stream)
        let w = try est.makeWorkspace(shape: shape, geometry: geometry)
        try s.stream.synchronize()
        let after = try s.device.memoryInfo()
        let workspaceBytes = (before.free - after.free) - (qCount + kvCount) * 2
        _ = try est.kernels(try GPUMInferenceEstimator.Variant(headDim: d, dtype: dtype))

        var dense: Double? = nil
        var attn: (DeviceBuffer, DeviceBuffer, DeviceBuffer, FlashKernelTraits)? = nil
        if attention {
            let v = try DeviceBuffer(device: s.device, byteCount: kvCount * 2), o = try DeviceBuffer(device: s.device, byteCount: qCount * 2)
            let lse = try DeviceBuffer(device: s.device, byteCount: n * heads * 4)
            try s.fill.random(v, count: kvCount, dtype: dtype, seed: 303, scale: 1, stream: s.stream)
            let traits = try FlashKernelTraits.default(headDim: d, geometry: geometry, dtype: dtype)
            _ = try s.attention.kernel(traits)
            dense = try time(s) { try s.attention.forward(shape: shape, traits: traits, q: q, k: k, v: v, o: o, lse: lse, mask: nil, stream: s.stream) }.median
            attn = (v, o, lse, traits)
        }
        let probeFlops = 2.0 * 2 * Double(min(est.config.lastQueries, n)) * Double(n) * Double(d) * Double(heads)  // two probe passes
        var records: [BenchRecord] = [], rows: [String] = []
        for target in [GPUMInferenceEstimator.Target.scale(1), .density(density)] {
            var mask: DeviceBlockMask? = nil
            let t = try time(s) { mask = try est.estimate(shape: shape, dtype: dtype, q: q, k: k, target: target, workspace: w, stream: s.stream) }
            let st = try mask!.stats()
            var sparse: Double? = nil
            if let (v, o, lse, traits) = attn {
                sparse = try time(s) { try s.attention.forward(shape: shape, traits: traits, q: q, k: k, v: v, o: o, lse: lse, mask: mask, stream: s.stream) }.median
            }
            let label: String
            switch target {
            case .scale: label = "counts \(est.config.verticalCount)/\(est.config.slashCount)"
            case .density(let dd): label = "density \(dd) (α \(fixed(try w.chosenScale(), 3)))"
            }
            rows.append("| \(n) | \(label) | \(t.median.f(3)) | \(t.min.f(3)) | \(t.reps) | \(st.density.f(4)) | \(dense.map { $0.f(2) } ?? "-") | \(sparse.map { $0.f(2) } ?? "-") |")
            print("timed N=\(n) \(label): \(t.median.f(3)) ms (min \(t.min.f(3)), \(t.reps) reps), density \(st.density.f(4)), workspace \(formatBytes(workspaceBytes))")
            records.append(BenchRecord(impl: "minference-gpu", variant: "\(dtype.rawValue) d\(d) \(tiles.0)x\(tiles.1) \(label)", mode: "estimate",
                                       tokens: n, heads: heads, kvHeads: kvHeads, headDim: d, dtype: dtype.rawValue, density: st.density,
                                       usefulFlops: probeFlops, msMedian: t.median, msMin: t.min, reps: t.reps,
                                       tflops: probeFlops / (t.median * 1e9), peakBytes: workspaceBytes,
                                       note: "estimation + CSR mask on the GPU, random Q/K; our dense attention \(dense.map { fixed($0, 2) } ?? "-") ms; attention on this mask \(sparse.map { fixed($0, 2) } ?? "-") ms"))
        }
        return (records, rows)
    }
}

extension MInferenceTiming {
    /// Times each N (`run`), then prints gpu-minference's timing table and writes `json`.
    /// `dtypeName`: the dtype as the user wrote it (the table header shows it).
    public static func runAll(session s: GPUSession, estimator est: GPUMInferenceEstimator, tokens: [Int], heads: Int, kvHeads: Int,
                              headDim: Int, dtype: DType, dtypeName: String, tiles: (Int, Int), density: Double, attention: Bool,
                              json: String?) throws {
        var records: [BenchRecord] = []
        var table: [String] = []
        for n in tokens {
            let r = try run(session: s, estimator: est, tokens: n, heads: heads, kvHeads: kvHeads, headDim: headDim,
                            dtype: dtype, tiles: tiles, density: density, attention: attention)
            records += r.records; table += r.rows
        }
        print("")
        print("GPU MInference estimator (estimation + CSR mask on the GPU; CUDA events, median) on \(s.device.name); \(heads)/\(kvHeads) heads, d=\(headDim), \(dtypeName), tiles \(tiles.0)x\(tiles.1), random Q/K")
        print("| N | target | estimate ms (median) | min | reps | mask density | our dense attention ms | attention on this mask ms |")
        print("|---|---|---|---|---|---|---|---|")
        for row in table { print(row) }
        if let json {
            try BenchRecord.write(records, to: json)
            print("wrote \(records.count) records to \(json)")
        }
    }
}

import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// `skeleton gpu-estimate`'s matrix: the GPU skeleton estimator against its CPU reference
/// (`SkeletonEstimator` with the same probe stride, sweeps, blend and calibration) on the same
/// 16-bit-rounded Q/K (generated, random, captured), for both threshold modes, with poisoned workspaces.
public enum EstimatorCheck {
    /// One case: inputs and shape; each runs every target.
    public struct Case: Sendable, CustomStringConvertible {
        public enum Source: Sendable, CustomStringConvertible {
            case random(seed: UInt64)
            case structured(seed: UInt64)
            case captured(q: [Float], k: [Float], name: String)
            public var description: String {
                switch self {
                case .random(let s): return "random seed \(s)"
                case .structured(let s): return "generated structured seed \(s)"
                case .captured(_, _, let name): return name
                }
            }
        }
        public let tokens: Int
        public let queryHeads: Int
        public let kvHeads: Int
        public let headDim: Int
        public let dtype: DType
        public let queryTile: Int
        public let source: Source
        /// Strided fit rows asked (sets the probe stride); nil = the estimator's default.
        public var fitRows: Int? = nil
        /// The always-kept row-exact band in tokens; nil = the estimator's default.
        public var bandTokens: Int? = nil
        /// Tail calibration (quantile, scale); nil = the estimator's default.
        public var tail: (quantile: Double?, scale: Double)? = nil
        /// The IPF fit: nil = the estimator's default (one persistent launch), 0 = the step-by-step
        /// launches, k > 0 = the persistent launch on at most k CTAs (each loops over many items).
        public var fitGrid: Int? = nil
        public var description: String {
            "\(dtype.rawValue) d\(headDim) N=\(tokens) heads \(queryHeads)/\(kvHeads) \(queryTile)x64 [\(source)]" + (fitRows.map { " fit rows \($0)" } ?? "")
                + (bandTokens.map { " band \($0)" } ?? "")
                + (tail.map { t in t.quantile.map { " tail q \($0) × \(t.scale)ε" } ?? " tail off" } ?? "")
                + (fitGrid.map { $0 == 0 ? " IPF step launches" : " IPF grid ≤ \($0)" } ?? "")
        }
        /// The estimator's parameters with this case's overrides.
        func parameters(_ base: SkeletonParameters) -> SkeletonParameters {
            var p = base
            if let f = fitRows { p.fitRowsPerHead = f }
            if let b = bandTokens { p.alwaysKeep.bandTokens = b }
            if let t = tail { p.tailQuantile = t.quantile; p.tailScale = t.scale }
            return p
        }
    }

    /// One (case, target) outcome: the numbers of gpu-estimate's table and the verdict.
    public struct Row: Sendable {
        public let target: String
        public let estimateRelL1: Double
        public let estimateNaN: Int
        public let cpuDensity: Double
        public let gpuDensity: Double
        public let tilesDiffering: Int
        public let cpuKept: Int
        public let recallMaxDiff: Double?
        public let ok: Bool
        public let note: String
    }

    /// Estimates may differ from the CPU's by float rounding (fp32 factor fit and blend vs Double):
    /// the tile masses within 1e-3 (relative L1) and the masks in at most 1% of kept tiles (ties
    /// at the threshold decide differently); the budget's total is exact.
    public static let massTolerance = 1e-3
    public static let tileTolerance = 0.01
    public static let recallTolerance = 1e-3

    /// gpu-estimate's default targets: ε = 0.05 and density 0.3.
    public static let defaultTargets: [MaskTarget] = [.errorBound(epsilon: 0.05), .density(0.3)]

    /// The default matrix at a fixed seed (the CLI draws its seed per run).
    public static var cases: [Case] { defaultCases(seed: 20_240_601) }

    /// Two cases (bf16, fp16) on one captured layer's Q/K.
    public static func capturedCases(inputs x: AttentionInputs, name: String) -> [Case] {
        [DType.bf16, .f16].map {
            Case(tokens: x.shape.tokens, queryHeads: x.shape.queryHeads, kvHeads: x.shape.kvHeads, headDim: x.shape.headDim,
                 dtype: $0, queryTile: 128, source: .captured(q: x.q, k: x.k, name: name))
        }
    }

    /// Runs `cases` at `targets` and prints gpu-estimate's table (one row per case and target;
    /// a case that throws counts as one failure).
    public static func runAll(_ cases: [Case], session: GPUSession, seed: UInt64, targets: [MaskTarget] = defaultTargets,
                              log: (String) -> Void = { print($0); fflush(stdout) }) -> CheckSummary {
        log("gpu-estimate on \(session.banner); seed \(seed)")
        let estimator = GPUSkeletonEstimator(library: session.library)
        log("case | target | est. rel. L1 | NaN | CPU density | GPU density | tiles differing / CPU kept | max |recall diff| | note | verdict")
        var sum = CheckSummary()
        for c in cases {
            sum.tally({ try run(c, session: session, estimator: estimator, targets: targets) }, ok: \.ok, line: { r in
                "\(c) | \(r.target) | \(r.estimateRelL1.sci) | \(r.estimateNaN) | \(r.cpuDensity.f(4)) | \(r.gpuDensity.f(4)) | "
                    + "\(r.tilesDiffering) / \(r.cpuKept) | \(r.recallMaxDiff.map { $0.sci } ?? "-") | \(r.note) | \(r.ok ? "ok" : "FAIL")"
            }, errorLine: { "\(c) | error: \($0) | FAIL" }, log: log)
        }
        log("gpu-estimate: \(sum.passed)/\(sum.ran) checks passed (tolerances: est. rel. L1 ≤ \(massTolerance), "
            + "tiles differing ≤ \(Int(tileTolerance * 100))% of kept, |recall diff| ≤ 1e-3, budget total exact)")
        return sum
    }

    public static func defaultCases(seed: UInt64) -> [Case] {
        [Case(tokens: 1000, queryHeads: 4, kvHeads: 2, headDim: 64, dtype: .bf16, queryTile: 128, source: .structured(seed: seed)),
         Case(tokens: 4100, queryHeads: 8, kvHeads: 2, headDim: 128, dtype: .f16, queryTile: 128, source: .structured(seed: seed &+ 1)),
         Case(tokens: 3000, queryHeads: 4, kvHeads: 4, headDim: 256, dtype: .bf16, queryTile: 64, source: .random(seed: seed &+ 2)),
         Case(tokens: 40, queryHeads: 2, kvHeads: 1, headDim: 64, dtype: .f16, queryTile: 128, source: .random(seed: seed &+ 3)),
         Case(tokens: 9000, queryHeads: 2, kvHeads: 1, headDim: 64, dtype: .bf16, queryTile: 128, source: .structured(seed: seed &+ 4)),
         // long strides (the 128K-and-up regime) on small N: stride 256 and 128
         Case(tokens: 9000, queryHeads: 8, kvHeads: 2, headDim: 128, dtype: .bf16, queryTile: 128, source: .structured(seed: seed &+ 5), fitRows: 32),
         Case(tokens: 6000, queryHeads: 6, kvHeads: 3, headDim: 64, dtype: .f16, queryTile: 64, source: .random(seed: seed &+ 6), fitRows: 40),
         // the local band off, wider than a tile and under 128-row query blocks; tail calibration on and off
         Case(tokens: 4100, queryHeads: 4, kvHeads: 2, headDim: 64, dtype: .bf16, queryTile: 64, source: .structured(seed: seed &+ 7), bandTokens: 0),
         Case(tokens: 3000, queryHeads: 4, kvHeads: 2, headDim: 128, dtype: .bf16, queryTile: 128, source: .structured(seed: seed &+ 8), bandTokens: 200),
         Case(tokens: 4100, queryHeads: 8, kvHeads: 2, headDim: 64, dtype: .f16, queryTile: 64, source: .structured(seed: seed &+ 9), tail: (0.1, 2)),
         Case(tokens: 5000, queryHeads: 4, kvHeads: 2, headDim: 128, dtype: .bf16, queryTile: 128, source: .structured(seed: seed &+ 10), tail: (1e-9, 4)),
         Case(tokens: 3000, queryHeads: 4, kvHeads: 4, headDim: 64, dtype: .bf16, queryTile: 64, source: .random(seed: seed &+ 11), bandTokens: 0, tail: (nil, 4)),
         // the IPF fit: the persistent launch on 5 CTAs (every CTA loops over residue and tail items), and the step launches
         Case(tokens: 9000, queryHeads: 8, kvHeads: 2, headDim: 64, dtype: .bf16, queryTile: 128, source: .structured(seed: seed &+ 12), fitGrid: 5),
         Case(tokens: 4100, queryHeads: 4, kvHeads: 2, headDim: 128, dtype: .f16, queryTile: 128, source: .structured(seed: seed &+ 13), fitGrid: 0),
         // 1022 strided fit rows (stride 32): the IPF's 8-outputs-per-thread walk (every case above has W < 1009: 4 per thread)
         Case(tokens: 32768, queryHeads: 2, kvHeads: 1, headDim: 64, dtype: .bf16, queryTile: 128, source: .structured(seed: seed &+ 14))]
    }

    static func inputs(_ c: Case) throws -> (q: HeadTensor, k: HeadTensor) {
        switch c.source {
        case .structured(let seed):
            let g = try StructuredAttentionGenerator(.init(tokens: c.tokens, queryHeads: c.queryHeads, kvHeads: c.kvHeads, headDim: c.headDim,
                                                           dtype: c.dtype, seed: seed))
            let (q, k, _) = try g.generate()
            return (q, k)
        case .random(let seed):
            var rng = SplitMix64(seed: seed)
            let q = try HeadTensor.roughNormal(name: "Q", tokens: c.tokens, heads: c.queryHeads, headDim: c.headDim, dtype: c.dtype, scale: 1.2, rng: &rng)
            let k = try HeadTensor.roughNormal(name: "K", tokens: c.tokens, heads: c.kvHeads, headDim: c.headDim, dtype: c.dtype, scale: 1.2, rng: &rng)
            return (q, k)
        case .captured(let q, let k, _):
            return (try HeadTensor(name: "Q", tokens: c.tokens, heads: c.queryHeads, headDim: c.headDim, values: q, dtype: c.dtype),
                    try HeadTensor(name: "K", tokens: c.tokens, heads: c.kvHeads, headDim: c.headDim, values: k, dtype: c.dtype))
        }
    }

    /// Runs both targets of one case: a first GPU run builds the workspace, every workspace buffer
    /// is then poisoned (0xFF bytes: NaN floats, −1 ints) and the checked run must overwrite it.
    public static func run(_ c: Case, session s: GPUSession, estimator given: GPUSkeletonEstimator? = nil,
                           targets: [MaskTarget] = defaultTargets) throws -> [Row] {
        let estimator = given ?? GPUSkeletonEstimator(library: s.library)
        let (q, k) = try inputs(c)
        let x = try AttentionInputs(q: q, k: k, v: nil)  // the rounded values: both sides see the same numbers
        let shape = x.shape
        let g = try TileGeometry(tokens: c.tokens, queryTile: c.queryTile, keyTile: 64)
        let saved = estimator.parameters, savedFit = (estimator.persistentFit, estimator.persistentFitGridLimit)
        defer { estimator.parameters = saved; (estimator.persistentFit, estimator.persistentFitGridLimit) = savedFit }
        estimator.parameters = c.parameters(saved)
        if let f = c.fitGrid { estimator.persistentFit = f > 0; estimator.persistentFitGridLimit = f > 0 ? f : nil }
        let cpu = SkeletonEstimator(parameters: estimator.parameters)
        let (cpuMasses, fits) = try cpu.masses(x, geometry: g)
        let cpuNorm = cpuMasses.normalisedPerQueryBlock()
        let qd = try s.upload(q), kd = try s.upload(k)
        var rows: [Row] = []
        for target in targets {
            let cpuEst: MaskEstimate
            switch target {
            case .density(let dens): cpuEst = try BudgetThreshold.mask(cpuMasses, density: dens, alwaysKeep: cpu.parameters.alwaysKeep)
            case .errorBound(let e): cpuEst = try cpu.errorBoundMask(masses: cpuMasses, fits: fits, epsilon: e)
            case .timeBudget: throw SkeletonError.invalidArgument("the estimator check takes ε or density targets")
            }
            _ = try estimator.estimate(q: qd, k: kd, shape: shape, dtype: c.dtype, geometry: g, target: target, stream: s.stream)
            try s.stream.synchronize()
            try estimator.poisonWorkspace()
            let r = try estimator.estimate(q: qd, k: kd, shape: shape, dtype: c.dtype, geometry: g, target: target, stream: s.stream)
            try s.stream.synchronize()
            let est = try r.tileEstimates()
            var num = 0.0, den = 0.0, nan = 0
            for (a, b) in zip(est, cpuNorm.values) {
                if !a.isFinite { nan += 1; continue }
                num += abs(Double(a) - b); den += abs(b)
            }
            let rel = num / max(den, 1e-30)
            let gpuMask = try r.mask.download()
            var differ = 0
            for h in 0..<shape.queryHeads {
                for qb in 0..<g.queryBlocks {
                    let a = Set(gpuMask.keyBlocks(head: h, queryBlock: qb)), b = Set(cpuEst.mask.keyBlocks(head: h, queryBlock: qb))
                    differ += a.symmetricDifference(b).count
                }
            }
            let cpuKept = cpuEst.mask.keyBlockIndices.count
            var recallDiff: Double? = nil
            var note = ""
            var ok = nan == 0 && rel <= massTolerance && Double(differ) <= tileTolerance * Double(max(cpuKept, 1))
            switch target {
            case .errorBound:
                let g = try r.probeRecalls()
                recallDiff = zip(g, cpuEst.estimatedRecall ?? []).map { abs(Double($0) - $1) }.max() ?? 0
                let eps = try r.internalEpsilons()
                note = "ε' \(String(format: "%.4f", Double(eps.min() ?? 0)))…\(String(format: "%.4f", Double(eps.max() ?? 0)))"
                if let d = recallDiff, d > recallTolerance { ok = false }
            case .density:
                note = "kept GPU \(gpuMask.keyBlockIndices.count) / CPU \(cpuKept)"
                if gpuMask.keyBlockIndices.count != cpuKept { ok = false }
            case .timeBudget: break
            }
            let name: String
            switch target {
            case .errorBound(let e): name = "ε=\(e)"
            case .density(let d): name = "density \(d)"
            case .timeBudget(let ms): name = "budget \(ms) ms"
            }
            rows.append(Row(target: name, estimateRelL1: rel, estimateNaN: nan, cpuDensity: cpuEst.mask.density,
                                          gpuDensity: gpuMask.density, tilesDiffering: differ, cpuKept: cpuKept,
                                          recallMaxDiff: recallDiff, ok: ok, note: note))
        }
        return rows
    }
}

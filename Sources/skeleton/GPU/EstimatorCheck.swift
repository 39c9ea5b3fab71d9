import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// One correctness case of `gpu-estimate`: the GPU skeleton estimator against its CPU reference
/// (`SkeletonEstimator` with the same probe stride, sweeps, blend and calibration) on the same
/// 16-bit-rounded Q/K, for both threshold modes.
struct EstimatorCheckCase: CustomStringConvertible {
    enum Source: CustomStringConvertible {
        case random(seed: UInt64)
        case structured(seed: UInt64)
        case captured(q: [Float], k: [Float], name: String)
        var description: String {
            switch self {
            case .random(let s): return "random seed \(s)"
            case .structured(let s): return "generated structured seed \(s)"
            case .captured(_, _, let name): return name
            }
        }
    }
    let tokens: Int
    let queryHeads: Int
    let kvHeads: Int
    let headDim: Int
    let dtype: DType
    let queryTile: Int
    let source: Source
    /// Strided fit rows asked (sets the probe stride); nil = the estimator's default.
    var fitRows: Int? = nil
    var description: String {
        "\(dtype.rawValue) d\(headDim) N=\(tokens) heads \(queryHeads)/\(kvHeads) \(queryTile)x64 [\(source)]" + (fitRows.map { " fit rows \($0)" } ?? "")
    }
}

struct EstimatorCheckRow {
    let target: String
    let estimateRelL1: Double
    let estimateNaN: Int
    let cpuDensity: Double
    let gpuDensity: Double
    let tilesDiffering: Int
    let cpuKept: Int
    let recallMaxDiff: Double?
    let ok: Bool
    let note: String
}

enum EstimatorCheck {
    /// Estimates may differ from the CPU's by float rounding (fp32 factor fit and blend vs Double):
    /// the tile masses within 1e-3 (relative L1) and the masks in at most 1% of kept tiles (ties
    /// at the threshold decide differently); the budget's total is exact.
    static let massTolerance = 1e-3
    static let tileTolerance = 0.01

    static func defaultCases(seed: UInt64) -> [EstimatorCheckCase] {
        [EstimatorCheckCase(tokens: 1000, queryHeads: 4, kvHeads: 2, headDim: 64, dtype: .bf16, queryTile: 128, source: .structured(seed: seed)),
         EstimatorCheckCase(tokens: 4100, queryHeads: 8, kvHeads: 2, headDim: 128, dtype: .f16, queryTile: 128, source: .structured(seed: seed &+ 1)),
         EstimatorCheckCase(tokens: 3000, queryHeads: 4, kvHeads: 4, headDim: 256, dtype: .bf16, queryTile: 64, source: .random(seed: seed &+ 2)),
         EstimatorCheckCase(tokens: 40, queryHeads: 2, kvHeads: 1, headDim: 64, dtype: .f16, queryTile: 128, source: .random(seed: seed &+ 3)),
         EstimatorCheckCase(tokens: 9000, queryHeads: 2, kvHeads: 1, headDim: 64, dtype: .bf16, queryTile: 128, source: .structured(seed: seed &+ 4)),
         // long strides (the 128K-and-up regime) on small N: stride 256 and 128
         EstimatorCheckCase(tokens: 9000, queryHeads: 8, kvHeads: 2, headDim: 128, dtype: .bf16, queryTile: 128, source: .structured(seed: seed &+ 5), fitRows: 32),
         EstimatorCheckCase(tokens: 6000, queryHeads: 6, kvHeads: 3, headDim: 64, dtype: .f16, queryTile: 64, source: .random(seed: seed &+ 6), fitRows: 40)]
    }

    static func inputs(_ c: EstimatorCheckCase) throws -> (q: HeadTensor, k: HeadTensor) {
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
    static func run(_ c: EstimatorCheckCase, session s: GPUSession, estimator: GPUSkeletonEstimator,
                    targets: [MaskTarget]) throws -> [EstimatorCheckRow] {
        let (q, k) = try inputs(c)
        let x = try AttentionInputs(q: q, k: k, v: nil)  // the rounded values: both sides see the same numbers
        let shape = x.shape
        let g = try TileGeometry(tokens: c.tokens, queryTile: c.queryTile, keyTile: 64)
        let saved = estimator.parameters
        defer { estimator.parameters = saved }
        if let f = c.fitRows { estimator.parameters.fitRowsPerHead = f }
        let cpu = SkeletonEstimator(parameters: estimator.parameters)
        let (cpuMasses, fits) = try cpu.masses(x, geometry: g)
        let cpuNorm = cpuMasses.normalisedPerQueryBlock()
        let qd = try s.upload(q), kd = try s.upload(k)
        var rows: [EstimatorCheckRow] = []
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
                if let d = recallDiff, d > 1e-3 { ok = false }
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
            rows.append(EstimatorCheckRow(target: name, estimateRelL1: rel, estimateNaN: nan, cpuDensity: cpuEst.mask.density,
                                          gpuDensity: gpuMask.density, tilesDiffering: differ, cpuKept: cpuKept,
                                          recallMaxDiff: recallDiff, ok: ok, note: note))
        }
        return rows
    }
}

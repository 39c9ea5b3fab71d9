import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// `gpu-mask-eval` against `mask-eval` on the same layer: the CPU frontier (`FrontierRunner` with
/// the exact pass of every row and its partial outputs, as `mask-eval --frontier` runs it) and the
/// GPU run (`GPUMaskEvalRun`: exact tile masses from the GPU, GPU skeleton and MInference, output
/// error from our sparse kernel) on the same 16-bit-rounded Q/K/V, compared figure by figure for
/// the skeleton (the GPU default's probe stride, the same parameters on the CPU), MInference and
/// the oracle. The two share no code below the frontier's scoring except the estimators'
/// parameters, so agreement checks the masses, both estimators' GPU ports and the output meter.
public enum GPUMaskEvalAgreement {
    /// One compared figure.
    public struct Figure: Sendable {
        public let estimator: String
        public let what: String
        public let cpu: Double
        public let gpu: Double
        public let tolerance: Double
        public var ok: Bool { cpu.isFinite && gpu.isFinite && abs(cpu - gpu) <= tolerance }
    }

    public struct Result: Sendable {
        public let cpu: FrontierSummary
        public let gpu: FrontierSummary
        public let figures: [Figure]
        public var failed: [Figure] { figures.filter { !$0.ok } }
        public var ok: Bool { !figures.isEmpty && failed.isEmpty }

        /// One line per figure, then the verdict.
        public var text: String {
            var out = "gpu-mask-eval vs mask-eval (CPU) on the same 16-bit inputs:\nestimator | figure | CPU | GPU | |Δ| | tol | verdict\n"
            for f in figures {
                out += "\(f.estimator) | \(f.what) | \(fixed(f.cpu, 4)) | \(fixed(f.gpu, 4)) | \(fixed(abs(f.cpu - f.gpu), 4)) | \(fixed(f.tolerance, 4)) | \(f.ok ? "ok" : "FAIL")\n"
            }
            return out + "agreement: \(figures.count - failed.count)/\(figures.count) figures within tolerance\n"
        }
    }

    /// Density tolerances: the oracle's masses differ only by the GPU's fp32 rounding (a tile near
    /// a threshold may flip); the estimators' ports are checked tile for tile elsewhere
    /// (gpu-estimate, gpu-minference) but a flipped tile in a sweep moves the chosen knob.
    static func densityTolerance(_ estimator: String) -> Double { estimator == "oracle" ? 0.005 : 0.02 }

    /// Both runs on `x` (rounded to `dtype` first, so the CPU sees what the GPU sees).
    public static func run(inputs raw: AttentionInputs, layer: Int, session: GPUSession, dtype: DType = .bf16,
                           log: @escaping (String) -> Void = { _ in }) throws -> Result {
        guard let rawV = raw.v else { throw SkeletonError.invalidArgument("the agreement check needs V (the output error)") }
        let s = raw.shape
        let x = try AttentionInputs(q: try HeadTensor(name: "Q", tokens: s.tokens, heads: s.queryHeads, headDim: s.headDim, values: raw.q, dtype: dtype),
                                    k: try HeadTensor(name: "K", tokens: s.tokens, heads: s.kvHeads, headDim: s.headDim, values: raw.k, dtype: dtype),
                                    v: try HeadTensor(name: "V", tokens: s.tokens, heads: s.kvHeads, headDim: s.headDim, values: rawV, dtype: dtype))
        var cpu = FrontierRunner(estimators: [SkeletonEstimator(parameters: .growingStride), MInferenceEstimator(), OracleEstimator()], geometryTile: 64)
        cpu.rowQuantile = 0.05
        try cpu.run(layer: "L\(layer)", inputs: x)
        let gpu = GPUMaskEvalRun(session: session, strides: [], cpuEstimators: [])
        gpu.log = log
        try gpu.evaluate(inputs: x, layer: layer, dtype: dtype)
        return compare(cpu: cpu.summary, gpu: gpu.frontier.summary)
    }

    /// Figure by figure: density at every recall, output error, worst and 5th-percentile row at
    /// 0.95, and the skeleton's ε promise (heads kept, mean true recall).
    public static func compare(cpu c: FrontierSummary, gpu g: FrontierSummary) -> Result {
        var figures: [Figure] = []
        for name in ["skeleton", "minference", "oracle"] {
            guard let a = c.rows.first(where: { $0.estimator == name }), let b = g.rows.first(where: { $0.estimator == name }) else {
                figures.append(Figure(estimator: name, what: "row present on both", cpu: .nan, gpu: .nan, tolerance: 0))
                continue
            }
            for (i, r) in c.recalls.enumerated() where i < b.density.count {
                figures.append(Figure(estimator: name, what: "density@\(r)", cpu: a.density[i], gpu: b.density[i], tolerance: densityTolerance(name)))
                if let ea = a.outputError?[i], let eb = b.outputError?[i] {
                    figures.append(Figure(estimator: name, what: "out.err@\(r)", cpu: ea, gpu: eb, tolerance: 0.005 + 0.15 * ea))
                }
            }
            if let i = c.recalls.firstIndex(where: { abs($0 - 0.95) < 1e-9 }), i < b.worstRow.count {
                figures.append(Figure(estimator: name, what: "worst row@0.95", cpu: a.worstRow[i], gpu: b.worstRow[i], tolerance: 0.05))
                if let la = a.lowRow?[i], let lb = b.lowRow?[i] {
                    figures.append(Figure(estimator: name, what: "p5 row@0.95", cpu: la, gpu: lb, tolerance: 0.02))
                }
            }
        }
        if let pa = c.promise, let pb = g.promise {
            figures.append(Figure(estimator: "skeleton", what: "promise heads kept", cpu: Double(pa.kept), gpu: Double(pb.kept), tolerance: 1))
            figures.append(Figure(estimator: "skeleton", what: "promise mean true recall", cpu: pa.recallSum / Double(max(pa.heads, 1)),
                                  gpu: pb.recallSum / Double(max(pb.heads, 1)), tolerance: 0.005))
        } else {
            figures.append(Figure(estimator: "skeleton", what: "promise scored on both", cpu: .nan, gpu: .nan, tolerance: 0))
        }
        return Result(cpu: c, gpu: g, figures: figures)
    }
}

extension GPUMaskEvalAgreement {
    /// gpu-check's case: generated structured attention (sink, slashes, columns; not real data) at
    /// Gemma-3's global-layer shape, small enough for the CPU's full exact pass.
    public static let checkName = "mask-eval agreement bf16 d256 N=2048 heads 4/1 [generated structured]"

    public static func runCheck(session s: GPUSession, seed: UInt64, filter: String?, log: (String) -> Void = { print($0) }) -> CheckSummary {
        var sum = CheckSummary()
        if let f = filter, !checkName.contains(f) { return sum }
        sum.ran = 1
        do {
            let x = try StructuredAttentionGenerator(.init(tokens: 2048, queryHeads: 4, kvHeads: 1, headDim: 256, seed: seed)).inputs()
            let r = try run(inputs: x, layer: 0, session: s)
            log(checkName + ":\n" + r.text.dropLast())
            if !r.ok { sum.failed = 1 }
        } catch {
            sum.failed = 1
            log("\(checkName) | error: \(error) | FAIL")
        }
        log("gpu-check (mask-eval agreement): \(sum.passed)/\(sum.ran) cases passed")
        return sum
    }
}

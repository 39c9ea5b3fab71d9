import ArgumentParser
import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel
import SparseSkeletonModelCUDA

/// `skeleton gpu-prefill`: the real model's prefill on the GPU, dense against sparse attention:
/// time to first token (CUDA events, after warm-up runs) and its stages; with --check the last
/// position's logits (and the window's perplexity) against the CPU model.
struct GPUPrefill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-prefill",
        abstract: "SmolLM2 prefill on the GPU: time to first token, dense vs sparse attention (--check: vs the CPU model).",
        discussion: """
        Weights are uploaded once (bf16 matrices, fp32 norms); products run in cuBLAS (dlopen; set \
        SKELETON_CUBLAS to its path if it is not found), attention in the block-sparse FlashAttention \
        kernel. Sparse masks come from a CPU estimator on the GPU's Q/K copied back to the host each \
        layer (the host round trip is inside the reported time). TTFT = embedding to the last \
        position's logits. --check runs the CPU model on the same tokens: relative L2 error of the \
        last logits must be ≤ 2e-2 (bf16), and perplexity over the window is compared.
        """)

    @Option(help: "GGUF model file.") var model: String = ModelSession.defaultModel
    @Option(help: "Text: a path, or a name under data/texts.") var text: String = "pride_and_prejudice"
    @Option(help: "Prompt length N in tokens (BOS included).") var tokens: Int
    @Option(help: "dense | skeleton | minference | flexprefill | xattention | oracle") var attention: String = "dense"
    @Option(help: "Error bound ε of a sparse run (default 0.02 when neither --epsilon nor --density is given).") var epsilon: Double?
    @Option(help: "Budget density of a sparse run.") var density: Double?
    @Option(name: .customLong("query-tile"), help: "Query tile of the masks and the kernel: 64 or 128 (key tile 64).") var queryTile: Int = 128
    @Option(name: .customLong("start-char"), help: "First character of the text taken.") var startChar: Int = 5000
    @Option(help: "Untimed warm-up runs (kernel compilation, cuBLAS heuristics).") var warmup: Int = 1
    @Option(help: "Timed runs; the table shows the median TTFT run.") var repeats: Int = 3
    @Flag(help: "Compare with the CPU model (use a small --tokens, e.g. 256).") var check = false
    @Flag(name: .customLong("kernel-check"), help: "First check every model kernel and the cuBLAS product against float64 on random inputs.")
    var kernelCheck = false
    @Option(name: .customLong("max-error"), help: "--check fails above this relative error of the last logits.") var maxError: Double = 2e-2

    func run() throws {
        guard tokens >= 2 else { throw SkeletonError.invalidArgument("--tokens must be at least 2, got \(tokens)") }
        guard warmup >= 0, repeats >= 1 else { throw SkeletonError.invalidArgument("--warmup must be ≥ 0 and --repeats ≥ 1") }
        guard SkeletonError.supportedTileSizes.contains(queryTile) else { throw SkeletonError.unsupportedTileSize(queryTile) }
        let mode: GPUAttentionMode
        var target: MaskTarget? = nil
        if attention == "dense" {
            guard epsilon == nil, density == nil else { throw SkeletonError.invalidArgument("--epsilon/--density need a sparse --attention") }
            mode = .dense
        } else {
            let t = try ModelSession.target(epsilon: epsilon, density: density) ?? MaskTarget.recommended
            target = t
            mode = .estimated(try EvalRunner.estimator(named: attention, skeleton: SkeletonEstimator()), t)
        }
        let device = try GPUDevice()
        let compiler = try KernelCompiler()
        if kernelCheck {
            let outcomes = try ModelKernelSelfCheck.run(device: device, compiler: compiler)
            for o in outcomes { print("kernel-check \(o)") }
            guard outcomes.allSatisfy(\.passed) else {
                throw SkeletonError.invalidArgument("gpu-prefill --kernel-check failed: \(outcomes.filter { !$0.passed }.map(\.name).joined(separator: ", "))")
            }
        }
        let m = try ModelSession.loadModel(model)
        let ids = try ModelSession.window(m, text: try ModelSession.readText(text), textName: text, count: tokens, startChar: startChar)
        let t0 = ModelSession.now()
        let gpu = try GPULlamaPrefill(device: device, compiler: compiler, weights: m.weights, queryTile: queryTile, keyTile: 64)
        print("device: \(device.name) (\(device.arch)), driver \(device.driverVersionString); cuBLAS: \(gpu.cublasPath)")
        print("weights on the GPU: \(formatBytes(gpu.weights.byteCount)) (uploaded and kernels compiled in \(fixed(ModelSession.now() - t0, 2)) s)")
        for _ in 0..<warmup { _ = try gpu.prefill(tokens: ids, attention: mode) }
        var runs: [GPUPrefillResult] = []
        for _ in 0..<repeats { runs.append(try gpu.prefill(tokens: ids, attention: mode)) }
        let sorted = runs.sorted { $0.timings.totalMs < $1.timings.totalMs }
        let median = sorted[sorted.count / 2]
        let t = median.timings
        print("gpu-prefill \(mode.name), N = \(tokens), \(m.config.layers) layers, heads \(m.config.heads)/\(m.config.kvHeads), d \(m.config.headDim), tiles \(queryTile)x64")
        print("| attention | N | TTFT ms (median of \(repeats)) | min ms | attention kernel ms | estimation ms (host) | other ms | mean density |")
        print("|---|---|---|---|---|---|---|---|")
        print("| \(mode.name) | \(tokens) | \(fixed(t.totalMs, 2)) | \(fixed(sorted[0].timings.totalMs, 2)) | \(fixed(t.attentionMs, 2)) | \(fixed(t.estimationMs, 2)) | \(fixed(t.otherMs, 2)) | \(fixed(t.meanDensity, 4)) |")
        if check { try compare(gpu: gpu, model: m, ids: ids, result: median, target: target) }
    }

    /// CPU model on the same tokens with the same attention (dense, or the same estimator and
    /// tiles): relative L2 error of the last logits, argmax agreement, perplexity of both.
    func compare(gpu: GPULlamaPrefill, model m: LlamaModel, ids: [Int32], result: GPUPrefillResult, target: MaskTarget?) throws {
        let backend: AttentionBackend
        if let target {
            backend = try MaskedReferenceBackend(estimator: try EvalRunner.estimator(named: attention, skeleton: SkeletonEstimator()),
                                                 target: target, queryTile: queryTile, keyTile: 64)
        } else {
            backend = DenseReferenceBackend()
        }
        let cpu = try m.prefill(tokens: ids, attention: backend)
        let cpuLast = try m.logits(cpu, rows: (ids.count - 1)..<ids.count)
        let err = Self.relativeError(result.lastLogits, cpuLast)
        let agree = Self.argmax(result.lastLogits) == Self.argmax(cpuLast)
        let targets = Array(ids.dropFirst())
        let cpuLogProbs = try m.targetLogProbabilities(cpu, targets: targets)
        let gpuLogits = try gpu.logits(rows: 0..<targets.count)
        let v = m.config.vocabSize
        var gpuSum = 0.0
        for (r, tok) in targets.enumerated() {
            let row = gpuLogits[(r * v)..<((r + 1) * v)]
            let mx = Double(row.max() ?? 0)
            let lse = mx + Foundation.log(row.reduce(0.0) { $0 + Foundation.exp(Double($1) - mx) })
            gpuSum += Double(row[row.startIndex + Int(tok)]) - lse
        }
        let pplGPU = Foundation.exp(-gpuSum / Double(targets.count))
        let pplCPU = Foundation.exp(-cpuLogProbs.reduce(0, +) / Double(targets.count))
        print("check vs CPU model (\(backend.name)), N = \(ids.count): last-logits relative L2 error \(String(format: "%.3e", err)), argmax \(agree ? "agrees" : "DIFFERS"); perplexity GPU \(fixed(pplGPU, 4)) vs CPU \(fixed(pplCPU, 4)) (relative \(String(format: "%.2e", abs(pplGPU - pplCPU) / pplCPU)))")
        guard err.isFinite, err <= maxError else {
            throw SkeletonError.invalidArgument("gpu-prefill --check failed: relative error \(err) of the last logits exceeds \(maxError)")
        }
        print("check: PASS (≤ \(maxError))")
    }

    /// ‖a − b‖₂ / ‖b‖₂ in Double.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count, !b.isEmpty else { return .infinity }
        var num = 0.0, den = 0.0
        for i in 0..<a.count { let d = Double(a[i]) - Double(b[i]); num += d * d; den += Double(b[i]) * Double(b[i]) }
        return (num / max(den, 1e-300)).squareRoot()
    }

    static func argmax(_ a: [Float]) -> Int { a.indices.max { a[$0] < a[$1] } ?? -1 }
}

import ArgumentParser
import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel
import SparseSkeletonModelCUDA
import SparseSkeletonChecks

/// `skeleton gpu-prefill`: the real model's prefill on the GPU, dense against sparse attention:
/// time to first token (CUDA events, after warm-up runs) and its stages; with --check the last
/// position's logits (and the window's perplexity) against the CPU model.
struct GPUPrefill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-prefill",
        abstract: "Model prefill on the GPU (llama, gemma3): time to first token, dense vs sparse attention (--check: vs the CPU model).",
        discussion: """
        Weights are uploaded once (bf16 matrices, fp32 norms); products run in cuBLAS (dlopen; set \
        SKELETON_CUBLAS to its path if it is not found), attention in the block-sparse FlashAttention \
        kernel. `--attention skeleton` (the default sparse mode) estimates each layer's mask on the GPU \
        (GPUSkeletonEstimator) from the device Q/K on the prefill's stream, no host round trip; \
        `skeleton-cpu`, `minference`, `flexprefill`, `xattention`, `oracle` run a CPU estimator on Q/K \
        copied back each layer (the round trip is inside the reported time). TTFT = embedding to the \
        last position's logits, CUDA events, median of --repeats after an untimed recording pass (masks \
        read back per layer: densities, checks) and --warmup plain runs. --sweep times dense and the GPU \
        skeleton at every --epsilons and --densities target. --check runs the CPU model on the same \
        tokens — dense: dense reference; GPU skeleton: the CPU model fed the GPU's masks layer by layer \
        (like for like) — relative L2 error of the last logits ≤ --max-error, perplexity compared; \
        --estimator-check compares the GPU masks with the CPU reference estimator on the same bf16 Q/K. \
        Gemma-3: the sliding-window layers run the attention kernel's window (never estimated); the \
        sparse modes estimate the global layers only.
        """)

    @Option(help: "GGUF model file (llama or gemma3).") var model: String = ModelSession.defaultModel
    @Option(name: .customLong("pi"), help: "Linear position interpolation ×k (1, 2, 4) of the global layers' RoPE (gemma3), labelled PI ×k.") var positionInterpolation: Int = 1
    @Option(help: "Text: a path, or a name under data/texts.") var text: String = "pride_and_prejudice"
    @Option(help: "Prompt length N in tokens (BOS included).") var tokens: Int
    @Option(help: "dense | skeleton (GPU estimator) | skeleton-cpu | minference | flexprefill | xattention | oracle (CPU estimators)")
    var attention: String = "dense"
    @Flag(name: .customLong("lossy-utf8"), help: "Read a text that is not valid UTF-8, replacing invalid bytes with U+FFFD.") var lossyUTF8 = false
    @OptionGroup var progress: QuietOption
    @Option(help: "Device estimator of the GPU-estimated modes: skeleton or minference (density targets only).") var estimator = "skeleton"
    @Option(help: "Error bound ε of a sparse run (default 0.02 when neither --epsilon nor --density is given).") var epsilon: Double?
    @Option(help: "Budget density of a sparse run.") var density: Double?
    @Flag(help: "Run dense and the GPU skeleton at every --epsilons and --densities target (ignores --attention).") var sweep = false
    @Option(help: "Error bounds of --sweep.") var epsilons: String = "0.05,0.02"
    @Option(help: "Budget densities of --sweep (empty: none).") var densities: String = "0.3"
    @Option(name: .customLong("query-tile"), help: "Query tile of the masks and the kernel: 64 or 128 (key tile 64).") var queryTile: Int = 128
    @Option(name: .customLong("start-char"), help: "First character of the text taken.") var startChar: Int = 5000
    @Option(help: "Untimed plain warm-up runs after the recording pass.") var warmup: Int = 1
    @Option(help: "Timed runs; the table shows the median TTFT run.") var repeats: Int = 3
    @Flag(help: "Perplexity over the window of each mode (from the last timed run's activations), change vs dense.") var ppl = false
    @Flag(name: .customLong("per-layer"), help: "Print per-layer density, estimation and attention ms.") var perLayer = false
    @Flag(help: "Compare with the CPU model (use a small --tokens, e.g. 256 or 512).") var check = false
    @Option(name: .customLong("estimator-check"),
            help: "GPU-skeleton layers whose masks are compared with the CPU reference estimator on the same bf16 Q/K: all, none, or a list (default: all with --check, else none).")
    var estimatorCheck: String?
    @Flag(name: .customLong("kernel-check"), help: "First check every model kernel and the cuBLAS product against float64 on random inputs.")
    var kernelCheck = false
    @Flag(help: "Also run each GPU-estimated mode under the profitability gate (cost model measured in this run; dense where sparse would not pay). Needs the dense mode (--sweep has it).") var gate = false
    @Option(name: .customLong("gate-margin"), help: "The gate runs sparse only where estimate + sparse ≤ this × dense (predicted).") var gateMargin: Double = 0.95
    @Option(name: .customLong("max-error"), help: "--check fails above this relative error of the last logits.") var maxError: Double = 2e-2
    @Option(name: .customLong("reference-ppl"), help: "With --check: an independent reference's perplexity of the window (e.g. Hugging Face's); the dense GPU run fails beyond 0.5 % of it.")
    var referencePPL: Double?

    func modes() throws -> [(String, GPUAttentionMode)] {
        if sweep {
            var out: [(String, GPUAttentionMode)] = [("dense", .dense)]
            for e in try ModelSession.parseDoubles(epsilons, name: "--epsilons", .epsilon) {
                out.append(("skeleton-gpu ε=\(e)", .skeleton(try MaskTarget.errorBound(epsilon: e).validated())))
            }
            for d in try ModelSession.parseDoubles(densities, name: "--densities", .density) {
                out.append(("skeleton-gpu density \(d)", .skeleton(try MaskTarget.density(d).validated())))
            }
            return out
        }
        if attention == "dense" {
            guard epsilon == nil, density == nil else { throw SkeletonError.invalidArgument("--epsilon/--density need a sparse --attention") }
            return [("dense", .dense)]
        }
        let t = try ModelSession.target(epsilon: epsilon, density: density) ?? MaskTarget.recommended
        if attention == "skeleton" { return [("skeleton-gpu \(t)", .skeleton(t))] }
        let name = attention == "skeleton-cpu" ? "skeleton" : attention
        let estimator = try EstimatorRegistry.named(name)
        return [("\(name)-cpu \(t)", .hostEstimated(estimator, t))]
    }

    func run() throws {
        try OptionValues.require(.integer(tokens, "--tokens", 2...OptionValues.maxTokens), .integer(warmup, "--warmup", 0...1000),
                                 .integer(repeats, "--repeats", 1...1000), .integer(startChar, "--start-char", 0...Int.max),
                                 .real(epsilon, "--epsilon", .epsilon), .real(density, "--density", .density), .real(maxError, "--max-error", .positive),
                                 .real(referencePPL, "--reference-ppl", .positive))
        if referencePPL != nil, !check { throw SkeletonError.invalidArgument("--reference-ppl is compared by --check; add --check") }
        guard SkeletonError.supportedTileSizes.contains(queryTile) else { throw SkeletonError.unsupportedTileSize(queryTile) }
        let library = KernelLibrary(device: try GPUDevice(), compiler: try KernelCompiler())
        let modes = try GPUPrefillRun.modes(try modes(), estimator: estimator, library: library)
        if gate, !modes.contains(where: { if case .dense = $0.1 { return true } else { return false } }) {
            throw SkeletonError.invalidArgument("--gate measures dense attention first: use --sweep (dense and the GPU skeleton)")
        }
        let device = library.device
        if kernelCheck { try GPUPrefillRun.kernelCheck(library: library) }
        let m = try ModelSession.loadModel(model, positionInterpolation: positionInterpolation) { try $0.require(tokens: tokens, "--tokens") }
        let ids = try ModelSession.window(m, text: try ModelSession.readText(text, lossy: lossyUTF8), textName: text, count: tokens, startChar: startChar)
        let t0 = ModelSession.now()
        let gpu = try GPUModelPrefill(library: library, model: m, queryTile: queryTile, keyTile: 64)
        // only layers whose masks are estimated can be checked against the CPU estimator
        let layersToCheck = try GPUPrefillRun.estimatorCheckLayers(estimatorCheck ?? (check ? "all" : "none"), layers: m.config.layers)
            .intersection(gpu.estimatedLayers)
        print("device: \(device.name) (\(device.arch)), driver \(device.driverVersionString); cuBLAS: \(gpu.cublasPath)")
        let pi = m.config.positionInterpolation > 1 ? ", \(m.config.positionInterpolationLabel) on the global layers" : ""
        print("model: \(gpu.architecture)\(pi), estimated layers \(gpu.estimatedLayers.count == m.config.layers ? "all" : gpu.estimatedLayers.map(String.init).joined(separator: ","))")
        print("weights on the GPU: \(formatBytes(gpu.weightBytes)) (uploaded and kernels compiled in \(fixed(ModelSession.now() - t0, 2)) s)")
        fflush(stdout)
        var runner = GPUPrefillRun(tokens: tokens, queryTile: queryTile, warmup: warmup, repeats: repeats, ppl: ppl, perLayer: perLayer,
                                   check: check, maxError: maxError)
        runner.gate = gate; runner.gateMargin = gateMargin; runner.referencePerplexity = referencePPL
        let failures = try runner.run(gpu: gpu, model: m, ids: ids, modes: modes, layersToCheck: layersToCheck)
        guard failures.isEmpty else {
            throw SkeletonError.invalidArgument("gpu-prefill checks failed:\n  " + failures.joined(separator: "\n  "))
        }
    }
}

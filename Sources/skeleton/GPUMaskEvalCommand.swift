import ArgumentParser
import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel
import SparseSkeletonModelCUDA
import SparseSkeletonChecks

/// `skeleton gpu-mask-eval`: `mask-eval` on the GPU, on the real attention of Gemma-3's global
/// layers at lengths the CPU cannot score (16K–32K, and 64K–128K under PI ×k).
struct GPUMaskEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-mask-eval",
        abstract: "Score sparse-attention masks on Gemma-3's global layers on the GPU (exact masses, skeleton, MInference, oracle).",
        discussion: """
        One dense GPU prefill of the text window; after each chosen global layer's attention: the exact \
        attention mass of every (row, 64-key tile) from that pass's Q, K and row LSE (ExactTileMass; \
        nothing of size N² kept), then each estimator's knob swept on the layer's device Q/K — the GPU \
        skeleton at its default probe stride and at each --strides, GPU MInference, the oracle on the \
        exact masses, and any --cpu-estimators on the Q/K copied back — and scored as `mask-eval --frontier` \
        scores (tiles 64×64): per estimator the mean density for mean recall 0.90/0.95/0.99 (knob tuned \
        per head), the output error ‖O_sparse − O_dense‖/‖O_dense‖ of our sparse kernel on every row, \
        the worst and 5th-percentile row recall, and the skeleton's ε = 0.05 promise per head. \
        Beyond the model's context only with --pi (labelled PI ×k).
        """)

    @Option(help: "GGUF model file (gemma3).") var model: String
    @Option(name: .customLong("pi"), help: "Linear position interpolation ×k (1, 2, 4) of the global layers' RoPE, labelled PI ×k.") var positionInterpolation: Int = 1
    @Option(help: "Text: a path, or a name under the data directory's texts/.") var text: String
    @Option(help: "Window length N in tokens (BOS included).") var tokens: Int
    @Option(help: "Comma-separated global layers (default: every layer without a window).") var layers: String?
    @Option(help: "Fixed skeleton probe strides scored beside the default (empty: none).") var strides: String = "32,64,128"
    @Option(name: .customLong("cpu-estimators"), help: "CPU estimators also scored on the Q/K copied back (e.g. flexprefill,xattention; empty: none).")
    var cpuEstimators: String = ""
    @Option(name: .customLong("start-char"), help: "First character of the text taken.") var startChar: Int = 5000
    @Option(help: "Write the summary as markdown to this file.") var report: String?
    @Flag(name: .customLong("lossy-utf8"), help: "Read a text that is not valid UTF-8, replacing invalid bytes with U+FFFD.") var lossyUTF8 = false

    /// The CPU estimators named, refusing the names the GPU rows already use.
    func cpuEstimatorList() throws -> [any MaskEstimator] {
        let names = cpuEstimators.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return try names.map { name in
            guard !["skeleton", "minference", "oracle"].contains(name) else {
                throw SkeletonError.invalidArgument("--cpu-estimators: '\(name)' is scored on the GPU already (the CPU list takes e.g. flexprefill, xattention)")
            }
            return try EstimatorRegistry.named(name)
        }
    }

    func run() throws {
        try OptionValues.require(.integer(tokens, "--tokens", 2...OptionValues.maxTokens), .integer(startChar, "--start-char", 0...Int.max))
        let strideList = strides.isEmpty ? [] : try OptionValues.integers(strides, "--strides", in: 1...OptionValues.maxTokens)
        let cpu = try cpuEstimatorList()
        let requested = try layers.map { try OptionValues.integers($0, "--layers", in: 0...9999) }
        try AtomicOutput.check([report])
        var chosen: [Int] = []
        let m = try ModelSession.loadModel(model, positionInterpolation: positionInterpolation) { c in
            guard c.architecture == "gemma3" else {
                throw SkeletonError.invalidArgument("gpu-mask-eval scores Gemma-3's global layers; this model is \(c.architecture)")
            }
            try c.require(tokens: tokens, "--tokens")
            let global = (0..<c.layers).filter { c.spec(layer: $0).window == nil }
            chosen = requested ?? global
            try c.require(layers: chosen, "--layers")
            if let bad = chosen.first(where: { !global.contains($0) }) {
                throw SkeletonError.invalidArgument("--layers: layer \(bad) is sliding-window (\(c.spec(layer: bad))); the global layers are \(global.map(String.init).joined(separator: ","))")
            }
            guard !chosen.isEmpty, Set(chosen).count == chosen.count else { throw SkeletonError.invalidArgument("--layers must name each layer once") }
        }
        let session = try GPUArguments.session("gpu-mask-eval")
        let ids = try ModelSession.window(m, text: try ModelSession.readText(text, lossy: lossyUTF8), textName: text, count: tokens, startChar: startChar)
        let t0 = ModelSession.now()
        let gpu = try GPUModelPrefill(library: session.library, model: m, queryTile: 128, keyTile: 64)
        print("device: \(session.banner)")
        let eval = GPUMaskEvalRun(session: session, strides: strideList, cpuEstimators: cpu)
        try eval.run(prefill: gpu, tokens: ids, layers: chosen)
        try eval.requireFinite()
        let secs = ModelSession.now() - t0
        let name = URL(fileURLWithPath: text).deletingPathExtension().lastPathComponent
        let pi = m.config.positionInterpolation > 1 ? " \(m.config.positionInterpolationLabel)" : ""
        let title = "Summary: gemma3 \(name) N=\(tokens)\(pi), layers \(chosen.map(String.init).joined(separator: ",")), tile 64, output error on every row (GPU kernel), \(String(format: "%.0f", secs)) s"
        if let report { try AtomicOutput.write(eval.markdown(title: title), to: report) }
        print(eval.text(title: title), terminator: "")
        if let report { print("report: \(report)") }
    }
}

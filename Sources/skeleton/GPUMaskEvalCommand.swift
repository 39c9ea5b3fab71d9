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

    @Option(help: "GGUF model file (gemma3); with --text and --tokens.") var model: String?
    @Option(name: .customLong("pi"), help: "Linear position interpolation ×k (1, 2, 4) of the global layers' RoPE, labelled PI ×k.") var positionInterpolation: Int = 1
    @Option(help: "Text: a path, or a name under the data directory's texts/.") var text: String?
    @Option(help: "Window length N in tokens (BOS included).") var tokens: Int?
    @Option(help: "Instead of the model: a capture folder (skeleton capture: layerLL_{q,k,v}.npy, meta.json, COMPLETE), scored with the softmax scale 1/√d as mask-eval scores it.") var dir: String?
    @Flag(name: .customLong("compare-cpu"), help: "With --dir: also run mask-eval's CPU frontier on each layer (same 16-bit inputs) and compare figure by figure; exit 1 on a disagreement.") var compareCPU = false
    @Option(help: "Comma-separated layers (default: every global layer of the model, every layer of --dir).") var layers: String?
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
        do { try execute() } catch let e as SkeletonError {
            FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
            throw ExitCode.failure
        }
    }

    func execute() throws {
        try OptionValues.require(.integer(startChar, "--start-char", 0...Int.max))
        let strideList = strides.isEmpty ? [] : try OptionValues.integers(strides, "--strides", in: 2...OptionValues.maxTokens)
        let cpu = try cpuEstimatorList()
        let requested = try layers.map { try OptionValues.integers($0, "--layers", in: 0...9999) }
        guard requested.map({ !$0.isEmpty && Set($0).count == $0.count }) ?? true else { throw SkeletonError.invalidArgument("--layers must name each layer once") }
        try AtomicOutput.check([report])
        if let dir {
            guard model == nil, text == nil, tokens == nil, positionInterpolation == 1 else {
                throw SkeletonError.invalidArgument("--dir scores a capture: give no --model, --text, --tokens or --pi with it")
            }
            return try runCapture(dir, layers: requested, strides: strideList, cpu: cpu)
        }
        guard !compareCPU else { throw SkeletonError.invalidArgument("--compare-cpu needs --dir (the CPU's exact pass of a model window is mask-eval on its capture)") }
        guard let model, let text, let tokens else { throw SkeletonError.invalidArgument("give --model, --text and --tokens (or --dir with a capture)") }
        try OptionValues.require(.integer(tokens, "--tokens", 2...OptionValues.maxTokens))
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
            guard !chosen.isEmpty else { throw SkeletonError.invalidArgument("the model has no global layer to score") }
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
        try finish(eval, title: title)
    }

    func finish(_ eval: GPUMaskEvalRun, title: String) throws {
        if let report { try AtomicOutput.write(eval.markdown(title: title), to: report) }
        print(eval.text(title: title), terminator: "")
        if let report { print("report: \(report)") }
    }

    /// A capture's layers, each uploaded and run dense here, then scored as the tapped layers are.
    func runCapture(_ dir: String, layers requested: [Int]?, strides: [Int], cpu: [any MaskEstimator]) throws {
        let path = DataDirectory.isDirectory(dir) ? dir : try DataDirectory.locate(dir, folder: "capture")
        let capture = try CapturedLayers(directory: path)
        let stems = try capture.layerStems(only: requested)
        let numbers = try stems.map { stem -> Int in
            guard let l = Int(stem.dropFirst("layer".count)) else { throw SkeletonError.invalidArgument("\(path): layer file stem '\(stem)' names no layer number") }
            if let specs = capture.manifest?.layerSpecs, let line = specs.first(where: { $0.hasPrefix("layer \(l):") }), line.contains("window") {
                throw SkeletonError.invalidArgument("\(path): layer \(l) is sliding-window (\(line)); gpu-mask-eval scores layers of full causal attention")
            }
            return l
        }
        let session = try GPUArguments.session("gpu-mask-eval")
        print("device: \(session.banner)")
        let t0 = ModelSession.now()
        let eval = GPUMaskEvalRun(session: session, strides: strides, cpuEstimators: cpu)
        var disagreements = 0
        for (stem, l) in zip(stems, numbers) {
            let x = try capture.inputs(stem, values: .qkv)
            if compareCPU {
                let r = try GPUMaskEvalAgreement.run(inputs: x, layer: l, session: session, log: eval.log)
                print(r.cpu.table(title: "mask-eval (CPU frontier) \(stem)"), terminator: "")
                print(r.gpu.table(title: "gpu-mask-eval \(stem)"), terminator: "")
                print("\(stem): " + r.text, terminator: "")
                disagreements += r.failed.count + (r.figures.isEmpty ? 1 : 0)
            } else {
                try eval.evaluate(inputs: x, layer: l)
            }
        }
        if compareCPU {
            print("compare-cpu: \(disagreements == 0 ? "agree" : "DISAGREE (\(disagreements) figures)") on \(stems.count) layer(s)")
            if disagreements > 0 { throw ExitCode.failure }
            return
        }
        try eval.requireFinite()
        let n = capture.manifest?.tokens ?? 0
        let title = "Summary: capture \(URL(fileURLWithPath: path).lastPathComponent) N=\(n), layers \(numbers.map(String.init).joined(separator: ",")), tile 64, output error on every row (GPU kernel), \(String(format: "%.0f", ModelSession.now() - t0)) s"
        try finish(eval, title: title)
    }
}

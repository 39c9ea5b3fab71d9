import ArgumentParser
import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel
import SparseSkeletonModelCUDA
import SparseSkeletonChecks

/// `skeleton gpu-tasks`: long-context retrieval tasks and perplexity on the GPU prefill, dense
/// against the GPU skeleton at several targets.
struct GPUTasks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-tasks",
        abstract: "Long-context tasks on the GPU: needle, multi-key needle, key-value retrieval (greedy, exact) and perplexity, dense vs sparse.",
        discussion: """
        Prompts are seeded (--seed) and written by the repo's code: needle — a seven-digit number in a \
        sentence at each depth of --haystack; multikey — --needles such sentences with distinct two-word \
        keys, the one asked at the depth; kv — a JSON object of random UUID pairs filling the prompt (∞Bench's \
        kv_retrieval), the pair asked at the depth of the pairs. A prompt of length L has at most L − 64 \
        tokens, the rest kept for the answer. Greedy decoding runs a full prefill of prompt + answer so far \
        per token (the GPU prefill has no K/V cache), in the same attention mode; an answer is exact when, \
        after leading spaces, one colon and an opening quote, it begins with the expected text and does not \
        continue it. Modes: dense, the GPU skeleton at every --epsilons and --densities target (global layers \
        estimated; sliding-window layers run their window), and each --baselines estimator at every \
        --densities target. --ppl-texts: perplexity of each text's window at every --ppl-lengths, every mode.
        """)

    @Option(help: "GGUF model file (llama or gemma3).") var model: String = ModelSession.defaultModel
    @Option(name: .customLong("pi"), help: "Linear position interpolation ×k (1, 2, 4) of the global layers' RoPE (gemma3), labelled PI ×k.") var positionInterpolation: Int = 1
    @Option(help: "Prompt lengths L (K = 1024), each prompt ≤ L − 64 tokens.") var lengths: String = "8K,16K,32K"
    @Option(help: "Tasks: needle, multikey, kv (comma-separated; empty: none).") var tasks: String = "needle,multikey,kv"
    @Option(help: "Depths in percent of the asked item.") var depths: String = "10,50,90"
    @Option(help: "Seed of the prompts.") var seed: UInt64 = 1
    @Option(help: "Needles of the multi-key task (one asked).") var needles: Int = 4
    @Option(help: "Filler text of the needle tasks: a path, or a name under data/texts.") var haystack: String = "paul_graham_essays"
    @Option(help: "Error bounds of the GPU skeleton modes.") var epsilons: String = "0.02,0.05"
    @Option(help: "Budget densities of the GPU skeleton modes and the baselines (empty: none).") var densities: String = "0.1"
    @Option(help: "Baseline estimators, each at every --densities value: minference (on the GPU), flexprefill, xattention (on the host CPU: Q/K of each global layer copied back per prefill). Empty: none.")
    var baselines: String = ""
    @Option(name: .customLong("ppl-texts"), help: "Texts whose perplexity is measured (paths or names; empty: none).") var pplTexts: String = ""
    @Option(name: .customLong("ppl-lengths"), help: "Window lengths of the perplexity runs.") var pplLengths: String = "32K"
    @Option(name: .customLong("start-char"), help: "First character of each perplexity text taken.") var startChar: Int = 5000
    @Flag(name: .customLong("kernel-check"), help: "First check every model kernel and the cuBLAS product against float64 on random inputs.")
    var kernelCheck = false
    @Option(help: "Also write the tables as markdown to this file.") var report: String?
    @Flag(name: .customLong("lossy-utf8"), help: "Read texts that are not valid UTF-8, replacing invalid bytes with U+FFFD.") var lossyUTF8 = false

    func run() throws {
        let lengthList = try lengths.isEmpty ? [] : GPUArguments.lengths(lengths, "--lengths")
        let pplList = try pplLengths.isEmpty ? [] : GPUArguments.lengths(pplLengths, "--ppl-lengths")
        let taskList = try tasks.split(separator: ",").map { name -> GPUTasksRun.Task in
            guard let t = GPUTasksRun.Task(rawValue: String(name).trimmingCharacters(in: .whitespaces)) else {
                throw SkeletonError.invalidArgument("--tasks: unknown task '\(name)'; tasks are \(GPUTasksRun.Task.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return t
        }
        let depthList = try ModelSession.parseInts(depths, name: "--depths", in: 0...100)
        let minimum = 4 * GPUTasksRun.answerRoom
        if let short = lengthList.first(where: { $0 < minimum }) {
            throw SkeletonError.invalidArgument("--lengths \(short) is too short for a task prompt (at least \(minimum))")
        }
        try OptionValues.require(.integer(needles, "--needles", 1...64), .integer(startChar, "--start-char", 0...Int.max))
        try AtomicOutput.check([report])
        let textNames = pplTexts.split(separator: ",").map(String.init)
        guard !(taskList.isEmpty || lengthList.isEmpty) || !(textNames.isEmpty || pplList.isEmpty) else {
            throw SkeletonError.invalidArgument("nothing to run: give --tasks and --lengths, or --ppl-texts and --ppl-lengths")
        }
        let densityList = try densities.isEmpty ? [] : ModelSession.parseDoubles(densities, name: "--densities", .density)
        let baselineNames = try Self.baselineNames(baselines, densities: densityList)
        // the model's context bounds every length (checked from the GGUF header, before any weight or the GPU)
        let m = try ModelSession.loadModel(model, positionInterpolation: positionInterpolation) { c in
            if let l = lengthList.max() { try c.require(tokens: l, "--lengths") }
            if let l = pplList.max() { try c.require(tokens: l, "--ppl-lengths") }
        }
        var modes: [(String, GPUAttentionMode)] = [("dense", .dense)]
        for e in try ModelSession.parseDoubles(epsilons, name: "--epsilons", .epsilon) {
            modes.append(("ε=\(e)", .skeleton(try MaskTarget.errorBound(epsilon: e).validated())))
        }
        for d in densityList {
            modes.append(("density \(d)", .skeleton(try MaskTarget.density(d).validated())))
        }
        let texts = try textNames.map { (URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent, try ModelSession.readText($0, lossy: lossyUTF8)) }
        let run = GPUTasksRun(lengths: taskList.isEmpty ? [] : lengthList, tasks: taskList, depths: depthList, seed: seed, needles: needles,
                              pplLengths: pplList, startChar: startChar)

        // prompts first (CPU only), so a bad haystack or length fails before the GPU starts
        var prompts: [(length: Int, prompt: RetrievalPrompt)] = []
        var hay: [Int32] = []
        if !run.lengths.isEmpty {
            let t0 = ModelSession.now()
            hay = try Haystack.tokens(try ModelSession.readText(haystack, lossy: lossyUTF8), name: haystack, tokenizer: m.tokenizer,
                                      count: run.lengths.max()!)
            prompts = try run.prompts(tokenizer: m.tokenizer, hay: hay)
            ModelSession.log("\(prompts.count) prompts written in \(fixed(ModelSession.now() - t0, 1)) s")
        }

        let library = KernelLibrary(device: try GPUDevice(), compiler: try KernelCompiler())
        if kernelCheck { try GPUPrefillRun.kernelCheck(library: library) }
        let gpu = try GPUModelPrefill(library: library, model: m, queryTile: 128, keyTile: 64)
        for name in baselineNames {
            for d in densityList {
                let t = try MaskTarget.density(d).validated()
                modes.append(name == "minference" ? ("minference-gpu density \(d)", .deviceEstimated(GPUMInferenceEstimator(library: library), t))
                                                  : ("\(name)-cpu density \(d)", .hostEstimated(try EstimatorRegistry.named(name), t)))
            }
        }
        print("device: \(library.device.name) (\(library.device.arch)), driver \(library.device.driverVersionString); cuBLAS: \(gpu.cublasPath)")
        print("model: \(ModelSession.label(m, path: model)), \(gpu.architecture), estimated layers \(gpu.estimatedLayers.map(String.init).joined(separator: ","))")
        if hay.count >= 2048 {
            try GPUTasksRun.reuseCheck(gpu: gpu, short: [m.tokenizer.bosID ?? 1] + Array(hay[0..<999]),
                                       long: [m.tokenizer.bosID ?? 1] + Array(hay[0..<2047]))
        }
        // perplexity first (the issue's 32K figure), then the tasks; an error in the tasks still prints the prompts done
        let t0 = ModelSession.now()
        let ppl = try run.perplexity(gpu: gpu, model: m, texts: texts, modes: modes)
        let t1 = ModelSession.now()
        var answers: [[GPUTasksRun.Answer]] = []
        var failure: Error?
        do { try run.retrieval(gpu: gpu, model: m, prompts: prompts, modes: modes, into: &answers) } catch { failure = error }
        ModelSession.log("perplexity \(fixed(t1 - t0, 1)) s, retrieval \(fixed(ModelSession.now() - t1, 1)) s")
        let done = Array(prompts.prefix(answers.count))
        let header = "gpu-tasks \(ModelSession.label(m, path: model)), seed \(seed), haystack \(haystack), greedy by re-prefill, modes "
            + modes.map(\.0).joined(separator: ", ") + " (masks on the global layers only)"
        print("")
        try ModelSession.emit(header: header, lines: run.tables(prompts: done, answers: answers, modes: modes.map(\.0), perplexity: ppl), report: report)
        if let failure {
            throw SkeletonError.invalidArgument("gpu-tasks stopped after \(answers.count) of \(prompts.count) prompts: \(failure)")
        }
    }

    /// The --baselines names, checked before the model or the GPU: every registered estimator but the skeleton (its
    /// GPU modes run already) and the oracle (a dense pass on the host per prefill), at a density target.
    static func baselineNames(_ list: String, densities: [Double]) throws -> [String] {
        let known = EstimatorRegistry.names.filter { $0 != "skeleton" && $0 != "oracle" }
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for n in names where !known.contains(n) {
            throw SkeletonError.invalidArgument("--baselines: unknown baseline '\(n)'; baselines are \(known.joined(separator: ", "))")
        }
        if !names.isEmpty, densities.isEmpty { throw SkeletonError.invalidArgument("--baselines run at the --densities targets: give --densities") }
        return names
    }
}

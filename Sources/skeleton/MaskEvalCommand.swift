import ArgumentParser
import Dispatch
import Foundation
import SparseSkeleton

/// `skeleton mask-eval`: every estimator over a sweep of targets on real or generated Q/K/V, scored
/// against exact attention (recall of attention mass, output error, density, estimation time).
struct MaskEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mask-eval",
        abstract: "Evaluate sparse-attention masks (skeleton, baselines, oracle) against exact attention.",
        discussion: """
        Inputs: --q/--k[/--v] .npy files [N, heads, headDim] (or .safetensors with --layer); or --dir with captured layerLL_{q,k,v}.npy files \
        (per-layer and overall rows); or the generator (--tokens --heads --kv-heads --head-dim --seed). \
        It ends with the summary: per estimator, the mean density needed for mean recall 0.90/0.95/0.99 (knob \
        tuned per head), output error and worst-row recall at 0.95, the skeleton's density over each one's, and a \
        verdict. The per-layer table of the --epsilons/--densities targets goes to --report, --json and --verbose; \
        --frontier skips it. --plots DIR draws the frontier and one typical head. --dir NAME looks in the data \
        directory's capture/ when NAME is not a folder here.

        Estimators:
        \(EstimatorRegistry.helpText)
        """)

    @Option(help: "Query tensor (.npy or .safetensors, [N, heads, headDim]).") var q: String?
    @Option(help: "Key tensor (.npy or .safetensors, [N, kvHeads, headDim]).") var k: String?
    @Option(help: "Value tensor; without it no output error is reported.") var v: String?
    @Option(help: "Layer of a .safetensors file (tensors layer{L}.q / .k / .v).") var layer: Int?
    @Option(help: "Directory of captured layers (layerLL_q.npy, layerLL_k.npy, layerLL_v.npy).") var dir: String?
    @Option(help: "Comma-separated layer numbers to take from --dir (default: all).") var layers: String?
    @Option(help: "Generated sequence length.") var tokens: Int = 4096
    @Option(help: "Generated query heads.") var heads: Int = 9
    @Option(name: .customLong("kv-heads"), help: "Generated KV heads.") var kvHeads: Int = 3
    @Option(name: .customLong("head-dim"), help: "Generated head dim.") var headDim: Int = 64
    @Option(help: "Generator seed.") var seed: UInt64 = 1
    @Option(help: "\(EstimatorRegistry.choices) | all, or a comma list") var estimator: String = "all"
    @Option(help: "Tile size 64 or 128 (query and key).") var tile: Int = 64
    @Option(help: "Comma-separated error bounds ε.") var epsilons: String = "0.02,0.05,0.1"
    @Option(help: "Comma-separated densities for budget mode.") var densities: String = "0.1,0.2,0.3"
    @Flag(help: "Print JSON (summary and per-layer rows) instead of the text.") var json = false
    @Flag(help: "Only the frontier summary: skip the per-target table.") var frontier = false
    @Flag(help: "Also print the per-layer table of the targets.") var verbose = false
    @Option(help: "Write the summary and the per-layer table as markdown to this file.") var report: String?
    @Option(help: "Folder for the pictures: frontier.png and one head's attention, estimate and kept tiles.") var plots: String?
    @OptionGroup var progress: QuietOption
    @Option(help: "PNG of one head: true attention (log), skeleton estimate, kept tiles.") var png: String?
    @Option(help: "Head drawn by --png.") var head: Int = 0
    @Flag(name: .customLong("share-group"), help: "Skeleton: one mask per KV group (union).") var shareGroup = false
    @Option(name: .customLong("probe-stride"), help: "Skeleton: one fit and one check probe row every this many rows.") var probeStride: Int = 32
    @Option(name: .customLong("last-rows"), help: "Skeleton: exact probe rows at the end of the sequence.") var lastRows: Int = 64
    @Option(name: .customLong("local-weight"), help: "Skeleton: weight α of the probes' own tile masses in [0, 1].") var localWeight: Double = 0.75
    @Option(name: .customLong("ratio-power"), help: "Skeleton: γ of the probe ratio correction (0 = off).") var ratioPower: Double = 0
    @Option(name: .customLong("ratio-floor"), help: "Skeleton: floor λ of the ratio correction (× 1/row length).") var ratioFloor: Double = 0.5
    @Option(name: .customLong("confidence-z"), help: "Skeleton: z of the calibration's lower confidence bound, in (0, 10].") var confidenceZ: Double = 1.645
    @Option(name: .customLong("band"), help: "Skeleton: row-exact local band in tokens, always kept (0 = only the diagonal tile).") var band: Int = SkeletonParameters().alwaysKeep.bandTokens
    @Option(name: .customLong("tail-quantile"), help: "Skeleton: tail calibration, the fraction of check rows allowed below 1 − tail-scale·ε (negative = off).") var tailQuantile: Double = SkeletonParameters().tailQuantile ?? -1
    @Option(name: .customLong("tail-scale"), help: "Skeleton: the tail calibration's floor is 1 − this · ε.") var tailScale: Double = SkeletonParameters().tailScale
    @Flag(name: .customLong("match-skeleton"), help: "Per-layer table: every other estimator also at the skeleton's density of each ε target.") var matchSkeleton = false
    @Option(name: .customLong("output-row-stride"), help: "Output error on every this-many-th row only (memory N/k·(N/tile)·d floats per head; recall stays on every row).") var outputRowStride: Int = 1
    @Flag(name: .customLong("mean-correction"), help: "Per-layer table: also the skeleton's and the oracle's output error after the mean correction of the dropped tiles (err+mc).") var meanCorrection = false

    /// The skeleton's knobs from its options (the other estimators run with their defaults).
    var skeletonParameters: SkeletonParameters {
        var p = SkeletonParameters()
        p.shareGroupMask = shareGroup
        p.fixedStride = probeStride; p.lastRows = lastRows
        p.localWeight = localWeight; p.confidenceZ = confidenceZ
        p.ratioPower = ratioPower; p.ratioFloor = ratioFloor
        p.alwaysKeep.bandTokens = band
        p.tailQuantile = tailQuantile < 0 ? nil : tailQuantile; p.tailScale = tailScale
        return p
    }

    func run() throws {
        do { try execute() } catch let e as SkeletonError {
            FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
            throw ExitCode.failure
        }
    }

    func validate() throws {
        try OptionValues.require(.integer(tokens, "--tokens", 1...OptionValues.maxTokens), .integer(heads, "--heads", 1...1024),
                                 .integer(kvHeads, "--kv-heads", 1...1024), .integer(headDim, "--head-dim", 1...1024), .integer(layer, "--layer", 0...9999),
                                 .integer(head, "--head", 0...1023), .integer(outputRowStride, "--output-row-stride", 1...OptionValues.maxTokens), .integer(probeStride, "--probe-stride", 1...OptionValues.maxTokens),
                                 .integer(lastRows, "--last-rows", 0...OptionValues.maxTokens), .real(localWeight, "--local-weight", .unit),
                                 .real(ratioPower, "--ratio-power", .init(0, 16, lowerOpen: false, upperOpen: false)),
                                 .real(ratioFloor, "--ratio-floor", .nonNegative), .real(confidenceZ, "--confidence-z", .confidenceZ),
                                 .integer(band, "--band", 0...OptionValues.maxTokens), .real(tailScale, "--tail-scale", .positive))
        if !(tailQuantile < 0) { try OptionValues.require(.real(tailQuantile, "--tail-quantile", .unit)) }  // NaN is checked, not "off"
        try OptionValues.requireProduct([tokens, heads, headDim], "--tokens × --heads × --head-dim")
    }

    func source() throws -> LayerSource {
        if let dir {
            let only = try layers.map { try OptionValues.integers($0, "--layers", in: 0...9999) }
            let path = DataDirectory.isDirectory(dir) ? dir : try DataDirectory.locate(dir, folder: "capture")
            return .directory(try CapturedLayers(directory: path), layers: only)
        }
        if q != nil || k != nil {
            guard let q, let k else { throw SkeletonError.invalidArgument("--q and --k must be given together") }
            AtomicOutput.protect([q, k, v])
            return .files(q: q, k: k, v: v, layer: layer)
        }
        guard tokens > 0 else { throw SkeletonError.emptySequence("--tokens") }
        return .generated(tokens: tokens, heads: heads, kvHeads: kvHeads, headDim: headDim, seed: seed)
    }

    func execute() throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let skeleton = SkeletonEstimator(parameters: skeletonParameters)
        let names = estimator == "all" ? EstimatorRegistry.names : estimator.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let estimators: [any MaskEstimator] = try names.map { name in
            let e = try EstimatorRegistry.named(name)
            return e is SkeletonEstimator ? skeleton : e
        }
        guard SkeletonError.supportedTileSizes.contains(tile) else { throw SkeletonError.unsupportedTileSize(tile) }
        let targets = try OptionValues.reals(epsilons, "--epsilons", .epsilon).map { MaskTarget.errorBound(epsilon: $0) }
            + OptionValues.reals(densities, "--densities", .density).map { MaskTarget.density($0) }
        let src = try source()
        try AtomicOutput.check([report, png, plots.map { $0 + "/frontier.png" }])
        let layerNames = try src.layerNames()

        var f = FrontierRunner(estimators: estimators, geometryTile: tile)
        f.outputRowStride = outputRowStride
        var rows: [EvalRow] = []
        let bar = ProgressReporter(label: "mask-eval", total: layerNames.count, unit: "layers")
        for (i, name) in layerNames.enumerated() {
            let layer = try src.load(name)
            var truths: [AttentionTruth]? = nil
            if !frontier { let (r, t) = try EvalRunner.run(layer: layer, estimators: estimators, targets: targets, tile: tile,
                                                                                matchSkeleton: matchSkeleton, meanCorrection: meanCorrection,
                                                                                outputRowStride: outputRowStride); rows += r; truths = t }
            try f.run(layer: name, inputs: layer.inputs, truths: truths)
            if let png, i == 0 { try AttentionPlot.write(inputs: layer.inputs, head: head, tile: tile, skeleton: skeleton, path: png) }
            bar.update(done: i + 1)
        }
        bar.finish()
        if layerNames.count > 1 { rows += EvalRunner.overall(rows) }
        let summary = f.summary
        try EvalRunner.requireFinite(rows, summary)
        let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let sampledRows = outputRowStride > 1 ? ", output error on every \(outputRowStride)th row" : ""
        let title = "Summary: \(dir ?? q ?? "generated"), \(layerNames.count) layer(s), tile \(tile)\(sampledRows), \(String(format: "%.0f", secs)) s"
        let pictures = try plots.map { try MaskEvalPlots.write(folder: $0, summary: summary, frontier: f, source: src, tile: tile, skeleton: skeleton) } ?? []
        if let report {
            try AtomicOutput.write(summary.markdown(title: title) + (rows.isEmpty ? "" : "\n### Per layer and target\n\n```\n" + EvalRunner.table(rows) + "```\n"), to: report)
        }
        if json {
            let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(MaskEvalJSON(recalls: summary.recalls, curveRecalls: f.curveRecalls, frontier: summary.rows, verdict: summary.verdict, rows: rows)), as: UTF8.self))
            return
        }
        if verbose { print(EvalRunner.table(rows)) }
        print(summary.table(title: title), terminator: "")
        print(summary.verdict)
        if let report { print("report: \(report)") }
        pictures.forEach { print($0) }
    }
}

struct MaskEvalJSON: Encodable {
    /// What each row's `density`/`outputError`/`worstRow` entries and its `curve` entries are at.
    let recalls: [Double], curveRecalls: [Double]
    let frontier: [FrontierSummary.Row]
    let verdict: String
    let rows: [EvalRow]
}

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
        --frontier prints, per estimator, the mean density needed for mean recall 0.90/0.95/0.99 (knob tuned per head).

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
    @Flag(help: "Print JSON instead of the table.") var json = false
    @Flag(help: "Frontier mode: density for recall 0.90/0.95/0.99 per estimator (knobs tuned per head).") var frontier = false
    @Option(help: "Write a markdown report of the frontier to this file.") var report: String?
    @Option(help: "PNG of one head: true attention (log), skeleton estimate, kept tiles.") var png: String?
    @Option(help: "Head drawn by --png.") var head: Int = 0
    @Flag(name: .customLong("share-group"), help: "Skeleton: one mask per KV group (union).") var shareGroup = false
    @Option(name: .customLong("probe-stride"), help: "Skeleton: one fit and one check probe row every this many rows.") var probeStride: Int = 32
    @Option(name: .customLong("last-rows"), help: "Skeleton: exact probe rows at the end of the sequence.") var lastRows: Int = 64
    @Option(name: .customLong("local-weight"), help: "Skeleton: weight α of the probes' own tile masses in [0, 1].") var localWeight: Double = 0.75
    @Option(name: .customLong("ratio-power"), help: "Skeleton: γ of the probe ratio correction (0 = off).") var ratioPower: Double = 0
    @Option(name: .customLong("ratio-floor"), help: "Skeleton: floor λ of the ratio correction (× 1/row length).") var ratioFloor: Double = 0.5
    @Option(name: .customLong("confidence-z"), help: "Skeleton: z of the calibration's lower confidence bound (0 = mean).") var confidenceZ: Double = 1.645

    /// The skeleton's knobs from its options (the other estimators run with their defaults).
    var skeletonParameters: SkeletonParameters {
        var p = SkeletonParameters()
        p.shareGroupMask = shareGroup
        p.fixedStride = probeStride; p.lastRows = lastRows
        p.localWeight = localWeight; p.confidenceZ = confidenceZ
        p.ratioPower = ratioPower; p.ratioFloor = ratioFloor
        return p
    }

    func run() throws {
        do { try execute() } catch let e as SkeletonError {
            FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
            throw ExitCode.failure
        }
    }

    static func parseList(_ s: String, what: String) throws -> [Double] {
        let parts = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return try parts.map { p in
            guard let x = Double(p) else { throw SkeletonError.invalidArgument("\(what) '\(p)' is not a number") }
            return x
        }
    }

    func source() throws -> LayerSource {
        if let dir {
            let only = try layers.map { try Self.parseList($0, what: "layer").map { Int($0) } }
            return .directory(dir, layers: only)
        }
        if q != nil || k != nil {
            guard let q, let k else { throw SkeletonError.invalidArgument("--q and --k must be given together") }
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
        let targets = try Self.parseList(epsilons, what: "epsilon").map { try MaskTarget.errorBound(epsilon: $0).validated() }
            + Self.parseList(densities, what: "density").map { try MaskTarget.density($0).validated() }
        let src = try source()
        let layerNames = try src.layerNames()

        if frontier {
            var f = FrontierRunner(estimators: estimators, recalls: [0.9, 0.95, 0.99], geometryTile: tile)
            for name in layerNames {
                let layer = try src.load(name)
                try f.run(layer: layer)
                FileHandle.standardError.write(Data("  \(name) done (\(String(format: "%.0f", Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)) s)\n".utf8))
            }
            let text = f.report(title: "Frontier: \(dir ?? q ?? "generated"), \(layerNames.count) layer(s), tile \(tile)")
            print(text)
            if let report { try text.write(toFile: report, atomically: true, encoding: .utf8) }
        } else {
            var rows: [EvalRow] = []
            for name in layerNames {
                let layer = try src.load(name)
                rows += try EvalRunner.run(layer: layer, estimators: estimators, targets: targets, tile: tile)
                if let png, name == layerNames[0] {
                    try AttentionPlot.write(inputs: layer.inputs, head: head, tile: tile, skeleton: skeleton, path: png)
                }
            }
            if layerNames.count > 1 { rows += EvalRunner.overall(rows) }
            if json {
                let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try enc.encode(rows), as: UTF8.self))
            } else {
                print(EvalRunner.table(rows), terminator: "")
            }
        }
        let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        fflush(stdout)  // the table first: stdout is buffered, stderr is not
        FileHandle.standardError.write(Data(String(format: "mask-eval: %d layer(s), elapsed %.1f s\n", layerNames.count, secs).utf8))
    }
}

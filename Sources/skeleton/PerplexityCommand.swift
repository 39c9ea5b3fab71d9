import ArgumentParser
import Foundation
import SparseSkeleton
import SparseSkeletonModel

/// `skeleton ppl`: perplexity of the real model on one window of a long text, dense against
/// sparse attention (error-bound and budget targets), with the density each layer used.
struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppl",
        abstract: "Perplexity over a long text at a given context: dense vs sparse attention, with per-layer density.",
        discussion: EstimatorRegistry.attentionDiscussion("""
        The window is BOS then the text's tokens from --start-char on (N tokens in all); one forward pass, \
        no sliding. Dense runs first as the baseline. --attention picks the mask estimator with --epsilon \
        (error bound) or --density (budget); --sweep runs ε ∈ --epsilons and densities ∈ --densities in one go.
        """))

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Text: a path, or a name under the data directory's texts/.") var text: String = "pride_and_prejudice"
    @Option(help: "Context length N in tokens (BOS included).") var context: Int
    @Option(help: "dense | \(EstimatorRegistry.choices)") var attention: String = "dense"
    @Option(help: "Error bound ε for the sparse run (default 0.02 when neither --epsilon nor --density is given).") var epsilon: Double?
    @Option(help: "Budget density for the sparse run.") var density: Double?
    @Flag(help: "Sweep every ε of --epsilons and every density of --densities.") var sweep = false
    @Option(help: "ε values for --sweep.") var epsilons: String = "0.01,0.02,0.05,0.1"
    @Option(help: "Densities for --sweep.") var densities: String = "0.5,0.3,0.2,0.1"
    @Option(help: "Tile size (query and key) of the masks: 64 or 128.") var tile: Int = 64
    @Option(name: .customLong("start-char"), help: "First character of the text taken.") var startChar: Int = 5000
    @Flag(name: .customLong("per-layer"), help: "Print every layer's density.") var perLayer = false
    @Option(help: "Also write the table as markdown to this file.") var report: String?
    @Flag(name: .customLong("lossy-utf8"), help: "Read a text that is not valid UTF-8, replacing invalid bytes with U+FFFD.") var lossyUTF8 = false
    @Flag(name: .customLong("mean-correction"), help: "Skeleton: also run each target with the dropped tiles added back at zeroth order (its tile masses × the tiles' mean V).") var meanCorrection = false
    @OptionGroup var progress: QuietOption

    func run() throws {
        try OptionValues.require(.integer(context, "--context", 2...OptionValues.maxTokens), .integer(startChar, "--start-char", 0...Int.max),
                                 .real(epsilon, "--epsilon", .epsilon), .real(density, "--density", .density))
        guard SkeletonError.supportedTileSizes.contains(tile) else { throw SkeletonError.unsupportedTileSize(tile) }
        var targets: [MaskTarget] = []
        if sweep {
            guard attention != "dense" else { throw SkeletonError.invalidArgument("--sweep needs a sparse --attention (e.g. skeleton)") }
            targets += try ModelSession.parseDoubles(epsilons, name: "--epsilons", .epsilon).map { MaskTarget.errorBound(epsilon: $0) }
            targets += try ModelSession.parseDoubles(densities, name: "--densities", .density).map { MaskTarget.density($0) }
        } else if let t = try ModelSession.target(epsilon: epsilon, density: density) {
            guard attention != "dense" else { throw SkeletonError.invalidArgument("--epsilon/--density need a sparse --attention") }
            targets = [t]
        } else if attention != "dense" {
            targets = [.recommended]
        }
        // Validate the estimator name before the long load.
        if attention != "dense" { _ = try EstimatorRegistry.named(attention) }

        let m = try modelOptions.load { try $0.require(tokens: context, "--context") }
        let ids = try ModelSession.window(m, text: try ModelSession.readText(text, lossy: lossyUTF8), textName: text, count: context, startChar: startChar)
        try AtomicOutput.check([report])
        var runs = [try PerplexityRun.measure(m, tokens: ids, backend: DenseReferenceBackend(), setting: "dense")]
        for t in targets {
            let backend = try ModelSession.backend(attention, target: t, tile: tile)
            runs.append(try PerplexityRun.measure(m, tokens: ids, backend: backend, setting: "\(attention) \(t)"))
            if meanCorrection {
                guard let skeleton = try EstimatorRegistry.named(attention) as? SkeletonEstimator else {
                    throw SkeletonError.invalidArgument("--mean-correction needs --attention skeleton (its tile masses)")
                }
                let corrected = try MaskedReferenceBackend(meanCorrected: skeleton, target: t, queryTile: tile, keyTile: tile)
                runs.append(try PerplexityRun.measure(m, tokens: ids, backend: corrected, setting: "\(attention) \(t) +mean correction"))
            }
        }
        try NonFiniteResult.check(runs.map { ("the perplexity of \($0.setting)", $0.perplexity) })
        let dense = runs[0].perplexity
        var lines = [
            "| attention | perplexity | change vs dense | mean density | layer density min–max | time (s) | tok/s |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in runs {
            let change = (r.perplexity / dense - 1) * 100
            lines.append(String(format: "| %@ | %.4f | %+.2f%% | %.3f | %.3f–%.3f | %.1f | %.0f |", r.setting, r.perplexity, change,
                                r.meanDensity, r.layerDensities.min() ?? 1, r.layerDensities.max() ?? 1, r.seconds, Double(context) / r.seconds))
        }
        if perLayer {
            lines.append("")
            lines.append("Per-layer density (layer 0 first):")
            lines.append("")
            for r in runs.dropFirst() {
                lines.append("- \(r.setting): " + r.layerDensities.map { String(format: "%.2f", $0) }.joined(separator: " "))
            }
        }
        let header = "Perplexity, \(ModelSession.label(m, path: modelOptions.model)), text \(text) from character \(startChar), N = \(context) (BOS first, \(context - 1) predictions), tiles \(tile)×\(tile)"
        try ModelSession.emit(header: header, lines: lines, report: report)
    }
}

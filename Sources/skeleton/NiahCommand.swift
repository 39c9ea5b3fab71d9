import ArgumentParser
import Foundation
import SparseSkeleton
import SparseSkeletonModel

/// `skeleton niah`: needle-in-a-haystack retrieval at several depths, dense against sparse prefill.
struct Niah: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "niah",
        abstract: "Needle in a haystack: place a sentence at depths of a long text, greedy-decode the answer, dense vs sparse.",
        discussion: EstimatorRegistry.attentionDiscussion("""
        The prompt is BOS, the haystack with the needle inserted at each depth (after a sentence end), then \
        the question, whose last words begin the answer. Prefill uses the chosen attention; the few decoded \
        tokens attend densely to the K/V cache. A depth counts as retrieved when the answer holds --expect.
        """))

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Haystack text: a path, or a name under the data directory's texts/.") var haystack: String = "paul_graham_essays"
    @Option(help: "Prompt length N in tokens.") var tokens: Int
    @Option(help: "Comma-separated depths in percent.") var depths: String = "0,25,50,75,100"
    @Option(help: "The needle sentence.") var needle: String = "The special magic number mentioned in this text is 4721."
    @Option(help: "The question (ends with the start of the answer).")
    var question: String = "Question: What is the special magic number mentioned in the text above? Answer: The special magic number mentioned in the text above is"
    @Option(help: "Text the answer must contain.") var expect: String = "4721"
    @Option(name: .customLong("new-tokens"), help: "Tokens to decode.") var newTokens: Int = 8
    @Option(help: "Sparse attention: \(EstimatorRegistry.choices) (or 'none' for dense only).") var attention: String = "skeleton"
    @Option(help: "Error bound ε of the sparse run (default 0.02 when neither --epsilon nor --density is given).") var epsilon: Double?
    @Option(help: "Budget density of the sparse run.") var density: Double?
    @Option(help: "Tile size 64 or 128.") var tile: Int = 64
    @Option(help: "Also write the table as markdown to this file.") var report: String?
    @Flag(name: .customLong("lossy-utf8"), help: "Read a text that is not valid UTF-8, replacing invalid bytes with U+FFFD.") var lossyUTF8 = false
    @OptionGroup var progress: QuietOption

    func run() throws {
        let depthList = try ModelSession.parseInts(depths, name: "--depths", in: 0...100)
        try OptionValues.require(.integer(tokens, "--tokens", 2...OptionValues.maxTokens), .integer(newTokens, "--new-tokens", 1...4096),
                                 .real(epsilon, "--epsilon", .epsilon), .real(density, "--density", .density))
        var sparseTarget: MaskTarget?
        if attention != "none" {
            sparseTarget = try ModelSession.target(epsilon: epsilon, density: density) ?? .recommended
            _ = try EstimatorRegistry.named(attention)
        }
        let m = try modelOptions.load { try $0.require(tokens: tokens + newTokens, "--tokens + --new-tokens") }
        let hay = try ModelSession.readText(haystack, lossy: lossyUTF8)
        try AtomicOutput.check([report])
        var settings: [(String, () throws -> AttentionBackend)] = [("dense", { DenseReferenceBackend() })]
        if let t = sparseTarget { settings.append(("\(attention) \(t)", { try ModelSession.backend(attention, target: t, tile: tile) })) }

        struct Cell { var answer: String; var ok: Bool; var density: Double }
        var table: [[Cell]] = []
        for depth in depthList {
            let prompt = try NeedlePrompt.build(m, haystack: hay, haystackName: haystack, needle: needle, question: question,
                                                tokens: tokens, depthPercent: depth)
            var row: [Cell] = []
            for (name, make) in settings {
                let result = try m.prefill(tokens: prompt.tokens, attention: try make(), captureLayers: [], capture: nil, keepCache: true,
                                           progress: ModelSession.progress(tokens: tokens, label: "depth \(depth)% \(name)"))
                let out = try m.generate(after: result, count: newTokens, stopTokens: Set([m.tokenizer.eosID].compactMap { $0 }))
                let answer = try m.tokenizer.decode(out)
                row.append(Cell(answer: answer, ok: answer.contains(expect), density: result.meanDensity))
                ModelSession.log("  depth \(depth)% \(name): \(answer.debugDescription) → \(answer.contains(expect) ? "retrieved" : "missed")")
            }
            table.append(row)
        }
        var lines = ["| depth | " + settings.map { "\($0.0) answer | ok | density" }.joined(separator: " | ") + " |",
                     "|---:|" + String(repeating: "---|:-:|---:|", count: settings.count)]
        for (depth, row) in zip(depthList, table) {
            let cells = row.map { c -> String in
                let a = c.answer.replacingOccurrences(of: "\n", with: "⏎").replacingOccurrences(of: "|", with: "\\|")
                return "`\(a)` | \(c.ok ? "yes" : "no") | \(String(format: "%.3f", c.density))"
            }
            lines.append("| \(depth)% | " + cells.joined(separator: " | ") + " |")
        }
        let totals = settings.indices.map { s in table.filter { $0[s].ok }.count }
        lines.append("")
        lines.append("Retrieved: " + zip(settings, totals).map { "\($0.0.0) \($0.1)/\(depthList.count)" }.joined(separator: ", "))
        let header = "Needle in a haystack, \(ModelSession.label(m, path: modelOptions.model)), haystack \(haystack), N = \(tokens), needle \"\(needle)\""
        try ModelSession.emit(header: header, lines: lines, report: report)
    }
}

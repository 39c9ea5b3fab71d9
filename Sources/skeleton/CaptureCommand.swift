import ArgumentParser
import Foundation
import SparseSkeleton
import SparseSkeletonModel

/// `skeleton capture`: run the real model over a text window and write the post-RoPE Q, K, V of
/// chosen layers as .npy (the layout scripts/reference/dump_qk.py writes; `mask-eval --dir` reads it).
struct Capture: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Write post-RoPE Q/K/V of chosen layers of the real model for a text window (.npy + meta.json).",
        discussion: """
        Files: DIR/layer<LL>_{q,k,v}.npy, float32 [N, heads, headDim] (Q) and [N, kvHeads, headDim] (K, V), \
        half-split RoPE layout (GGUF's Q/K row permutation undone), so q·k/√d are the true logits. \
        The window is BOS then the text's tokens from --start-char on. Prefill uses dense attention. \
        The folder is written beside DIR and moved into place whole, with the manifest meta.json (tokens, \
        layers, model and text SHA-256) and the completion marker COMPLETE last; readers trust nothing else.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Text: a path, or a name under the data directory's texts/ (e.g. pride_and_prejudice).") var text: String
    @Option(help: "Window length N in tokens (BOS included).") var tokens: Int
    @Option(help: "Comma-separated layer numbers, or 'all'.") var layers: String = "all"
    @Option(name: .customLong("start-char"), help: "First character of the text taken.") var startChar: Int = 5000
    @Option(help: "Output directory (default: the data directory's capture/<text>_<tokens>).") var out: String?
    @Flag(help: "Keep the output directory when it already holds a complete capture of this model, text, window and layers.") var reuse = false
    @Flag(name: .customLong("lossy-utf8"), help: "Read a text that is not valid UTF-8, replacing invalid bytes with U+FFFD.") var lossyUTF8 = false
    @OptionGroup var progress: QuietOption

    func run() throws {
        try OptionValues.require(.integer(tokens, "--tokens", 2...OptionValues.maxTokens), .integer(startChar, "--start-char", 0...Int.max))
        let requested = layers == "all" ? nil : try OptionValues.integers(layers, "--layers", in: 0...9999)
        guard requested.map({ !$0.isEmpty && Set($0).count == $0.count }) ?? true else { throw SkeletonError.invalidArgument("--layers must name each layer once") }
        let out = try self.out ?? DataDirectory.locate("\(URL(fileURLWithPath: text).deletingPathExtension().lastPathComponent)_\(tokens)", folder: "capture")
        let sources = try CaptureRun.Sources(model: modelOptions.model, text: text)
        if reuse, let kept = CaptureRun.existing(folder: out, sources: sources, tokens: tokens, layers: requested, startChar: startChar),
           (kept.positionInterpolation ?? 1) == modelOptions.positionInterpolation {
            return ModelSession.log("capture: \(out) already holds this capture (complete manifest); kept")
        }
        let writer = try CaptureWriter(destination: out)
        let m = try modelOptions.load { try $0.require(tokens: tokens, "--tokens"); try $0.require(layers: requested ?? [], "--layers") }
        let chosen = requested ?? Array(0..<m.config.layers)
        let ids = try ModelSession.window(m, text: try ModelSession.readText(text, lossy: lossyUTF8), textName: text, count: tokens, startChar: startChar)
        let t0 = ModelSession.now()
        try CaptureRun.run(m, ids: ids, layers: chosen, text: text, startChar: startChar, sources: sources, writer: writer,
                           progress: ModelSession.progress(tokens: tokens, label: "capture"))
        let secs = ModelSession.now() - t0
        print("wrote \(chosen.count) layers of Q/K/V for \(tokens) tokens to \(out) in \(String(format: "%.1f", secs)) s (\(String(format: "%.0f", Double(tokens) / secs)) tok/s prefill)")
    }
}

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
        The window is BOS then the text's tokens from --start-char on. Prefill uses dense attention.
        """)

    @Option(help: "GGUF model file.") var model: String = ModelSession.defaultModel
    @Option(name: .customLong("pi"), help: "Linear position interpolation ×k (1, 2, 4) of the global layers' RoPE (gemma3), labelled PI ×k.") var positionInterpolation: Int = 1
    @Option(help: "Text: a path, or a name under the data directory's texts/ (e.g. pride_and_prejudice).") var text: String
    @Option(help: "Window length N in tokens (BOS included).") var tokens: Int
    @Option(help: "Comma-separated layer numbers, or 'all'.") var layers: String = "all"
    @Option(name: .customLong("start-char"), help: "First character of the text taken.") var startChar: Int = 5000
    @Option(help: "Output directory (default: the data directory's capture/<text>_<tokens>).") var out: String?
    @OptionGroup var progress: QuietOption

    func run() throws {
        let m = try ModelSession.loadModel(model, positionInterpolation: positionInterpolation)
        let chosen: [Int] = layers == "all" ? Array(0..<m.config.layers) : try ModelSession.parseInts(layers, name: "--layers")
        if let bad = chosen.first(where: { $0 < 0 || $0 >= m.config.layers }) {
            throw SkeletonError.invalidArgument("--layers: layer \(bad) is outside 0..<\(m.config.layers)")
        }
        let source = try ModelSession.readText(text)
        let ids = try ModelSession.window(m, text: source, textName: text, count: tokens, startChar: startChar)
        let out = try self.out ?? DataDirectory.locate("\(URL(fileURLWithPath: text).deletingPathExtension().lastPathComponent)_\(tokens)", folder: "capture")
        try DataDirectory.createFolder(out)
        let t0 = ModelSession.now()
        let c = m.config
        _ = try m.prefill(tokens: ids, attention: DenseReferenceBackend(), captureLayers: Set(chosen), capture: { qkv in
            let n = qkv.shape.tokens
            for (name, values, heads) in [("q", qkv.q, c.heads), ("k", qkv.k, c.kvHeads), ("v", qkv.v, c.kvHeads)] {
                let path = URL(fileURLWithPath: out).appendingPathComponent(String(format: "layer%02d_%@.npy", qkv.layer, name)).path
                try NPYFile.write(HeadTensor(name: name, tokens: n, heads: heads, headDim: c.headDim, values: values), to: path)
            }
        }, keepCache: false, progress: ModelSession.progress(tokens: tokens, label: "capture"))
        let meta: [String: Any] = [
            "text": text, "start_char": startChar, "tokens": tokens, "bos_first": true,
            "bos_token_id": Int(m.tokenizer.bosID ?? 1), "token_ids": ids.map(Int.init),
            "model": URL(fileURLWithPath: model).lastPathComponent, "layers": c.layers,
            "captured_layers": chosen, "query_heads": c.heads, "kv_heads": c.kvHeads, "head_dim": c.headDim,
            "gqa": "query head h uses kv head h // (query_heads / kv_heads)", "rope_base": c.ropeBase,
            "rope_convention": "half-split (NeoX / Hugging Face): dim i pairs with i + head_dim/2, angle = pos * base^(-2i/head_dim); GGUF's Q/K row permutation undone; q.k/sqrt(head_dim) = true logits",
            "dtype": "float32 little-endian, C order, .npy v1.0",
            "files": "layer<LL>_{q,k,v}.npy, shapes [N, query_heads, head_dim] / [N, kv_heads, head_dim]",
            "producer": "skeleton capture (Swift prefill, dense attention)",
            "created": ISO8601DateFormatter().string(from: Date()).prefix(10),
        ].mapValues { ($0 as? Substring).map(String.init) ?? $0 }
        let specs: [String: Any] = ["architecture": c.architecture, "position_interpolation": c.positionInterpolation,
                                    "layer_specs": chosen.map { "layer \($0): \(c.spec(layer: $0))" }]
        let json = try JSONSerialization.data(withJSONObject: meta.merging(specs) { a, _ in a }, options: [.prettyPrinted, .sortedKeys])
        try json.write(to: URL(fileURLWithPath: out).appendingPathComponent("meta.json"))
        let secs = ModelSession.now() - t0
        print("wrote \(chosen.count) layers of Q/K/V for \(tokens) tokens to \(out) in \(String(format: "%.1f", secs)) s (\(String(format: "%.0f", Double(tokens) / secs)) tok/s prefill)")
    }
}

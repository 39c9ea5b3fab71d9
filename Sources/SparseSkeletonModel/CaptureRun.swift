import Foundation
import SparseSkeleton

/// `skeleton capture`'s work: the real model's prefill over a window, every chosen layer's
/// post-RoPE Q/K/V handed to a `CaptureWriter`, sealed with the manifest of what was captured.
public enum CaptureRun {
    /// The files a capture of `model` over `text` depends on, with their digests.
    public struct Sources {
        public let modelPath: String, modelSHA256: String
        public let textPath: String, textSHA256: String

        public init(model: String, text: String) throws {
            modelPath = try DataDirectory.locate(model, folder: "models", suffix: ".gguf")
            try ModelSession.requireRegularFile(modelPath, what: "model")
            textPath = try ModelSession.textPath(text)
            try ModelSession.requireRegularFile(textPath, what: "text", maxBytes: ModelSession.maxTextBytes)
            AtomicOutput.protect([modelPath, textPath])
            modelSHA256 = try SHA256.hex(file: modelPath)
            textSHA256 = try SHA256.hex(file: textPath)
        }
    }

    /// The manifest of `folder` when it is a complete capture of exactly this request, else nil.
    public static func existing(folder: String, sources: Sources, tokens: Int, layers: [Int]?, startChar: Int) -> CaptureManifest? {
        guard let m = try? CaptureManifest.verified(folder: folder),
              m.matches(tokens: tokens, layers: layers, modelSHA256: sources.modelSHA256, textSHA256: sources.textSHA256, startChar: startChar)
        else { return nil }
        return m
    }

    /// Prefills `ids` with dense attention, writes the chosen layers and seals the folder.
    public static func run(_ m: any CausalLM, ids: [Int32], layers chosen: [Int], text: String, startChar: Int, sources: Sources,
                           writer: CaptureWriter, progress: @escaping (Int, Int) -> Void) throws {
        let c = m.config
        _ = try m.prefill(tokens: ids, attention: DenseReferenceBackend(), captureLayers: Set(chosen), capture: { qkv in
            for (role, values, heads) in [("q", qkv.q, c.heads), ("k", qkv.k, c.kvHeads), ("v", qkv.v, c.kvHeads)] {
                try writer.write(HeadTensor(name: role, tokens: qkv.shape.tokens, heads: heads, headDim: c.headDim, values: values),
                                 layer: qkv.layer, role: role)
            }
        }, keepCache: false, progress: progress)
        var manifest = CaptureManifest(
            tokens: ids.count, capturedLayers: chosen, queryHeads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
            model: URL(fileURLWithPath: sources.modelPath).lastPathComponent, modelSHA256: sources.modelSHA256, layers: c.layers,
            text: text, textSHA256: sources.textSHA256, startChar: startChar, tokenIDs: ids.map(Int.init),
            bosTokenID: Int(m.tokenizer.bosID ?? 1), ropeBase: c.ropeBase)
        manifest.architecture = c.architecture
        manifest.positionInterpolation = c.positionInterpolation
        manifest.layerSpecs = chosen.map { "layer \($0): \(c.spec(layer: $0))" }
        try writer.finish(manifest)
    }
}

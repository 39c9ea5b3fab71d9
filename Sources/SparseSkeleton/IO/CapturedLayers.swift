import Foundation

/// A folder of captured attention layers, as `skeleton capture` (and scripts/data) write it:
/// `layerLL_{q,k,v}.npy` (float32 [N, heads, d]) plus meta.json. The one reader of that layout.
public struct CapturedLayers: Sendable {
    /// Which tensors a load reads: Q and K only, or V too (required, or only where its file exists).
    public enum Values: Sendable { case qk, qkv, qkvIfPresent }

    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// "layer07" for layer 7: the stem of that layer's files.
    public static func stem(layer: Int) -> String { String(format: "layer%02d", layer) }

    /// The path of one tensor file (`role`: "q", "k" or "v") of the layer with this stem.
    public func path(_ stem: String, _ role: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent("\(stem)_\(role).npy").path
    }

    /// The stems of the layers present (those with a Q file), sorted; only those of `layers` when given.
    public func layerStems(only layers: [Int]? = nil) throws -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw SkeletonError.fileUnreadable(path: directory, reason: "not a readable directory")
        }
        var stems = names.compactMap { n -> String? in
            guard n.hasPrefix("layer"), n.hasSuffix("_q.npy") else { return nil }
            return String(n.dropLast("_q.npy".count))
        }.sorted()
        if let layers {
            let want = Set(layers.map(Self.stem(layer:)))
            stems = stems.filter { want.contains($0) }
        }
        guard !stems.isEmpty else {
            throw SkeletonError.invalidArgument("directory '\(directory)' holds no layerLL_q.npy files\(layers == nil ? "" : " for the chosen layers")")
        }
        return stems
    }

    /// One layer's inputs by stem; errors name the file that is missing or malformed.
    public func inputs(_ stem: String, values: Values) throws -> AttentionInputs {
        let vPath: String?
        switch values {
        case .qk: vPath = nil
        case .qkv: vPath = path(stem, "v")
        case .qkvIfPresent: vPath = FileManager.default.fileExists(atPath: path(stem, "v")) ? path(stem, "v") : nil
        }
        return try TensorFiles.loadInputs(q: path(stem, "q"), k: path(stem, "k"), v: vPath)
    }

    /// One layer's inputs by layer number.
    public func inputs(layer: Int, values: Values) throws -> AttentionInputs {
        try inputs(Self.stem(layer: layer), values: values)
    }
}

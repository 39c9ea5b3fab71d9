import Foundation

/// A folder of captured attention layers, as `skeleton capture` writes it: `layerLL_{q,k,v}.npy`
/// (float32 [N, heads, d]), the manifest `meta.json` and the completion marker (`CaptureManifest`).
/// The one reader of that layout. A folder is trusted only through a complete, matching manifest;
/// a bare folder of layer files (no marker, e.g. a few layers copied for a GPU check) is read only
/// when asked for, and then every layer read together must have the same N.
public struct CapturedLayers: Sendable {
    /// Which tensors a load reads: Q and K only, or V too (required, or only where its file exists).
    public enum Values: Sendable { case qk, qkv, qkvIfPresent }

    public let directory: String
    /// The verified manifest; nil only for a bare folder opened with `requireManifest: false`.
    public let manifest: CaptureManifest?

    /// Verifies the manifest (when required, or whenever a completion marker is there) and marks
    /// the folder as an input, so no output of this process can land in it.
    public init(directory: String, requireManifest: Bool = true) throws {
        guard DataDirectory.isDirectory(directory) else {
            throw SkeletonError.fileUnreadable(path: directory, reason: "not a readable directory")
        }
        self.directory = directory
        let marked = FileManager.default.fileExists(atPath: directory + "/" + CaptureManifest.markerName)
        manifest = requireManifest || marked ? try CaptureManifest.verified(folder: directory) : nil
        AtomicOutput.protect([directory])
    }

    /// "layer07" for layer 7: the stem of that layer's files.
    public static func stem(layer: Int) -> String { String(format: "layer%02d", layer) }

    /// The path of one tensor file (`role`: "q", "k" or "v") of the layer with this stem.
    public func path(_ stem: String, _ role: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent("\(stem)_\(role).npy").path
    }

    /// The stems of the layers present (the manifest's, or those with a Q file), sorted; only those
    /// of `layers` when given, each of which must be present.
    public func layerStems(only layers: [Int]? = nil) throws -> [String] {
        var stems: [String]
        if let manifest {
            stems = manifest.capturedLayers.sorted().map(Self.stem(layer:))
        } else {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
                throw SkeletonError.fileUnreadable(path: directory, reason: "not a readable directory")
            }
            stems = names.compactMap { n -> String? in
                guard n.hasPrefix("layer"), n.hasSuffix("_q.npy") else { return nil }
                return String(n.dropLast("_q.npy".count))
            }.sorted()
        }
        if let layers {
            if let absent = layers.first(where: { !stems.contains(Self.stem(layer: $0)) }) {
                throw SkeletonError.invalidArgument("directory '\(directory)' holds no layer \(absent) (it has \(stems.joined(separator: ", ")))")
            }
            let want = Set(layers.map(Self.stem(layer:)))
            stems = stems.filter { want.contains($0) }
        }
        guard !stems.isEmpty else { throw SkeletonError.invalidArgument("directory '\(directory)' holds no layerLL_q.npy files") }
        return stems
    }

    /// One layer's inputs by stem; errors name the file that is missing or malformed, and a layer
    /// whose shape is not the manifest's.
    public func inputs(_ stem: String, values: Values) throws -> AttentionInputs {
        let vPath: String?
        switch values {
        case .qk: vPath = nil
        case .qkv: vPath = path(stem, "v")
        case .qkvIfPresent: vPath = FileManager.default.fileExists(atPath: path(stem, "v")) ? path(stem, "v") : nil
        }
        let x = try TensorFiles.loadInputs(q: path(stem, "q"), k: path(stem, "k"), v: vPath)
        if let m = manifest {
            let s = x.shape
            guard s.tokens == m.tokens, s.queryHeads == m.queryHeads, s.kvHeads == m.kvHeads, s.headDim == m.headDim else {
                throw SkeletonError.invalidFileFormat(path: path(stem, "q"), reason:
                    "\(stem) is N \(s.tokens), heads \(s.queryHeads)/\(s.kvHeads), d \(s.headDim); the manifest says N \(m.tokens), heads \(m.queryHeads)/\(m.kvHeads), d \(m.headDim)")
            }
        }
        return x
    }

    /// One layer's inputs by layer number.
    public func inputs(layer: Int, values: Values) throws -> AttentionInputs {
        try inputs(Self.stem(layer: layer), values: values)
    }

    /// Several layers read together; they must agree on N (a folder mixing windows is an error, never averaged).
    public func inputs(layers: [Int], values: Values) throws -> [(layer: Int, inputs: AttentionInputs)] {
        let out = try layers.map { ($0, try inputs(layer: $0, values: values)) }
        if let first = out.first, let other = out.first(where: { $0.1.shape.tokens != first.1.shape.tokens }) {
            throw SkeletonError.invalidFileFormat(path: directory, reason:
                "layer \(first.0) has N = \(first.1.shape.tokens) but layer \(other.0) has N = \(other.1.shape.tokens): layers of different captures mixed in one folder")
        }
        return out
    }
}

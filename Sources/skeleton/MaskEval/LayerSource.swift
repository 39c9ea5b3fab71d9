import Foundation
import SparseSkeleton

/// One layer's attention inputs, named for the table ("gen", "layer07", a file stem).
struct EvalLayer {
    let name: String
    let inputs: AttentionInputs
}

/// Where `mask-eval` gets its layers: explicit files, a directory of captured layers
/// (`layerLL_{q,k,v}.npy`, as written by `skeleton capture` and scripts/data), or the core's seeded
/// structured generator (`StructuredAttentionGenerator`: synthetic, not real data). Files are read by
/// the core's `TensorFiles` (.npy, or .safetensors with tensor `layer{L}.q` etc. when --layer is given).
enum LayerSource {
    case files(q: String, k: String, v: String?, layer: Int?)
    case directory(String, layers: [Int]?)
    case generated(tokens: Int, heads: Int, kvHeads: Int, headDim: Int, seed: UInt64)

    /// Layer names in order, so a directory run can load one layer at a time (memory).
    func layerNames() throws -> [String] {
        switch self {
        case .files(let q, _, _, let layer):
            return [URL(fileURLWithPath: q).deletingPathExtension().lastPathComponent + (layer.map { ".layer\($0)" } ?? "")]
        case .generated: return ["generated"]
        case .directory(let dir, let only):
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
                throw SkeletonError.fileUnreadable(path: dir, reason: "not a readable directory")
            }
            var layers = names.compactMap { n -> String? in
                guard n.hasPrefix("layer"), n.hasSuffix("_q.npy") else { return nil }
                return String(n.dropLast("_q.npy".count))
            }.sorted()
            if let only {
                let want = Set(only.map { String(format: "layer%02d", $0) })
                layers = layers.filter { want.contains($0) }
            }
            guard !layers.isEmpty else {
                throw SkeletonError.invalidArgument("directory '\(dir)' holds no layerLL_q.npy files\(only == nil ? "" : " for the chosen layers")")
            }
            return layers
        }
    }

    func load(_ name: String) throws -> EvalLayer {
        switch self {
        case .files(let q, let k, let v, let layer):
            return EvalLayer(name: name, inputs: try TensorFiles.loadInputs(q: q, k: k, v: v, layer: layer))
        case .directory(let dir, _):
            let base = URL(fileURLWithPath: dir).appendingPathComponent(name).path
            let vPath = base + "_v.npy"
            let v = FileManager.default.fileExists(atPath: vPath) ? vPath : nil
            return EvalLayer(name: name, inputs: try TensorFiles.loadInputs(q: base + "_q.npy", k: base + "_k.npy", v: v))
        case .generated(let n, let h, let kvh, let d, let seed):
            let config = StructuredAttentionGenerator.Config(tokens: n, queryHeads: h, kvHeads: kvh, headDim: d, seed: seed)
            return EvalLayer(name: name, inputs: try StructuredAttentionGenerator(config).inputs())
        }
    }
}

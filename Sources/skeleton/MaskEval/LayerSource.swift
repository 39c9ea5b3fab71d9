import Foundation
import SparseSkeleton

/// One layer's attention inputs, named for the table ("gen", "layer07", a file stem).
struct EvalLayer {
    let name: String
    let inputs: AttentionInputs
}

/// Where `mask-eval` gets its layers: explicit files, a directory of captured layers
/// (`layerLL_{q,k,v}.npy`, as written by `skeleton capture` and scripts/data), or the generator.
enum LayerSource {
    case files(q: String, k: String, v: String?)
    case directory(String, layers: [Int]?)
    case generated(tokens: Int, heads: Int, kvHeads: Int, headDim: Int, seed: UInt64)

    /// Layer names in order, so a directory run can load one layer at a time (memory).
    func layerNames() throws -> [String] {
        switch self {
        case .files(let q, _, _): return [URL(fileURLWithPath: q).deletingPathExtension().lastPathComponent]
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
        case .files(let q, let k, let v):
            return EvalLayer(name: name, inputs: try AttentionInputs(q: try NpyLoader.load(q, name: "Q"), k: try NpyLoader.load(k, name: "K"),
                                                                      v: try v.map { try NpyLoader.load($0, name: "V") }))
        case .directory(let dir, _):
            let base = URL(fileURLWithPath: dir).appendingPathComponent(name).path
            let vPath = base + "_v.npy"
            let v = FileManager.default.fileExists(atPath: vPath) ? try NpyLoader.load(vPath, name: "\(name)_v") : nil
            return EvalLayer(name: name, inputs: try AttentionInputs(q: try NpyLoader.load(base + "_q.npy", name: "\(name)_q"),
                                                                      k: try NpyLoader.load(base + "_k.npy", name: "\(name)_k"), v: v))
        case .generated(let n, let h, let kvh, let d, let seed):
            return EvalLayer(name: name, inputs: try SyntheticLayer.make(tokens: n, heads: h, kvHeads: kvh, headDim: d, seed: seed))
        }
    }
}

import Foundation
import SparseSkeleton

/// One layer's attention inputs, named for the table ("gen", "layer07", a file stem).
struct EvalLayer {
    let name: String
    let inputs: AttentionInputs
}

/// Where `mask-eval` gets its layers: explicit files, a directory of captured layers (the core's
/// `CapturedLayers`: `layerLL_{q,k,v}.npy` under a complete manifest, as written by `skeleton capture`), or the core's seeded
/// structured generator (`StructuredAttentionGenerator`: synthetic, not real data). Files are read by
/// the core's `TensorFiles` (.npy, or .safetensors with tensor `layer{L}.q` etc. when --layer is given).
enum LayerSource {
    case files(q: String, k: String, v: String?, layer: Int?)
    case directory(CapturedLayers, layers: [Int]?)
    case generated(tokens: Int, heads: Int, kvHeads: Int, headDim: Int, seed: UInt64)

    /// Layer names in order, so a directory run can load one layer at a time (memory).
    func layerNames() throws -> [String] {
        switch self {
        case .files(let q, _, _, let layer):
            return [URL(fileURLWithPath: q).deletingPathExtension().lastPathComponent + (layer.map { ".layer\($0)" } ?? "")]
        case .generated: return ["generated"]
        case .directory(let folder, let only):
            return try folder.layerStems(only: only)
        }
    }

    func load(_ name: String) throws -> EvalLayer {
        switch self {
        case .files(let q, let k, let v, let layer):
            return EvalLayer(name: name, inputs: try TensorFiles.loadInputs(q: q, k: k, v: v, layer: layer))
        case .directory(let folder, _):
            return EvalLayer(name: name, inputs: try folder.inputs(name, values: .qkvIfPresent))
        case .generated(let n, let h, let kvh, let d, let seed):
            let config = StructuredAttentionGenerator.Config(tokens: n, queryHeads: h, kvHeads: kvh, headDim: d, seed: seed)
            return EvalLayer(name: name, inputs: try StructuredAttentionGenerator(config).inputs())
        }
    }
}

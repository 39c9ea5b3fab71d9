/// Loads the Q/K/V of one attention layer from tensor files, by extension:
/// - `.npy`: one tensor per file (`--q q.npy --k k.npy --v v.npy`);
/// - `.safetensors`: the tensor `q`, `k` or `v`, or `layer{L}.q` etc. when a layer is given
///   (see `SafetensorsFile` for the naming convention).
public enum TensorFiles {
    /// The safetensors name of a Q/K/V tensor: `q`, or `layer3.q` for layer 3.
    public static func tensorName(_ role: String, layer: Int?) -> String {
        layer.map { "layer\($0).\(role)" } ?? role
    }

    /// Reads one tensor; `role` ("q", "k" or "v") names it inside a safetensors file.
    public static func load(path: String, role: String, layer: Int? = nil) throws -> HeadTensor {
        let lower = path.lowercased()
        if lower.hasSuffix(".npy") {
            return try NPYFile.read(path: path, name: role)
        }
        if lower.hasSuffix(".safetensors") {
            let t = try SafetensorsFile.read(path: path, name: tensorName(role, layer: layer))
            return t
        }
        throw SkeletonError.invalidFileFormat(path: path, reason: "unknown tensor file type; expected .npy or .safetensors")
    }

    /// Q, K and (when `v` is given) V as validated attention inputs.
    /// The files become inputs of this process (`AtomicOutput`): no output may overwrite them.
    public static func loadInputs(q: String, k: String, v: String?, layer: Int? = nil) throws -> AttentionInputs {
        AtomicOutput.protect([q, k, v])
        let qt = try load(path: q, role: "q", layer: layer)
        let kt = try load(path: k, role: "k", layer: layer)
        let vt = try v.map { try load(path: $0, role: "v", layer: layer) }
        return try AttentionInputs(q: qt, k: kt, v: vt)
    }
}

import ArgumentParser
import SparseSkeleton
import SparseSkeletonCUDA

/// What the GPU commands share: opening the session, and their comma-separated arguments.
enum GPUArguments {
    /// The session, or "<command>: no GPU path here — <why>" and exit status 1.
    static func session(_ command: String) throws -> GPUSession {
        do { return try GPUSession() } catch {
            print("\(command): no GPU path here — \(error)")
            throw ExitCode.failure
        }
    }

    /// "8K,32K,1M" → lengths (K = 1024, M = 1024²).
    static func lengths(_ s: String) throws -> [Int] {
        try list(s, "length") { p in
            let u = p.uppercased(), mult = u.hasSuffix("K") ? 1024 : (u.hasSuffix("M") ? 1024 * 1024 : 1)
            return Int(mult == 1 ? u : String(u.dropLast())).flatMap { $0 > 0 ? $0 * mult : nil }
        }
    }

    /// A comma-separated list of values that `parse` accepts; otherwise "bad <what> '<item>'".
    static func list<T>(_ s: String, _ what: String, _ parse: (String) -> T?) throws -> [T] {
        try s.split(separator: ",").map { part in
            guard let v = parse(part.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("bad \(what) '\(part)'") }
            return v
        }
    }

    /// "128x64" → (query tile, key tile).
    static func tiles(_ s: String) throws -> (Int, Int) {
        let t = s.lowercased().split(separator: "x").compactMap { Int($0) }
        guard t.count == 2 else { throw ValidationError("--tile must look like 128x64") }
        return (t[0], t[1])
    }

    /// The `--layers` of `--qk-dir`, each read from the captured folder (no folder: none).
    static func captured(_ dir: String?, layers: String, values: CapturedLayers.Values) throws -> [(layer: Int, inputs: AttentionInputs)] {
        guard let dir else { return [] }
        let folder = CapturedLayers(directory: dir)
        return try list(layers, "layer") { Int($0).flatMap { $0 >= 0 ? $0 : nil } }.map { ($0, try folder.inputs(layer: $0, values: values)) }
    }
}

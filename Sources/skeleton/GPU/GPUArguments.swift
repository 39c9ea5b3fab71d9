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
    static func lengths(_ s: String, _ name: String = "--tokens") throws -> [Int] {
        try OptionValues.integers(s, name, in: 1...OptionValues.maxTokens, suffixes: true)
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
        return try CapturedLayers(directory: dir, requireManifest: false).inputs(layers: OptionValues.integers(layers, "--layers", in: 0...9999), values: values)
    }
}

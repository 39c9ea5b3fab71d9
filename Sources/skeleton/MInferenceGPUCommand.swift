import ArgumentParser
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonChecks

/// `skeleton gpu-minference`: `MInferenceCheck`'s matrix (the GPU MInference estimator against the
/// CPU one), then `MInferenceTiming` (estimation + mask on device-random Q/K, CUDA events, median).
struct MInferenceGPU: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-minference", abstract: "Check the GPU MInference estimator against the CPU one, then time it.")

    @Option(help: "Seed for the random check inputs (default: fresh each run; printed).") var seed: UInt64?
    @Option(name: .customLong("qk-dir"), help: "Also check on captured real Q/K: a directory of layerLL_{q,k}.npy (skeleton capture).") var qkDir: String?
    @Option(help: "Comma-separated layers to take from --qk-dir.") var layers: String = "0,15"
    @Option(help: "Comma-separated lengths to time (K suffix allowed); empty: no timing.") var tokens: String = "32K,128K"
    @Option(help: "Query heads (timing).") var heads: Int = 32
    @Option(name: .customLong("kv-heads"), help: "KV heads (timing).") var kvHeads: Int = 8
    @Option(name: .customLong("head-dim"), help: "Head dim (timing).") var headDim: Int = 128
    @Option(help: "bf16 or f16 (timing).") var dtype: String = "bf16"
    @Option(help: "Query tile × key tile of the mask, e.g. 128x64.") var tile: String = "128x64"
    @Option(help: "Density target also timed (the on-device bisection).") var density: Double = 0.1
    @Flag(name: .customLong("no-attention"), help: "Time the estimator only (skip our dense / masked attention).") var noAttention = false
    @Flag(name: .customLong("skip-checks"), help: "Time only.") var skipChecks = false
    @Option(help: "Write timing records as JSON here (BenchRecord, mode \"estimate\", impl \"minference-gpu\").") var json: String?

    func run() throws {
        try OptionValues.require(.integer(heads, "--heads", 1...1024), .integer(kvHeads, "--kv-heads", 1...1024),
                                 .integer(headDim, "--head-dim", 1...1024), .real(density, "--density", .density))
        let tiles = try GPUArguments.tiles(tile)
        let session = try GPUArguments.session("gpu-minference")
        let est = GPUMInferenceEstimator(library: session.library)
        var failed = 0
        if !skipChecks {
            let seed = self.seed ?? UInt64.random(in: 1...UInt64.max / 2)
            var cases = MInferenceCheck.defaultCases(seed: seed)
            for (l, x) in try GPUArguments.captured(qkDir, layers: layers, values: .qk) {
                cases += MInferenceCheck.capturedCases(inputs: x, name: "real layer \(l)")
            }
            failed = MInferenceCheck.runAll(cases, session: session, estimator: est, seed: seed, tiles: tiles).failed
        }
        let lengths = tokens.isEmpty ? [] : try GPUArguments.lengths(tokens)
        if !lengths.isEmpty {
            try MInferenceTiming.runAll(session: session, estimator: est, tokens: lengths, heads: heads, kvHeads: kvHeads, headDim: headDim,
                                        dtype: try DType(parsing: dtype), dtypeName: dtype, tiles: tiles, density: density,
                                        attention: !noAttention, json: json)
        }
        if failed > 0 { throw ExitCode.failure }
    }
}

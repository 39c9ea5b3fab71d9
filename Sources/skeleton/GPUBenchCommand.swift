import ArgumentParser
import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonChecks

/// `skeleton gpu-bench`: `AttentionBench`'s modes (dense and block-sparse kernels timed with CUDA
/// events, the estimated-mask mode, the time-budget mode); JSON for bench/gpu/merge.py.
struct GPUBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-bench", abstract: "Time the GPU attention kernels (dense and sparse) and write JSON.")

    @Option(help: "Comma-separated sequence lengths (K = 1024 suffix allowed).") var tokens: String = "8K,32K"
    @Option(help: "Query heads.") var heads: Int = 32
    @Option(name: .customLong("kv-heads"), help: "KV heads.") var kvHeads: Int = 8
    @Option(name: .customLong("head-dims"), help: "Comma-separated head dims.") var headDims: String = "128"
    @Option(help: "bf16 or f16.") var dtype: String = "bf16"
    @Option(help: "Comma-separated sparse densities (empty: dense only).") var densities: String = "0.5,0.2,0.1,0.05,0.02"
    @Option(name: .customLong("max-density-long"), help: "At N ≥ 512K only densities up to this are run (host CSR size).") var maxDensityLong: Double = 0.1
    @Option(help: "Query tile × key tile, e.g. 128x64.") var tile: String = "128x64"
    @Flag(name: .customLong("variants"), help: "Also time other d=128 dense kernels (the hopper kernel with 128-key tiles and with its register epilogue, the v4 wgmma and the mma.sync defaults).") var variants = false
    @Option(help: "Seconds spent per timed configuration.") var seconds: Double = 1.0
    @Option(help: "Write records as JSON here.") var json: String?
    @Flag(help: "Keep the records already in --json and add to them.") var append = false
    @Option(name: .customLong("budget-ms"), help: "Time-budget mode: ';'-separated ms lists, one per --tokens length (e.g. '20,10,5;200,100,50'); calibrates the cost model at --calibrate-tokens first and runs nothing else.") var budgetMs: String?
    @Option(help: "Estimated-mask mode: error bound ε for our GPU skeleton estimator on generated structured Q/K at each --tokens, plus its budget mode at --estimate-budgets (runs nothing else).") var epsilon: Double?
    @Option(name: .customLong("estimate-budgets"), help: "With --epsilon: comma-separated densities for the estimator's budget mode.") var estimateBudgets: String = "0.05"
    @Option(name: .customLong("estimate-fit-rows"), help: "With --epsilon: comma-separated probe budgets (strided fit rows per head; sets the probe stride) to time.") var estimateFitRows: String = "1024"
    @Flag(name: .customLong("estimate-only"), help: "With --epsilon: generate the inputs on the host and print the time, touch no GPU.") var estimateOnly = false
    @Flag(name: .customLong("fp8"), help: "FP8 mode: the hopper kernel's FP8 (e4m3) build beside its 16-bit build at d 128, 128×128 tiles: dense, --densities strided masks and, with --epsilon, the GPU estimator's masks at ε and --estimate-budgets (runs nothing else).") var fp8 = false
    @Option(help: "Write every timed mask (strided and estimated) with its Q/K/V and our output on sampled rows into this folder, for a peer benchmark (bench/gpu/flashinfer_peer.py).") var dump: String?
    @Option(name: .customLong("calibrate-tokens"), help: "N at which the time-budget cost model is measured.") var calibrateTokens: String = "32K"
    @OptionGroup var progress: QuietOption

    func run() throws {
        try OptionValues.require(.integer(heads, "--heads", 1...1024), .integer(kvHeads, "--kv-heads", 1...1024), .real(seconds, "--seconds", .positive),
                                 .real(maxDensityLong, "--max-density-long", .density), .real(epsilon, "--epsilon", .epsilon))
        let dt = try DType(parsing: dtype)
        let lengths = try GPUArguments.lengths(tokens)
        let dims = try OptionValues.integers(headDims, "--head-dims", in: 1...1024)
        let dens = try OptionValues.reals(densities, "--densities", .density)
        let tiles = try GPUArguments.tiles(tile)
        if epsilon != nil, estimateOnly {
            for n in lengths {
                _ = try EstimatedMaskBench.generate(tokens: n, heads: heads, kvHeads: kvHeads, headDim: dims.first ?? 128, dtype: dt) { print($0) }
            }
            return
        }
        let fitRows = try OptionValues.integers(estimateFitRows, "--estimate-fit-rows", in: 16...OptionValues.maxTokens)
        let budgets = try OptionValues.reals(estimateBudgets, "--estimate-budgets", .density)
        let session = try GPUArguments.session("gpu-bench")
        print("gpu-bench on \(session.banner)")
        let bench = AttentionBench(session: session, secondsPerMeasurement: seconds) { print($0); fflush(stdout) }
        if append, let json { bench.loadRecords(from: json) }
        if let dump { bench.dump = try MaskDump(directory: dump) }
        if fp8 {
            for n in lengths {
                try FP8Bench.run(bench: bench, tokens: n, heads: heads, kvHeads: kvHeads, dtype: dt, densities: dens, epsilon: epsilon, budgets: budgets)
                try bench.writeRecords(to: json)
            }
        } else if let epsilon {
            try bench.runEstimated(tokens: lengths, headDims: dims, heads: heads, kvHeads: kvHeads, dtype: dt, tiles: tiles,
                                   epsilon: epsilon, budgets: budgets, fitRows: fitRows, json: json)
        } else if let budgetMs {
            let lists = try budgetMs.split(separator: ";").map { try OptionValues.reals(String($0), "--budget-ms", .positive) }
            guard let cal = try GPUArguments.lengths(calibrateTokens, "--calibrate-tokens").first, !lists.isEmpty else { throw ValidationError("--budget-ms needs values") }
            try bench.runBudgetMode(tokens: lengths, headDims: dims, budgetsMs: lists, calibrationTokens: cal, heads: heads, kvHeads: kvHeads,
                                    dtype: dt, tiles: tiles, json: json)
        } else {
            try bench.runSweep(tokens: lengths, headDims: dims, heads: heads, kvHeads: kvHeads, dtype: dt, tiles: tiles, densities: dens,
                               maxDensityLong: maxDensityLong, variants: variants, json: json)
        }
    }
}

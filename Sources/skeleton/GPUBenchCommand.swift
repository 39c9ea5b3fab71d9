import ArgumentParser
import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// `skeleton gpu-bench`: our dense and block-sparse attention kernels timed with CUDA events
/// (median of many runs), effective TFLOP/s = 4 · d · computed causal pairs / time, peak
/// device memory; JSON for bench/gpu/merge.py.
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
    @Flag(name: .customLong("variants"), help: "Also time the other d=128 dense kernel layouts (one or two row tiles per warp, 128x128, register caps).") var variants = false
    @Option(help: "Seconds spent per timed configuration.") var seconds: Double = 1.0
    @Option(help: "Write records as JSON here.") var json: String?
    @Flag(help: "Keep the records already in --json and add to them.") var append = false
    @Option(name: .customLong("budget-ms"), help: "Time-budget mode: ';'-separated ms lists, one per --tokens length (e.g. '20,10,5;200,100,50'); calibrates the cost model at --calibrate-tokens first and runs nothing else.") var budgetMs: String?
    @Option(help: "Estimated-mask mode: error bound ε for our GPU skeleton estimator on generated structured Q/K at each --tokens, plus its budget mode at --estimate-budgets (runs nothing else).") var epsilon: Double?
    @Option(name: .customLong("estimate-budgets"), help: "With --epsilon: comma-separated densities for the estimator's budget mode.") var estimateBudgets: String = "0.05"
    @Option(name: .customLong("estimate-fit-rows"), help: "With --epsilon: comma-separated probe budgets (strided fit rows per head; sets the probe stride) to time.") var estimateFitRows: String = "1024"
    @Flag(name: .customLong("estimate-only"), help: "With --epsilon: generate the inputs on the host and print the time, touch no GPU.") var estimateOnly = false
    @Option(name: .customLong("calibrate-tokens"), help: "N at which the time-budget cost model is measured.") var calibrateTokens: String = "32K"

    static func parseTokens(_ s: String) throws -> [Int] {
        try s.split(separator: ",").map { part in
            let p = part.trimmingCharacters(in: .whitespaces).uppercased()
            let mult = p.hasSuffix("K") ? 1024 : (p.hasSuffix("M") ? 1024 * 1024 : 1)
            guard let v = Int(mult == 1 ? p : String(p.dropLast())), v > 0 else { throw ValidationError("bad length '\(part)'") }
            return v * mult
        }
    }

    func run() throws {
        let dt = try DType(parsing: dtype)
        let lengths = try Self.parseTokens(tokens)
        let dims = try headDims.split(separator: ",").map { s -> Int in
            guard let d = Int(s.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("bad head dim '\(s)'") }
            return d
        }
        let dens = try densities.split(separator: ",").map { s -> Double in
            guard let d = Double(s.trimmingCharacters(in: .whitespaces)), d > 0, d <= 1 else { throw ValidationError("bad density '\(s)'") }
            return d
        }
        let tiles = tile.lowercased().split(separator: "x").compactMap { Int($0) }
        guard tiles.count == 2 else { throw ValidationError("--tile must look like 128x64") }
        if epsilon != nil, estimateOnly {
            for n in lengths {
                _ = try EstimatedMaskBench.generate(tokens: n, heads: heads, kvHeads: kvHeads, headDim: dims.first ?? 128, dtype: dt) { print($0) }
            }
            return
        }
        let fitRowList = try estimateFitRows.split(separator: ",").map { x -> Int in
            guard let v = Int(x.trimmingCharacters(in: .whitespaces)), v >= 16 else { throw ValidationError("bad fit-row count '\(x)'") }
            return v
        }
        let budgets = try estimateBudgets.split(separator: ",").map { x -> Double in
            guard let v = Double(x.trimmingCharacters(in: .whitespaces)), v > 0, v <= 1 else { throw ValidationError("bad budget density '\(x)'") }
            return v
        }
        let session: GPUSession
        do { session = try GPUSession() } catch {
            print("gpu-bench: no GPU path here — \(error)")
            throw ExitCode.failure
        }
        print("gpu-bench on \(session.banner)")
        let bench = AttentionBench(session: session, secondsPerMeasurement: seconds) { print($0); fflush(stdout) }
        if append, let json, let data = try? Data(contentsOf: URL(fileURLWithPath: json)) {
            bench.records = (try? JSONDecoder().decode([BenchRecord].self, from: data)) ?? []
        }
        if let epsilon {
            for n in lengths {
                for d in dims {
                    do {
                        try EstimatedMaskBench.run(session: session, tokens: n, heads: heads, kvHeads: kvHeads, headDim: d, dtype: dt,
                                                   tiles: (tiles[0], tiles[1]), epsilon: epsilon, budgets: budgets, fitRows: fitRowList, bench: bench)
                    } catch { print("estimated mask N=\(n) d=\(d): skipped — \(error)") }
                    if let json { try write(bench.records, to: json) }
                }
            }
            return
        }
        if let budgetMs {
            let lists = try budgetMs.split(separator: ";").map { part in
                try part.split(separator: ",").map { x -> Double in
                    guard let v = Double(x.trimmingCharacters(in: .whitespaces)), v > 0 else { throw ValidationError("bad budget '\(x)'") }
                    return v
                }
            }
            guard let cal = try Self.parseTokens(calibrateTokens).first, !lists.isEmpty else { throw ValidationError("--budget-ms needs values") }
            for d in dims {
                try bench.runBudgets(tokens: lengths, budgetsMs: lists, calibrationTokens: cal, heads: heads, kvHeads: kvHeads, headDim: d,
                                     dtype: dt, geometryTiles: (tiles[0], tiles[1]))
                if let json { try write(bench.records, to: json) }
            }
            return
        }
        for n in lengths {
            for d in dims {
                var extra: [FlashKernelTraits] = []
                if variants && d == 128 {
                    extra = [try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, warpTiles: 1, dtype: dt),
                             try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, warpTiles: 2, dtype: dt),
                             try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 128, dtype: dt),
                             try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, minBlocksPerSM: 2, dtype: dt),
                             try FlashKernelTraits(headDim: 128, blockM: 64, blockN: 64, dtype: dt),
                             try FlashKernelTraits(headDim: 128, blockM: 64, blockN: 64, minBlocksPerSM: 3, dtype: dt)]
                }
                let use = n >= 512 * 1024 ? dens.filter { $0 <= maxDensityLong } : dens
                do {
                    try bench.run(tokens: n, heads: heads, kvHeads: kvHeads, headDim: d, dtype: dt, geometryTiles: (tiles[0], tiles[1]),
                                  densities: use, extraVariants: extra)
                } catch {
                    print("N=\(n) d=\(d): skipped — \(error)")
                }
                if let json { try write(bench.records, to: json) }  // after every shape: a killed run keeps what it measured
            }
        }
    }

    func write(_ records: [BenchRecord], to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(records).write(to: URL(fileURLWithPath: path))
    }
}

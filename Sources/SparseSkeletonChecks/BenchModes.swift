import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// gpu-bench's three modes over every (N, d) asked, the records written to `json` after every
/// shape (a killed run keeps what it measured).
extension AttentionBench {
    /// Keeps the records already in `path` (unreadable or absent: none) so a run adds to them.
    public func loadRecords(from path: String) {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)) else { return }
        records = (try? JSONDecoder().decode([BenchRecord].self, from: data)) ?? []
    }

    public func writeRecords(to path: String?) throws {
        guard let path else { return }
        try BenchRecord.write(records, to: path)
    }

    /// Dense and strided-sparse timings at each N and d; at N ≥ 512K only densities ≤ `maxDensityLong`.
    /// `variants`: also other d = 128 dense kernels (the hopper kernel's 128-key tiles, its register epilogue, 3 stages with
    /// one Q buffer, v4, mma.sync).
    public func runSweep(tokens: [Int], headDims: [Int], heads: Int, kvHeads: Int, dtype dt: DType, tiles: (Int, Int),
                         densities dens: [Double], maxDensityLong: Double, variants: Bool, json: String?) throws {
        let bar = ProgressReporter(label: "gpu-bench", total: tokens.count * headDims.count, unit: "shapes", inPlace: false)
        var shapes = 0
        for n in tokens {
            for d in headDims {
                var extra: [FlashKernelTraits] = []
                if variants && d == 128 {  // the hopper kernel's other layouts, the v4 wgmma default and the mma.sync default
                    extra = [FlashKernelTraits.hopper(headDim: 128, blockN: 128, dtype: dt),
                             FlashKernelTraits.hopper(headDim: 128, blockN: 128, dtype: dt, tmaStore: false),
                             FlashKernelTraits.hopper(headDim: 128, blockN: 64, dtype: dt, tmaStore: false),
                             // three K/V stages of 128 keys: room only with one Q buffer and the register epilogue
                             try? FlashKernelTraits(headDim: 128, blockM: 128, blockN: 128, dtype: dt, family: .hopper, stages: 3, tmaStore: false),
                             try? FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: dt, family: .wgmma, persistent: true, stages: 4),
                             try? FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, warpTiles: 2, dtype: dt)].compactMap { $0 }
                }
                let use = n >= 512 * 1024 ? dens.filter { $0 <= maxDensityLong } : dens
                do {
                    try run(tokens: n, heads: heads, kvHeads: kvHeads, headDim: d, dtype: dt, geometryTiles: tiles,
                            densities: use, extraVariants: extra)
                } catch {
                    log("N=\(n) d=\(d): skipped — \(error)")
                }
                try writeRecords(to: json)
                shapes += 1; bar.update(done: shapes)
            }
        }
    }

    /// Estimated-mask mode (`EstimatedMaskBench`) at each N and d.
    public func runEstimated(tokens: [Int], headDims: [Int], heads: Int, kvHeads: Int, dtype: DType, tiles: (Int, Int),
                             epsilon: Double, budgets: [Double], fitRows: [Int], json: String?) throws {
        let bar = ProgressReporter(label: "gpu-bench", total: tokens.count * headDims.count, unit: "shapes", inPlace: false)
        var shapes = 0
        for n in tokens {
            for d in headDims {
                do {
                    try EstimatedMaskBench.run(session: s, tokens: n, heads: heads, kvHeads: kvHeads, headDim: d, dtype: dtype,
                                               tiles: tiles, epsilon: epsilon, budgets: budgets, fitRows: fitRows, bench: self)
                } catch { log("estimated mask N=\(n) d=\(d): skipped — \(error)") }
                try writeRecords(to: json)
                shapes += 1; bar.update(done: shapes)
            }
        }
    }

    /// Time-budget mode (`runBudgets`) at each d.
    public func runBudgetMode(tokens: [Int], headDims: [Int], budgetsMs: [[Double]], calibrationTokens: Int, heads: Int, kvHeads: Int,
                              dtype: DType, tiles: (Int, Int), json: String?) throws {
        let bar = ProgressReporter(label: "gpu-bench --budget-ms", total: headDims.count, unit: "head dims", inPlace: false)
        for (i, d) in headDims.enumerated() {
            try runBudgets(tokens: tokens, budgetsMs: budgetsMs, calibrationTokens: calibrationTokens, heads: heads, kvHeads: kvHeads,
                           headDim: d, dtype: dtype, geometryTiles: tiles)
            try writeRecords(to: json)
            bar.update(done: i + 1)
        }
    }
}

extension BenchRecord {
    /// Pretty-printed, keys sorted: the file bench/gpu/merge.py reads.
    public static func write(_ records: [BenchRecord], to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicOutput.write(try enc.encode(records), to: path)
    }
}

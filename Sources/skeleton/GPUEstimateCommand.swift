import ArgumentParser
import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// `skeleton gpu-estimate`: checks the GPU skeleton estimator against its CPU reference
/// (the same estimator in Swift, Double precision) on generated, random and captured real Q/K,
/// in both threshold modes, with poisoned workspaces. Exit status 1 if any case fails.
struct GPUEstimate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-estimate",
        abstract: "Check the GPU skeleton estimator (probes, factor fit, tile masses, calibrated error-bound and budget masks) against the CPU one.")

    @Option(name: .customLong("qk-dir"), help: "Also check on captured real Q/K: a directory of layerLL_{q,k}.npy (skeleton capture).") var qkDir: String?
    @Option(help: "Comma-separated layers to take from --qk-dir.") var layers: String = "0"
    @Option(help: "Seed of the generated and random inputs (default: from the clock, printed).") var seed: UInt64?
    @Option(help: "Error bound checked.") var epsilon: Double = 0.05
    @Option(help: "Budget density checked.") var density: Double = 0.3

    func run() throws {
        let session: GPUSession
        do { session = try GPUSession() } catch {
            print("gpu-estimate: no GPU path here — \(error)")
            throw ExitCode.failure
        }
        let seed = self.seed ?? UInt64(Date().timeIntervalSince1970 * 1000)
        print("gpu-estimate on \(session.banner); seed \(seed)")
        var cases = EstimatorCheck.defaultCases(seed: seed)
        if let dir = qkDir {
            for part in layers.split(separator: ",") {
                guard let l = Int(part.trimmingCharacters(in: .whitespaces)), l >= 0 else { throw ValidationError("bad layer '\(part)'") }
                let tag = l < 10 ? "0\(l)" : "\(l)"
                let x = try TensorFiles.loadInputs(q: "\(dir)/layer\(tag)_q.npy", k: "\(dir)/layer\(tag)_k.npy", v: nil)
                for dtype in [DType.bf16, .f16] {
                    cases.append(EstimatorCheckCase(tokens: x.shape.tokens, queryHeads: x.shape.queryHeads, kvHeads: x.shape.kvHeads,
                                                    headDim: x.shape.headDim, dtype: dtype, queryTile: 128,
                                                    source: .captured(q: x.q, k: x.k, name: "real layer \(l)")))
                }
            }
        }
        let estimator = GPUSkeletonEstimator(library: session.library)
        print("case | target | est. rel. L1 | NaN | CPU density | GPU density | tiles differing / CPU kept | max |recall diff| | note | verdict")
        var failed = 0, total = 0
        for c in cases {
            do {
                let rows = try EstimatorCheck.run(c, session: session, estimator: estimator,
                                                  targets: [.errorBound(epsilon: epsilon), .density(density)])
                for r in rows {
                    total += 1
                    if !r.ok { failed += 1 }
                    print("\(c) | \(r.target) | \(r.estimateRelL1.sci) | \(r.estimateNaN) | \(r.cpuDensity.f(4)) | \(r.gpuDensity.f(4)) | "
                          + "\(r.tilesDiffering) / \(r.cpuKept) | \(r.recallMaxDiff.map { $0.sci } ?? "-") | \(r.note) | \(r.ok ? "ok" : "FAIL")")
                }
            } catch {
                total += 1; failed += 1
                print("\(c) | error: \(error) | FAIL")
            }
            fflush(stdout)
        }
        print("gpu-estimate: \(total - failed)/\(total) checks passed (tolerances: est. rel. L1 ≤ \(EstimatorCheck.massTolerance), "
              + "tiles differing ≤ \(Int(EstimatorCheck.tileTolerance * 100))% of kept, |recall diff| ≤ 1e-3, budget total exact)")
        if failed > 0 { throw ExitCode.failure }
    }
}

import ArgumentParser
import Foundation
import SparseSkeleton
import SparseSkeletonChecks

/// `skeleton gpu-estimate`: `EstimatorCheck`'s matrix (the GPU skeleton estimator against its CPU
/// reference) in both threshold modes. Exit status 1 if any check fails.
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
        try OptionValues.require(.real(epsilon, "--epsilon", .epsilon), .real(density, "--density", .density))
        let session = try GPUArguments.session("gpu-estimate")
        let seed = self.seed ?? UInt64(Date().timeIntervalSince1970 * 1000)
        var cases = EstimatorCheck.defaultCases(seed: seed)
        for (l, x) in try GPUArguments.captured(qkDir, layers: layers, values: .qk) {
            cases += EstimatorCheck.capturedCases(inputs: x, name: "real layer \(l)")
        }
        let summary = EstimatorCheck.runAll(cases, session: session, seed: seed, targets: [.errorBound(epsilon: epsilon), .density(density)])
        if summary.failed > 0 { throw ExitCode.failure }
    }
}

import ArgumentParser
import SparseSkeletonChecks

/// `skeleton gpu-check`: `AttentionCheck`'s matrix, then `AttentionSpecCheck`'s windows and scales, then `FP8Check`'s FP8
/// kernel, then `TileMassCheck`'s exact tile masses, then `GPUMaskEvalAgreement` (gpu-mask-eval vs mask-eval on one
/// generated layer). Fails (exit 1) on any NaN, unwritten element, figure out of its tolerance,
/// error over tolerance (bf16 1e-2, fp16 5e-3), or a full-mask run that differs from dense.
struct GPUCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-check", abstract: "Check every GPU attention kernel variant against the CPU reference.")

    @Option(help: "Seed for the random inputs (default: fresh each run; printed).") var seed: UInt64?
    @Option(help: "Run only cases whose description contains this text.") var filter: String?
    @Option(name: .customLong("qk-dir"), help: "Also check on captured real Q/K/V: a directory of layerLL_{q,k,v}.npy (skeleton capture).") var qkDir: String?
    @Option(help: "Comma-separated layers to take from --qk-dir.") var layers: String = "0"

    func run() throws {
        var cases = try AttentionCheck.defaultCases()
        for (l, x) in try GPUArguments.captured(qkDir, layers: layers, values: .qkv) {
            cases += try AttentionCheck.capturedCases(inputs: x, name: "real layer \(l)")
        }
        let session = try GPUArguments.session("gpu-check")
        let seed = self.seed ?? UInt64.random(in: 1...UInt64.max / 2)
        let matrix = AttentionCheck.runAll(cases, session: session, seed: seed, filter: filter)
        let windowed = try AttentionSpecCheck.runAll(session: session, seed: seed, filter: filter)
        let fp8 = FP8Check.runAll(session: session, seed: seed, filter: filter)
        let masses = TileMassCheck.runAll(session: session, seed: seed, filter: filter)
        let agreement = GPUMaskEvalAgreement.runCheck(session: session, seed: seed, filter: filter)
        if matrix.failed + windowed.failed + fp8.failed + masses.failed + agreement.failed > 0 { throw ExitCode.failure }
    }
}

import ArgumentParser
import SparseSkeleton
import SparseSkeletonCUDA

/// `skeleton gpu-check`: every attention kernel variant against the CPU reference on fresh
/// random inputs, outputs poisoned with NaN first. Fails (exit 1) on any NaN, unwritten element,
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
        if let dir = qkDir {
            for part in layers.split(separator: ",") {
                guard let l = Int(part.trimmingCharacters(in: .whitespaces)), l >= 0 else { throw ValidationError("bad layer '\(part)'") }
                let tag = l < 10 ? "0\(l)" : "\(l)"
                let x = try TensorFiles.loadInputs(q: "\(dir)/layer\(tag)_q.npy", k: "\(dir)/layer\(tag)_k.npy", v: "\(dir)/layer\(tag)_v.npy")
                cases += try AttentionCheck.capturedCases(inputs: x, name: "real layer \(l)")
            }
        }
        let session: GPUSession
        do { session = try GPUSession() } catch {
            print("gpu-check: no GPU path here — \(error)")
            throw ExitCode.failure
        }
        let seed = self.seed ?? UInt64.random(in: 1...UInt64.max / 2)
        print("gpu-check on \(session.banner); seed \(seed)")
        print("case | kept | rel.err | tol | LSE max|err| | NaN | full==dense | verdict")
        var failures = 0, ran = 0
        for (i, c) in cases.enumerated() {
            if let f = filter, !c.description.contains(f) { continue }
            ran += 1
            do {
                let r = try AttentionCheck.run(c, session: session, seed: seed &+ UInt64(i) &* 7919)
                if !r.ok { failures += 1 }
                let eq = r.fullVsDenseMismatches.map { $0 == 0 ? "yes" : "NO (\($0) differ)" } ?? "-"
                print("\(c) | \(r.density.f(2)) | \(r.relError.sci) | \(c.tolerance.sci) | \(r.lseMaxAbsError.sci) | \(r.nanCount + r.unwrittenLSE) | \(eq) | \(r.ok ? "ok" : "FAIL")")
            } catch {
                failures += 1
                print("\(c) | error: \(error) | FAIL")
            }
        }
        let windowed = try AttentionSpecCheck.runAll(session: session, seed: seed, filter: filter)  // windows and scales
        ran += windowed.ran; failures += windowed.failed
        print("gpu-check: \(ran - failures)/\(ran) cases passed")
        if failures > 0 { throw ExitCode.failure }
    }
}

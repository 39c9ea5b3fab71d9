import SparseSkeletonChecks
import Testing

/// gpu-check's whole default matrix (84 cases; the CLI's captured-layer cases need --qk-dir data),
/// one test case each; serialized: one GPU, and the kernel cache is shared.
@Suite(.serialized) struct AttentionCheckTests {
    @Test("every attention kernel variant vs the CPU reference", arguments: AttentionCheck.cases)
    func kernelMatchesReference(_ c: AttentionCheck.Case) throws {
        guard let session = gpuSession(for: "attention check \(c)") else { return }
        let r = try AttentionCheck.run(c, session: session, seed: 7)
        #expect(r.nanCount == 0 && r.unwrittenLSE == 0, "NaN or unwritten outputs: \(r.nanCount) O, \(r.unwrittenLSE) LSE")
        #expect(r.relError <= c.tolerance, "relative error \(r.relError) over \(c.tolerance)")
        #expect(r.lseMaxAbsError <= AttentionCheck.lseTolerance, "LSE error \(r.lseMaxAbsError)")
        #expect((r.fullVsDenseMismatches ?? 0) == 0, "full-mask run differs from dense in \(r.fullVsDenseMismatches ?? 0) elements")
        #expect(r.ok)
    }

    @Test("the default matrix has gpu-check's 84 random-input cases")
    func caseCount() {
        #expect(AttentionCheck.cases.count == 84)
    }
}

import SparseSkeletonChecks
import SparseSkeletonCUDA
import Testing

/// gpu-minference's whole default matrix (16 cases × 4 targets; captured-layer cases need --qk-dir data).
@Suite(.serialized) struct MInferenceCheckTests {
    @Test("the GPU MInference estimator vs the CPU one", arguments: MInferenceCheck.cases)
    func estimatorMatchesReference(_ c: MInferenceCheck.Case) throws {
        try checkTargetRows("MInference check \(c)", expected: MInferenceCheck.targets.count,
                            run: { try MInferenceCheck.run(c, session: $0) }) { r in
            #expect(r.columnError < MInferenceCheck.scoreTolerance && r.diagonalError < MInferenceCheck.scoreTolerance,
                    "\(r.target): score errors \(r.columnError), \(r.diagonalError)")
            #expect(Double(r.differing) <= MInferenceCheck.tileTolerance * Double(r.total), "\(r.target): \(r.differing) of \(r.total) tiles differ")
            #expect(r.ok, "\(r.target): \(r.verdict)")
        }
    }

    @Test("the default matrix has gpu-minference's 16 random and structured cases")
    func caseCount() {
        #expect(MInferenceCheck.cases.count == 16)
    }
}

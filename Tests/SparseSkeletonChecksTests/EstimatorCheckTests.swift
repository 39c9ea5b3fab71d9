import SparseSkeleton
import SparseSkeletonChecks
import SparseSkeletonCUDA
import Testing

/// gpu-estimate's whole default matrix (15 cases × 2 targets; captured-layer cases need --qk-dir data).
@Suite(.serialized) struct EstimatorCheckTests {
    @Test("the GPU skeleton estimator vs its CPU reference", arguments: EstimatorCheck.cases)
    func estimatorMatchesReference(_ c: EstimatorCheck.Case) throws {
        try checkTargetRows("estimator check \(c)", expected: EstimatorCheck.defaultTargets.count,
                            run: { try EstimatorCheck.run(c, session: $0) }) { r in
            #expect(r.estimateNaN == 0, "\(r.target): \(r.estimateNaN) non-finite tile estimates")
            #expect(r.estimateRelL1 <= EstimatorCheck.massTolerance, "\(r.target): tile-mass rel. L1 \(r.estimateRelL1)")
            #expect(Double(r.tilesDiffering) <= EstimatorCheck.tileTolerance * Double(max(r.cpuKept, 1)),
                    "\(r.target): \(r.tilesDiffering) tiles differ of \(r.cpuKept)")
            #expect(r.ok, "\(r.target): \(r.note)")
        }
    }

    @Test("the default matrix has gpu-estimate's 15 cases, the local band off and on (one and three key tiles), tail calibration on and off, both IPF launch forms, both IPF walk widths")
    func caseCount() {
        let cases = EstimatorCheck.cases
        #expect(cases.count == 15)
        // the IPF's strided item takes 8 outputs per thread from ≈ 1009 strided fit rows (64 threads), 4 below
        let stridedRows = { (c: EstimatorCheck.Case) in c.tokens / SkeletonParameters.stride(tokens: c.tokens, fitRows: c.fitRows ?? 1024) }
        #expect(cases.contains { stridedRows($0) >= 1024 })
        #expect(cases.contains { stridedRows($0) < 1009 })
        #expect(cases.contains { $0.fitGrid == 0 })
        #expect(cases.contains { ($0.fitGrid ?? 0) > 0 })
        #expect(cases.contains { $0.bandTokens == 0 })
        #expect(cases.contains { ($0.bandTokens ?? 0) > 64 && $0.queryTile == 128 })
        #expect(cases.contains { $0.tail?.quantile != nil })
        #expect(cases.contains { $0.tail != nil && $0.tail?.quantile == nil })
    }
}

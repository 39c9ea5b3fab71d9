import SparseSkeletonCUDA
import Testing

/// One case of a GPU check matrix whose run gives one row per target: nothing without a GPU (the
/// skip is printed), else `expected` rows, each handed to `check`.
func checkTargetRows<Row>(_ test: String, expected: Int, sourceLocation: SourceLocation = #_sourceLocation,
                          run: (GPUSession) throws -> [Row], check: (Row) -> Void) throws {
    guard let session = GPUSession.forTest(test) else { return }
    let rows = try run(session)
    #expect(rows.count == expected, sourceLocation: sourceLocation)
    for r in rows { check(r) }
}

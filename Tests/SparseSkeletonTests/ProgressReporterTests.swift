import XCTest
@testable import SparseSkeleton

/// The progress line's numbers: tokens/s from the steps done, ETA from the mean step time, and no
/// rate before a second of work.
final class ProgressReporterTests: XCTestCase {
    func testLineCountsTokensPerSecondAndTheTimeLeft() {
        let p = ProgressReporter(label: "capture", total: 30, unit: "layers", tokensPerStep: 100, enabled: false)
        XCTAssertEqual(p.line(done: 3, elapsed: 12), "capture: 3/30 layers, 25 tok/s, elapsed 12 s, ETA 1 m 48 s")
        XCTAssertEqual(p.line(done: 1, elapsed: 0.01), "capture: 1/30 layers, rate ?, elapsed 0 s, ETA ?")
        let q = ProgressReporter(label: "mask-eval", total: 7, unit: "layers", enabled: false)
        XCTAssertEqual(q.line(done: 7, elapsed: 35), "mask-eval: 7/7 layers, 0.20 layers/s, elapsed 35 s, ETA 0 s")
    }
}

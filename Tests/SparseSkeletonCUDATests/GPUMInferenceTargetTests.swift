import XCTest
@testable import SparseSkeletonCUDA
import SparseSkeleton
import SparseSkeletonKernelParams

/// CPU-only checks of the GPU MInference estimator's host side: how it maps the core's targets and
/// attention spec, and the layout of its kernel parameter structs.
final class GPUMInferenceTargetTests: XCTestCase {
    func testDensityMapsOntoTheDensityTarget() throws {
        XCTAssertEqual(try GPUMInferenceEstimator.target(for: .density(0.25)), .density(0.25))
        XCTAssertThrowsError(try GPUMInferenceEstimator.target(for: .density(1.5)))  // out of range, the core's check
    }

    func testErrorBoundAndTimeBudgetAreRefusedNamingTheTargetsTaken() {
        for t in [MaskTarget.errorBound(epsilon: 0.02), .timeBudget(milliseconds: 5)] {
            XCTAssertThrowsError(try GPUMInferenceEstimator.target(for: t)) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("GPU MInference estimator"), text)
                XCTAssertTrue(text.contains("density"), "the message should name the target it takes: \(text)")
            }
        }
        XCTAssertThrowsError(try GPUMInferenceEstimator.target(for: .timeBudget(milliseconds: 5))) { XCTAssertTrue("\($0)".contains("time budget")) }
        XCTAssertThrowsError(try GPUMInferenceEstimator.target(for: .errorBound(epsilon: 0.02))) { XCTAssertTrue("\($0)".contains("error bound")) }
    }

    func testWindowNonCausalAndSoftcapAreRefused() {
        let refused: [(AttentionSpec, String)] = [
            (AttentionSpec(window: 512), "window"), (AttentionSpec(causal: false), "causal"), (AttentionSpec(softcap: 30), "softcap"),
            (AttentionSpec(scale: -1), "scale"),
        ]
        for (spec, word) in refused {
            XCTAssertThrowsError(try GPUMInferenceEstimator.scaleLog2(spec: spec, headDim: 64), "\(spec)") { error in
                XCTAssertTrue("\(error)".contains(word), "\(spec): \(error)")
            }
        }
    }

    /// The default scale is computed exactly as before (masks stay bit-identical); an explicit scale is log2(e)·scale.
    func testScaleComesFromTheSpec() throws {
        for d in SkeletonError.supportedHeadDims {
            XCTAssertEqual(try GPUMInferenceEstimator.scaleLog2(spec: .causal, headDim: d).bitPattern,
                           Float(1.4426950408889634 / Double(d).squareRoot()).bitPattern)
        }
        XCTAssertEqual(try GPUMInferenceEstimator.scaleLog2(spec: AttentionSpec(scale: 0.5), headDim: 128), Float(1.4426950408889634 * 0.5))
    }

    /// Swift's view of each struct is the C layout the kernel reads: these sizes are the field sums
    /// plus C padding (8-byte pointers and doubles, 4-byte ints), whole multiples of the alignment.
    func testParameterStructLayouts() {
        func check<T>(_ type: T.Type, size: Int, alignment: Int = 8, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertEqual(MemoryLayout<T>.size, size, "\(T.self) size", file: file, line: line)
            XCTAssertEqual(MemoryLayout<T>.alignment, alignment, "\(T.self) alignment", file: file, line: line)
            XCTAssertEqual(MemoryLayout<T>.size % MemoryLayout<T>.alignment, 0, "\(T.self) size not a multiple of its alignment", file: file, line: line)
            XCTAssertEqual(MemoryLayout<T>.stride, MemoryLayout<T>.size, "\(T.self) stride", file: file, line: line)
        }
        check(SKMInferenceRowPartial.self, size: 8, alignment: 4)
        check(SKMInferenceDensityState.self, size: 80)
        check(SKMInferenceProbeInputs.self, size: 40)
        check(SKMInferenceProbeStatsParams.self, size: 48)
        check(SKMInferenceProbeScoresParams.self, size: 72)
        check(SKMInferenceLseParams.self, size: 24)
        check(SKMInferenceDiagCombineParams.self, size: 24)
        check(SKMInferenceSelectParams.self, size: 72)
        check(SKMInferenceDiagTableParams.self, size: 48)
        check(SKMInferenceMaskRowsParams.self, size: 88)
        check(SKMInferenceScanParams.self, size: 32)
        check(SKMInferenceDensityStepParams.self, size: 72)
        // the host reads the chosen α back from the state: 6th double
        XCTAssertEqual(MemoryLayout<SKMInferenceDensityState>.offset(of: \.alpha), 40)
        XCTAssertEqual(MemoryLayout<SKMInferenceDensityStepParams>.offset(of: \.lo), 16)
    }
}

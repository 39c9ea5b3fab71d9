import XCTest
@testable import SparseSkeletonCUDA
import SparseSkeleton
import SparseSkeletonKernelParams

/// CPU checks of the GPU skeleton estimator's host side: its kernel parameter structs have the
/// layout sk_skeleton_params.h describes, and its estimator contract (spec, time budget) refuses
/// what it cannot do and maps a time budget to the density the cost model gives.
final class SkeletonEstimatorContractTests: XCTestCase {
    /// Size, alignment and field count of one struct; every 8-byte field (pointers, long long)
    /// precedes the 4-byte ones, so the packed size rounded to 8 is the C size on host and device.
    private func check<T>(_ value: T, fields: Int, file: StaticString = #filePath, line: UInt = #line) {
        let children = Mirror(reflecting: value).children.map { $0.value }
        XCTAssertEqual(children.count, fields, "\(T.self): field count", file: file, line: line)
        var packed = 0, seenNarrow = false
        for c in children {
            switch c {
            case is UInt64, is Int64, is Double:
                XCTAssertFalse(seenNarrow, "\(T.self): an 8-byte field after a 4-byte one", file: file, line: line)
                packed += 8
            case is Int32, is UInt32, is Float: seenNarrow = true; packed += 4
            default: XCTFail("\(T.self): unexpected field type \(type(of: c))", file: file, line: line)
            }
        }
        XCTAssertEqual(MemoryLayout<T>.size, (packed + 7) / 8 * 8, "\(T.self): size", file: file, line: line)
        XCTAssertEqual(MemoryLayout<T>.size % 8, 0, "\(T.self): size not a multiple of 8", file: file, line: line)
        XCTAssertEqual(MemoryLayout<T>.alignment, 8, "\(T.self): alignment", file: file, line: line)
    }

    func testParameterStructsMatchTheHeader() {
        XCTAssertTrue(KernelCompiler.sharedHeaders.map(\.name).contains("sk_skeleton_params.h"), "the header does not reach NVRTC")
        check(SKProbePass1Params(), fields: 12)
        check(SKProbePass2Params(), fields: 19)
        check(SKProbeRowLseParams(), fields: 6)
        check(SKIPFStepParams(), fields: 14)
        check(SKEstimateInitParams(), fields: 9)
        check(SKIPFFinishRowsParams(), fields: 3)
        check(SKIPFUpdateParams(), fields: 5)
        check(SKIPFFitParams(), fields: 19)
        check(SKFillF32Params(), fields: 3)
        check(SKPrefixSumsParams(), fields: 5)
        check(SKTileProductParams(), fields: 8)
        check(SKTileMassesParams(), fields: 15)
        check(SKSortRowsParams(), fields: 10)
        check(SKCheckPrefixParams(), fields: 14)
        check(SKCalibrateParams(), fields: 20)
        check(SKCountErrorBoundParams(), fields: 12)
        check(SKScanRowsParams(), fields: 3)
        check(SKFillErrorBoundParams(), fields: 9)
        check(SKBudgetInitParams(), fields: 3)
        check(SKBudgetHistParams(), fields: 12)
        check(SKBudgetPickParams(), fields: 3)
        check(SKBudgetCountParams(), fields: 12)
        check(SKBudgetAddTiesParams(), fields: 5)
        check(SKFillBudgetParams(), fields: 13)
        XCTAssertEqual(MemoryLayout<SKCalibrateParams>.size, 7 * 8 + 8 + 8 + 11 * 4 + 4)  // tail padding counted
    }

    func testSpecSetsTheProbeScaleAndWindowsAreRefused() throws {
        for d in SkeletonError.supportedHeadDims {
            XCTAssertEqual(try GPUSkeletonEstimator.probeScaleLog2(spec: .causal, headDim: d), Float(1.4426950408889634 / Double(d).squareRoot()))
        }
        XCTAssertEqual(try GPUSkeletonEstimator.probeScaleLog2(spec: AttentionSpec(scale: 0.05), headDim: 128), Float(1.4426950408889634 * 0.05))
        func message(_ spec: AttentionSpec) -> String {
            do { _ = try GPUSkeletonEstimator.probeScaleLog2(spec: spec, headDim: 128); return "" } catch { return "\(error)" }
        }
        let windowed = message(AttentionSpec(window: 4096))
        XCTAssertTrue(windowed.contains("window"), windowed)
        XCTAssertTrue(windowed.contains("4096"), windowed)
        XCTAssertTrue(message(AttentionSpec(causal: false)).contains("causal"))
        XCTAssertTrue(message(AttentionSpec(softcap: 30)).contains("softcap"))
        XCTAssertFalse(message(AttentionSpec(scale: -1)).isEmpty, "an invalid scale passes")
    }

    func testTimeBudgetNeedsACostModelAndBecomesItsDensity() throws {
        let shape = try AttentionShape(tokens: 4096, queryHeads: 4, kvHeads: 2, headDim: 128)
        let g = try TileGeometry(tokens: 4096, queryTile: 128, keyTile: 64)
        let keep = AlwaysKeep.standard
        func target(_ t: MaskTarget, model: TileCostModel?, time: GPUSkeletonEstimator.EstimationTime?,
                    dtype: DType = .bf16, shape s: AttentionShape? = nil) throws -> MaskTarget {
            try GPUSkeletonEstimator.tileTarget(t, costModel: model, estimationTime: time, alwaysKeep: keep, shape: s ?? shape, dtype: dtype, geometry: g)
        }
        func message(_ body: () throws -> MaskTarget) -> String {
            do { _ = try body(); return "" } catch { return "\(error)" }
        }
        let noModel = message { try target(.timeBudget(milliseconds: 2), model: nil, time: nil) }
        XCTAssertTrue(noModel.contains("cost model"), noModel)
        XCTAssertTrue(noModel.contains("TileCostModel.fit"), noModel)

        let model = TileCostModel(headDim: 128, dtype: .bf16, fixedMs: 0.05, perTileMs: 1e-4, calibrationTokens: 8192)
        let noTime = message { try target(.timeBudget(milliseconds: 2), model: model, time: nil) }
        XCTAssertTrue(noTime.contains("measureEstimationTime"), noTime)
        XCTAssertTrue(message { try target(.timeBudget(milliseconds: 2), model: model, time: nil, dtype: .f16) }.contains("d128"))
        let time = GPUSkeletonEstimator.EstimationTime(shape: shape, milliseconds: 0.3)
        let other = try AttentionShape(tokens: 4096, queryHeads: 8, kvHeads: 2, headDim: 128)
        XCTAssertTrue(message { try target(.timeBudget(milliseconds: 2), model: model, time: time, shape: other) }.contains("measure it again"))

        let causal = 4 * (try TileMasses(geometry: g, heads: 1)).tilesPerHead
        let minimum = 4 * GPUSkeletonEstimator.alwaysKeptTilesPerHead(keep, geometry: g)
        XCTAssertGreaterThan(minimum, 0)
        for ms in [0.2, 0.55, 1.2, 100] {
            let want = model.density(budgetMs: ms, estimationMs: 0.3, causalTiles: causal, minimumTiles: minimum)
            XCTAssertEqual(try target(.timeBudget(milliseconds: ms), model: model, time: time), .density(want), "budget \(ms) ms")
        }
        // 0.55 ms − 0.3 ms estimation − 0.05 ms fixed = 2000 tiles of 0.1 µs (of 4224 causal tiles)
        XCTAssertEqual(causal, 4224)
        guard case .density(let d) = try target(.timeBudget(milliseconds: 0.55), model: model, time: time) else { return XCTFail() }
        XCTAssertEqual(d * Double(causal), 2000, accuracy: 1e-6)
        // below the always-kept tiles: the minimum; above all causal tiles: dense
        XCTAssertEqual(try target(.timeBudget(milliseconds: 0.2), model: model, time: time), .density(Double(minimum) / Double(causal)))
        XCTAssertEqual(try target(.timeBudget(milliseconds: 100), model: model, time: time), .density(1))
        // other targets pass through, validated
        XCTAssertEqual(try target(.errorBound(epsilon: 0.02), model: nil, time: nil), .errorBound(epsilon: 0.02))
        XCTAssertEqual(try target(.density(0.3), model: nil, time: nil), .density(0.3))
        XCTAssertThrowsError(try target(.density(1.5), model: nil, time: nil))
    }
}

import XCTest
@testable import SparseSkeleton

final class SkeletonParametersTests: XCTestCase {
    /// Expected strides printed by the former `SkeletonProbePlan.stride(tokens:fitRows:minStride:maxStride:)`
    /// (SparseSkeletonCUDA) before the policy moved here: (N, default, fitRows 256, fitRows 64 with strides 8…64).
    static let formerStrides: [(n: Int, standard: Int, fit256: Int, fit64: Int)] = [
        (1, 32, 32, 8), (64, 32, 32, 8), (8192, 32, 32, 64), (8193, 32, 64, 64), (32768, 32, 128, 64),
        (32769, 64, 256, 64), (65536, 64, 256, 64), (65537, 128, 256, 64), (131072, 128, 256, 64),
        (131073, 256, 256, 64), (262144, 256, 256, 64), (1 << 20, 256, 256, 64),
    ]

    func testStridePolicyMatchesTheFormerProbePlanStride() {
        for row in Self.formerStrides {
            var p = SkeletonParameters.growingStride
            XCTAssertEqual(p.stride(tokens: row.n), row.standard, "N = \(row.n)")
            p.fitRowsPerHead = 256
            XCTAssertEqual(p.stride(tokens: row.n), row.fit256, "N = \(row.n), 256 fit rows")
            p.fitRowsPerHead = 64; p.minStride = 8; p.maxStride = 64
            XCTAssertEqual(p.stride(tokens: row.n), row.fit64, "N = \(row.n), 64 fit rows, strides 8…64")
            XCTAssertEqual(SkeletonParameters.stride(tokens: row.n), row.standard)
        }
        // The growing stride equals the CPU default (fixed 32) up to N = 32K.
        for n in [1, 100, 4096, 32768] { XCTAssertEqual(SkeletonParameters.growingStride.stride(tokens: n), SkeletonParameters().stride(tokens: n)) }
    }

    func testDefaults() {
        let p = SkeletonParameters()
        XCTAssertEqual(p.fixedStride, 32)
        XCTAssertEqual(p.stride(tokens: 1 << 20), 32, "the CPU default stride does not grow")
        XCTAssertEqual(p.lastRows, 64); XCTAssertEqual(p.fitSweeps, 4); XCTAssertEqual(p.localWeight, 0.75)
        XCTAssertTrue(p.calibrate); XCTAssertEqual(p.confidenceZ, 1.645); XCTAssertEqual(p.calibrationMargin, 0)
        XCTAssertEqual(p.ratioPower, 0); XCTAssertEqual(p.ratioFloor, 0.5); XCTAssertFalse(p.shareGroupMask)
        XCTAssertEqual(p.alwaysKeep, .banded); XCTAssertNil(p.tailQuantile); XCTAssertEqual(p.tailScale, 4)
        var g = p; g.fixedStride = nil
        XCTAssertEqual(g, SkeletonParameters.growingStride, "the GPU default differs from the CPU one in the stride only")
    }

    func testBadParametersThrow() {
        var p = SkeletonParameters.growingStride
        p.minStride = 0  // would never end doubling: refused before the stride is computed
        XCTAssertThrowsError(try p.validate(tokens: 100))
        p = SkeletonParameters(); p.fixedStride = 1
        XCTAssertThrowsError(try p.validate(tokens: 100))
        p = SkeletonParameters(); p.lastRows = 0
        XCTAssertThrowsError(try p.validate(tokens: 100))
        XCTAssertNoThrow(try SkeletonParameters().validate(tokens: 100))
    }

    /// FNV-1a over the CSR arrays: a stable fingerprint of a mask.
    static func fingerprint(_ m: BlockMask) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in m.rowOffsets + [-1] + m.keyBlockIndices { h = (h ^ UInt64(UInt32(bitPattern: x))) &* 0x100_0000_01b3 }
        return h
    }

    /// The CPU estimator with default parameters but the local band off gives the masks it gave before
    /// `SkeletonParameters`: kept tiles and fingerprints were computed with the former `SkeletonEstimator`
    /// (its own properties, `probeStride = 32`) on this seeded input, in debug and release builds alike.
    func testBandOffMasksAreUnchanged() throws {
        let x = try StructuredAttentionGenerator(.init(tokens: 1024, queryHeads: 4, kvHeads: 2, headDim: 64, seed: 7)).inputs()
        let g = try TileGeometry(tokens: 1024, queryTile: 64, keyTile: 64)
        var bandOff = SkeletonParameters(); bandOff.alwaysKeep = .standard
        let eb = try SkeletonEstimator(parameters: bandOff).estimate(x, geometry: g, target: .errorBound(epsilon: 0.05))
        XCTAssertEqual(eb.mask.keptTiles, 284)
        XCTAssertEqual(Self.fingerprint(eb.mask), 13_072_898_823_376_251_079)
        // the recalls to float rounding (the calibration's summation order changed; the masks did not)
        for (got, want) in zip(eb.estimatedRecall ?? [], [0.9713186330236903, 0.9715203753180611, 0.9649517986086066, 0.9624424445692057]) {
            XCTAssertEqual(got, want, accuracy: 1e-6)
        }
        XCTAssertEqual(eb.estimatedRecall?.count, 4)
        let budget = try SkeletonEstimator(parameters: bandOff).estimate(x, geometry: g, target: .density(0.3))
        XCTAssertEqual(budget.mask.keptTiles, 163)
        XCTAssertEqual(Self.fingerprint(budget.mask), 11_743_474_082_689_845_734)
        var shared = bandOff; shared.shareGroupMask = true; shared.fixedStride = 16
        let s = try SkeletonEstimator(parameters: shared).estimate(x, geometry: g, target: .errorBound(epsilon: 0.05))
        XCTAssertEqual(s.mask.keptTiles, 380)
        XCTAssertEqual(Self.fingerprint(s.mask), 14_960_472_324_135_090_560)
        // The registry's skeleton is the default one, and the band only adds tiles where it reaches
        // beyond what the band-off mask kept.
        let r = try EstimatorRegistry.named("skeleton").estimate(x, geometry: g, target: .errorBound(epsilon: 0.05))
        XCTAssertEqual(r.mask, try SkeletonEstimator().estimate(x, geometry: g, target: .errorBound(epsilon: 0.05)).mask)
        for h in 0..<4 { for qb in 1..<g.queryBlocks { XCTAssertTrue(r.mask.contains(head: h, queryBlock: qb, keyBlock: qb - 1)) } }
    }
}

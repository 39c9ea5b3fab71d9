import XCTest
import Foundation
@testable import SparseSkeleton

final class GeneratorTests: XCTestCase {
    func testPRNGsMatchPublishedAlgorithms() {
        // SplitMix64 from state 0 starts 0xE220A8397B1DCDAF (the reference value of the published
        // algorithm); the xoshiro256** values come from an independent Python implementation of
        // Blackman & Vigna's reference code, seeded through SplitMix64(42).
        var sm = SplitMix64(seed: 0)
        XCTAssertEqual([sm.next(), sm.next(), sm.next()], [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
        var x = Xoshiro256StarStar(seed: 42)
        XCTAssertEqual((0..<4).map { _ in x.next() }, [0x1578_0B2E_0C2E_C716, 0x6104_D986_6D11_3A7E, 0xAE17_5332_39E4_99A1, 0xECB8_AD47_03B3_60A1])
        // the Gaussian stream has mean 0 and variance 1
        var g = Xoshiro256StarStar(seed: 9)
        let z = (0..<20000).map { _ in g.gaussian() }
        let mean = z.reduce(0, +) / 20000
        let variance = z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 20000
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
    }

    func testRoPEScoresDependOnOffsetOnlyAndMatchFloat64() throws {
        let d = 64, base = 10_000.0
        let a = (0..<d).map { _ in Float.random(in: -1...1) }, b = (0..<d).map { _ in Float.random(in: -1...1) }
        func rotated(_ x: [Float], at p: Int) throws -> [Float] {
            // token p of a [p+1, 1, d] buffer whose other rows are zero
            var buf = [Float](repeating: 0, count: (p + 1) * d)
            for e in 0..<d { buf[p * d + e] = x[e] }
            try RotaryEmbedding.apply(&buf, tokens: p + 1, heads: 1, headDim: d, base: base)
            return Array(buf[(p * d)...])
        }
        func dot(_ x: [Float], _ y: [Float]) -> Double { zip(x, y).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        let s1 = dot(try rotated(a, at: 30), try rotated(b, at: 7))
        let s2 = dot(try rotated(a, at: 130), try rotated(b, at: 107))
        XCTAssertEqual(s1, s2, accuracy: 1e-4)
        // direct float64 formula for one position
        let r = try rotated(a, at: 37)
        for c in 0..<(d / 2) {
            let th = 37 * pow(base, -2 * Double(c) / Double(d))
            XCTAssertEqual(Double(r[c]), Double(a[c]) * cos(th) - Double(a[c + 32]) * sin(th), accuracy: 1e-5)
            XCTAssertEqual(Double(r[c + 32]), Double(a[c]) * sin(th) + Double(a[c + 32]) * cos(th), accuracy: 1e-5)
        }
        var odd = [Float](repeating: 0, count: 3)
        XCTAssertThrowsError(try RotaryEmbedding.apply(&odd, tokens: 1, heads: 1, headDim: 3, base: base))
    }

    func testSameSeedSameBitsOtherSeedOtherBits() throws {
        let config = StructuredAttentionGenerator.Config(tokens: 600, queryHeads: 4, kvHeads: 2, seed: 11)
        let a = try StructuredAttentionGenerator(config).generate()
        let b = try StructuredAttentionGenerator(config).generate()
        XCTAssertEqual(a.q.floats().map(\.bitPattern), b.q.floats().map(\.bitPattern))
        XCTAssertEqual(a.k.floats().map(\.bitPattern), b.k.floats().map(\.bitPattern))
        XCTAssertEqual(a.v.floats().map(\.bitPattern), b.v.floats().map(\.bitPattern))
        var other = config; other.seed = 12
        let c = try StructuredAttentionGenerator(other).generate()
        XCTAssertNotEqual(a.k.floats(), c.k.floats())
        XCTAssertTrue(a.q.floats().allSatisfy(\.isFinite))
    }

    func testShapesAndDTypes() throws {
        let f32 = try StructuredAttentionGenerator(.init(tokens: 130, queryHeads: 2, kvHeads: 1, headDim: 128, seed: 3)).generate()
        XCTAssertEqual([f32.q.tokens, f32.q.heads, f32.q.headDim], [130, 2, 128])
        XCTAssertEqual([f32.k.tokens, f32.k.heads, f32.k.headDim], [130, 1, 128])
        XCTAssertEqual([f32.v.tokens, f32.v.heads, f32.v.headDim], [130, 1, 128])
        for dtype in [DType.f16, .bf16] {
            let t = try StructuredAttentionGenerator(.init(tokens: 130, queryHeads: 2, kvHeads: 1, headDim: 128, dtype: dtype, seed: 3)).generate()
            XCTAssertEqual(t.q.dtype, dtype)
            // the same numbers, rounded to the dtype
            let rounded = f32.q.floats().map { dtype == .bf16 ? HalfBits.bf16ToFloat(HalfBits.floatToBF16($0)) : HalfBits.f16ToFloat(HalfBits.floatToF16($0)) }
            XCTAssertEqual(t.q.floats(), rounded)
        }
        let x = try StructuredAttentionGenerator(.init(tokens: 64, headDim: 256)).inputs()
        XCTAssertEqual(x.shape, try AttentionShape(tokens: 64, queryHeads: 9, kvHeads: 3, headDim: 256))
    }

    func testBadConfigsAreRejected() {
        XCTAssertThrowsError(try StructuredAttentionGenerator(.init(tokens: 0))) { XCTAssertEqual($0 as? SkeletonError, .emptySequence("the attention input")) }
        XCTAssertThrowsError(try StructuredAttentionGenerator(.init(tokens: 10, queryHeads: 5, kvHeads: 2))) {
            XCTAssertEqual($0 as? SkeletonError, .headsNotDivisible(queryHeads: 5, kvHeads: 2))
        }
        XCTAssertThrowsError(try StructuredAttentionGenerator(.init(tokens: 10, headDim: 96)))
        XCTAssertThrowsError(try StructuredAttentionGenerator(.init(tokens: 10, sinkTokens: 11))) { XCTAssertTrue("\($0)".contains("sink")) }
        XCTAssertThrowsError(try StructuredAttentionGenerator(.init(tokens: 10, ropeBase: 1))) { XCTAssertTrue("\($0)".contains("RoPE")) }
        XCTAssertThrowsError(try StructuredAttentionGenerator(.init(tokens: 10, clusters: 0))) { XCTAssertTrue("\($0)".contains("clusters")) }
        XCTAssertThrowsError(try StructuredAttentionGenerator(.init(tokens: 10, slashPeriod: 1))) { XCTAssertTrue("\($0)".contains("slash")) }
    }

    /// The planted sinks must actually draw attention: measured with the exact block masses, the
    /// share of key block 0 (which holds the sinks) far exceeds both the uniform share and the same
    /// data generated without sinks (salient tokens off in both, so block 0 differs only by them). The diffuse profile must need more tiles than the concentrated one.
    func testPlantedSinksGetAttentionMass() throws {
        let n = 512
        func blockZeroShare(sinks: Int) throws -> (share: [Double], uniform: Double, table: BlockMassTable) {
            let x = try StructuredAttentionGenerator(.init(tokens: n, queryHeads: 4, kvHeads: 2, seed: 5, sinkTokens: sinks, salientTokens: 0)).inputs()
            let g = try TileGeometry(tokens: n)
            let table = try ExactAttentionMass.compute(x, geometry: g).masses
            let blocks = 2..<g.queryBlocks
            let share = (0..<4).map { h in blocks.reduce(0.0) { $0 + table.fraction(head: h, queryBlock: $1, keyBlock: 0) } / Double(blocks.count) }
            let uniform = blocks.reduce(0.0) { $0 + 1 / Double($1 + 1) } / Double(blocks.count)
            return (share, uniform, table)
        }
        let with = try blockZeroShare(sinks: 4), without = try blockZeroShare(sinks: 0)
        // head 0 has the concentrated sink+local profile
        XCTAssertGreaterThan(with.share[0], 2 * with.uniform, "sink head: \(with.share[0]) vs uniform \(with.uniform)")
        XCTAssertGreaterThan(with.share[0], 3 * without.share[0], "with sinks \(with.share[0]) vs without \(without.share[0])")
        // tiles needed for 90% of each query block's mass: diffuse head 3 needs more than head 0
        func tilesFor90(_ h: Int) -> Int {
            (0..<with.table.geometry.queryBlocks).reduce(0) { total, qb in
                var acc = 0.0, kept = 0
                for m in with.table.row(head: h, queryBlock: qb).sorted(by: >) where acc < 0.9 * Double(with.table.geometry.queryRows(qb).count) {
                    acc += m; kept += 1
                }
                return total + kept
            }
        }
        XCTAssertGreaterThan(tilesFor90(3), tilesFor90(0))
    }
}

import XCTest
@testable import SparseSkeletonModel

/// Each test draws random logical contents (scales, mins, quants), packs them into a block
/// following the format description, dequantises, and compares with the format's formula
/// evaluated in Double here.
final class DequantizerTests: XCTestCase {
    var rng = SystemRandomNumberGenerator()

    /// f16-rounded value, as the block stores it.
    func h(_ v: Float) -> Double { Double(Float(Float16(v))) }

    func check(_ got: [Float], _ expected: [Double], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, expected.count, what, file: file, line: line)
        let scale = max(expected.map(abs).max() ?? 1, 1e-3)
        let worst = zip(got, expected).map { abs(Double($0) - $1) }.max() ?? 0
        XCTAssertLessThan(worst / scale, 1e-5, "\(what): max relative error \(worst / scale)", file: file, line: line)
    }

    func dequant(_ bytes: [UInt8], _ type: GGMLType, _ count: Int) throws -> [Float] {
        try bytes.withUnsafeBytes { try Dequantizer.dequantize($0, type: type, count: count) }
    }

    func testFloatFormats() throws {
        let v = (0..<8).map { _ in Float.random(in: -100...100, using: &rng) }
        check(try dequant(v.flatMap(BlockBytes.f32), .f32, 8), v.map(Double.init), "F32")
        check(try dequant(v.flatMap(BlockBytes.f16), .f16, 8), v.map(h), "F16")
        let bf = v.map { UInt16($0.bitPattern >> 16) }  // truncation is a valid bf16 value
        check(try dequant(bf.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, .bf16, 8),
              bf.map { Double(Float(bitPattern: UInt32($0) << 16)) }, "BF16")
    }

    func testQ4_0AndQ4_1() throws {
        for _ in 0..<3 {
            let d = Float.random(in: 0.001...1, using: &rng), m = Float.random(in: -2...2, using: &rng)
            let q = (0..<32).map { _ in UInt8.random(in: 0...15, using: &rng) }
            let packed = (0..<16).map { q[$0] | (q[$0 + 16] << 4) }
            check(try dequant(BlockBytes.f16(d) + packed, .q4_0, 32), q.map { (Double($0) - 8) * h(d) }, "Q4_0")
            check(try dequant(BlockBytes.f16(d) + BlockBytes.f16(m) + packed, .q4_1, 32),
                  q.map { Double($0) * h(d) + h(m) }, "Q4_1")
        }
    }

    /// Packs eight 6-bit scales and mins the K-quant way (see `Dequantizer.scaleMinK4`).
    func packScalesMins(_ sc: [UInt8], _ mn: [UInt8]) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 12)
        for j in 0..<4 { b[j] = sc[j] & 63; b[j + 4] = mn[j] & 63 }
        for j in 4..<8 {
            b[j + 4] = (sc[j] & 0x0F) | ((mn[j] & 0x0F) << 4)
            b[j - 4] |= (sc[j] >> 4) << 6
            b[j] |= (mn[j] >> 4) << 6
        }
        return b
    }

    func testQ4_KAndQ5_K() throws {
        for _ in 0..<3 {
            let d = Float.random(in: 0.0001...0.05, using: &rng), dmin = Float.random(in: 0.0001...0.05, using: &rng)
            let sc = (0..<8).map { _ in UInt8.random(in: 0...63, using: &rng) }
            let mn = (0..<8).map { _ in UInt8.random(in: 0...63, using: &rng) }
            let q = (0..<256).map { _ in UInt8.random(in: 0...31, using: &rng) }  // 5-bit; Q4_K uses the low 4
            // value i is in sub-block s = i/32, chunk c = s/2, nibble s%2, byte qs[32c + i%32]
            var qs4 = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 32)
            for i in 0..<256 {
                let s = i / 32, l = i % 32
                qs4[32 * (s / 2) + l] |= (q[i] & 0x0F) << (s % 2 == 0 ? 0 : 4)
                if q[i] & 16 != 0 { qh[l] |= UInt8(1) << UInt8(s) }
            }
            let head = BlockBytes.f16(d) + BlockBytes.f16(dmin) + packScalesMins(sc, mn)
            check(try dequant(head + qs4, .q4_K, 256),
                  (0..<256).map { h(d) * Double(sc[$0 / 32]) * Double(q[$0] & 0x0F) - h(dmin) * Double(mn[$0 / 32]) }, "Q4_K")
            check(try dequant(head + qh + qs4, .q5_K, 256),
                  (0..<256).map { h(d) * Double(sc[$0 / 32]) * Double(q[$0]) - h(dmin) * Double(mn[$0 / 32]) }, "Q5_K")
        }
    }

    func testQ6_K() throws {
        for _ in 0..<3 {
            let d = Float.random(in: 0.0001...0.05, using: &rng)
            let scales = (0..<16).map { _ in Int8.random(in: -128...127, using: &rng) }
            let q = (0..<256).map { _ in Int.random(in: -32...31, using: &rng) }
            var ql = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 64)
            var expected = [Double](repeating: 0, count: 256)
            for i in 0..<256 {
                let half = i / 128, k = (i % 128) / 32, l = i % 32
                let u = UInt8(q[i] + 32)
                ql[64 * half + l + (k % 2 == 1 ? 32 : 0)] |= (u & 0x0F) << (k >= 2 ? 4 : 0)
                qh[32 * half + l] |= (u >> 4) << UInt8(2 * k)
                expected[i] = h(d) * Double(scales[8 * half + l / 16 + 2 * k]) * Double(q[i])
            }
            let block = ql + qh + scales.map { UInt8(bitPattern: $0) } + BlockBytes.f16(d)
            check(try dequant(block, .q6_K, 256), expected, "Q6_K")
        }
    }

    func testMultipleBlocksAndBadSizes() throws {
        // Two Q8_0 blocks: the second must land at values 32..<64.
        let ints = (0..<64).map { _ in Int8.random(in: -127...127, using: &rng) }
        let d = [Float(0.5), Float(0.125)]
        let bytes = BlockBytes.f16(d[0]) + ints[0..<32].map { UInt8(bitPattern: $0) } + BlockBytes.f16(d[1]) + ints[32...].map { UInt8(bitPattern: $0) }
        check(try dequant(bytes, .q8_0, 64), (0..<64).map { Double(ints[$0]) * Double(d[$0 / 32]) }, "Q8_0 ×2")
        XCTAssertThrowsError(try dequant(bytes, .q8_0, 48))
        XCTAssertThrowsError(try dequant(Array(bytes.prefix(40)), .q8_0, 64))
    }
}

import XCTest
@testable import SparseSkeleton

/// The CPU e4m3 reference (the FP8 kernel's and quantiser's twin): codes, rounding, saturation, the V key order.
final class E4M3Tests: XCTestCase {
    func testEveryFiniteCodeDecodesAndEncodesBack() {
        var finite = 0
        for c in 0...255 {
            let x = E4M3.decode(UInt8(c))
            if c & 0x7F == 0x7F { XCTAssertTrue(x.isNaN, "code \(c)"); continue }
            finite += 1
            XCTAssertEqual(E4M3.encode(x), c == 0x80 ? 0x80 : UInt8(c), "code \(c) = \(x)")
        }
        XCTAssertEqual(finite, 254)
        XCTAssertEqual(E4M3.decode(0x7E), 448); XCTAssertEqual(E4M3.decode(0x38), 1); XCTAssertEqual(E4M3.decode(0x01), 0x1p-9)
        XCTAssertEqual(E4M3.decode(0x08), 0x1p-6); XCTAssertEqual(E4M3.decode(0x07), 7 * 0x1p-9); XCTAssertEqual(E4M3.decode(0xB8), -1)
    }

    func testRoundsToNearestEvenAndSaturates() {
        XCTAssertEqual(E4M3.encode(1.0625), 0x38)  // halfway 1 ↔ 1.125: the even mantissa (1)
        XCTAssertEqual(E4M3.encode(1.1875), 0x3A)  // halfway 1.125 ↔ 1.25: 1.25
        XCTAssertEqual(E4M3.encode(1.07), 0x39)
        XCTAssertEqual(E4M3.encode(1.96875), 0x40)  // halfway 1.9375 ↔ 2, rounds up into the next binade
        XCTAssertEqual(E4M3.encode(1.5 * 0x1p-9), 0x02)  // subnormal halfway 1 ↔ 2: 2
        XCTAssertEqual(E4M3.encode(0.5 * 0x1p-9), 0x00)  // halfway 0 ↔ 1: 0
        XCTAssertEqual(E4M3.encode(464), 0x7E); XCTAssertEqual(E4M3.encode(1e9), 0x7E); XCTAssertEqual(E4M3.encode(-.infinity), 0xFE)
        XCTAssertEqual(E4M3.encode(.nan), 0x7F)
        XCTAssertEqual(E4M3.encode(-0.0), 0x80)
        var rng = SplitMix64(seed: 3)
        for _ in 0..<2000 {  // the nearest code, always
            let x = Float.random(in: -500...500, using: &rng) * (Bool.random(using: &rng) ? 1 : 0.001)
            let y = E4M3.decode(E4M3.encode(x))
            let best = (0...255).map { E4M3.decode(UInt8($0)) }.filter { !$0.isNaN }.map { abs($0 - min(max(x, -448), 448)) }.min() ?? 0
            XCTAssertEqual(abs(y - min(max(x, -448), 448)), best, accuracy: 0, "x = \(x)")
        }
    }

    func testScaleMapsTheHeadMaximumTo448() {
        XCTAssertEqual(E4M3.scale(amax: 0).scale, 1)
        XCTAssertTrue(E4M3.scale(amax: .infinity).scale.isNaN); XCTAssertTrue(E4M3.scale(amax: .nan).inverse.isNaN)
        let q = E4M3Quantized(values: [0.5, -3, 2, 1, 0, 0, 0, 0], tokens: 2, heads: 2, headDim: 2)
        XCTAssertEqual(q.scales, [3 / 448, 2 / 448])
        XCTAssertEqual(q.codes[1], 0xFE); XCTAssertEqual(q.codes[2], 0x7E)  // each head's |max| is ±448
        XCTAssertEqual(q.codes[4], 0); XCTAssertEqual(q.codes[0], E4M3.encode(0.5 * (448 / 3)))
    }

    /// Position k of a group of 32 holds the key a thread's A-fragment byte k reads in the P V MMA: bytes 4t..4t+3
    /// of thread t are its accumulator columns 2t, 2t+1, 2t+8, 2t+9 (then the same +16).
    func testTransposedVKeyOrderIsTheRegisterOrder() {
        XCTAssertEqual(Set((0..<32).map(E4M3.keyOfPosition)), Set(0..<32))
        for t in 0..<4 {
            XCTAssertEqual((0..<4).map { E4M3.keyOfPosition(4 * t + $0) }, [2 * t, 2 * t + 1, 2 * t + 8, 2 * t + 9])
            XCTAssertEqual((0..<4).map { E4M3.keyOfPosition(16 + 4 * t + $0) }, [16 + 2 * t, 17 + 2 * t, 24 + 2 * t, 25 + 2 * t])
        }
        // V [3 keys][1 head][2 dims] transposed into rows of 32 padded keys
        let v: [Float] = [1, 2, 3, 4, 5, 6]
        let q = E4M3Quantized(values: v, tokens: 3, heads: 1, headDim: 2, transposedTo: 32)
        XCTAssertEqual(q.codes.count, 64)
        let inv = 448 / Float(6)
        XCTAssertEqual(q.codes[0], E4M3.encode(1 * inv)); XCTAssertEqual(q.codes[1], E4M3.encode(3 * inv))  // keys 0, 1 at positions 0, 1
        XCTAssertEqual(q.codes[4], E4M3.encode(5 * inv))  // key 2 at position 4
        XCTAssertEqual(q.codes[32], E4M3.encode(2 * inv)); XCTAssertEqual(q.codes[36], 0x7E)  // dim 1
        XCTAssertEqual(q.codes.enumerated().filter { $0.element != 0 }.count, 6)  // padding keys are zero
    }
}

import SparseSkeleton

/// Deterministic byte-level mutations of seed files: bit flips, interesting bytes, overwritten
/// little-endian length fields, decimal numbers in text headers, truncation, deletion, insertion,
/// duplication and splices of two seeds. The same seed gives the same sequence of inputs.
struct Mutator {
    var rng: Xoshiro256StarStar
    let maxLength: Int

    init(seed: UInt64, maxLength: Int) {
        rng = Xoshiro256StarStar(seed: seed)
        self.maxLength = maxLength
    }

    static let interestingIntegers: [UInt64] = [
        0, 1, 2, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 4095, 4096, 65535, 65536,
        0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32, 1 << 40, 1 << 50, 1 << 58, 1 << 62,
        UInt64(Int64.max), 1 << 63, UInt64.max, UInt64.max - 1, 100_000_000, 100_000_001,
    ]
    static let interestingDecimals = [
        "0", "1", "-1", "-0", "1.0", "1.5", "1e3", "2E1", "00", "64", "4096", "65536", "288230376151711744",
        "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616",
        "99999999999999999999999", "", " ", "null", "true", "\"x\"", "[]", "{}",
    ]
    static let structural: [UInt8] = Array("{}[](),:\"'\\ -.e0\n".utf8)

    mutating func int(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }
    mutating func chance(_ oneIn: Int) -> Bool { int(oneIn) == 0 }

    /// One mutated input from `seeds` (1 to 4 stacked mutations of one seed, sometimes spliced).
    mutating func next(from seeds: [[UInt8]]) -> [UInt8] {
        var b = seeds[int(seeds.count)]
        let rounds = 1 + int(4)
        for _ in 0..<rounds { mutate(&b, seeds) }
        if b.count > maxLength { b.removeLast(b.count - maxLength) }
        return b
    }

    mutating func mutate(_ b: inout [UInt8], _ seeds: [[UInt8]]) {
        switch int(12) {
        case 0, 1:  // bit flips
            guard !b.isEmpty else { return }
            for _ in 0..<(1 + int(4)) { b[int(b.count)] ^= UInt8(1) << UInt8(int(8)) }
        case 2:  // an interesting byte
            guard !b.isEmpty else { return }
            b[int(b.count)] = [0, 1, 0x7F, 0x80, 0xFF, 0x20, 0x22, 0x5C][int(8)]
        case 3, 4:  // a length/offset/count field: 2, 4 or 8 little-endian bytes
            let width = [2, 4, 8, 8][int(4)]
            guard b.count >= width else { return }
            // length fields in these formats sit mostly at 4- or 8-byte aligned offsets near the start
            var at = chance(2) ? int(min(b.count, 512) - width + 1) : int(b.count - width + 1)
            if chance(2) { at -= at % width }
            var old: UInt64 = 0
            for i in 0..<width { old |= UInt64(b[at + i]) << (8 * UInt64(i)) }
            let choices = Self.interestingIntegers + [old &+ 1, old &- 1, old &* 2, old / 2, old &+ UInt64(int(64))]
            let v = choices[int(choices.count)]
            for i in 0..<width { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
        case 5:  // a decimal number in a text header
            let digitRuns = runs(of: b, where: { (48...57).contains($0) })
            guard !digitRuns.isEmpty else { return }
            let r = digitRuns[int(digitRuns.count)]
            b.replaceSubrange(r, with: Array(Self.interestingDecimals[int(Self.interestingDecimals.count)].utf8))
        case 6:  // a structural character in a text header
            let at = int(min(b.count, 4096) + 1)
            if chance(2), at < b.count { b[at] = Self.structural[int(Self.structural.count)] } else { b.insert(Self.structural[int(Self.structural.count)], at: min(at, b.count)) }
        case 7:  // truncate
            guard !b.isEmpty else { return }
            b.removeLast(1 + int(b.count))
        case 8:  // delete a range
            guard b.count > 1 else { return }
            let start = int(b.count), length = 1 + int(min(64, b.count - start))
            b.removeSubrange(start..<min(b.count, start + length))
        case 9:  // insert random bytes or repeat a range
            let at = int(b.count + 1)
            if chance(2) || b.isEmpty {
                b.insert(contentsOf: (0..<(1 + int(16))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            } else {
                let start = int(b.count), length = 1 + int(min(256, b.count - start))
                b.insert(contentsOf: Array(b[start..<min(b.count, start + length)]), at: at)
            }
        case 10:  // splice with another seed
            let other = seeds[int(seeds.count)]
            guard !other.isEmpty else { return }
            let cut = int(b.count + 1), from = int(other.count)
            b = Array(b[..<cut]) + Array(other[from...])
        default:  // copy a range over another place
            guard b.count > 2 else { return }
            let src = int(b.count), dst = int(b.count), length = 1 + int(min(32, b.count - max(src, dst)))
            let chunk = Array(b[src..<min(b.count, src + length)])
            for (i, v) in chunk.enumerated() where dst + i < b.count { b[dst + i] = v }
        }
    }

    func runs(of b: [UInt8], where p: (UInt8) -> Bool) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        let limit = min(b.count, 8192)
        while i < limit {
            if p(b[i]) {
                let s = i
                while i < limit, p(b[i]) { i += 1 }
                out.append(s..<i)
            } else { i += 1 }
        }
        return out
    }
}

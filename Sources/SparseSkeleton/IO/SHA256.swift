import Foundation

/// SHA-256 (FIPS 180-4), streaming: `update` any number of times, then `hexDigest`. Used for the
/// capture manifest (model and text identity) and the kernel cache's entry check.
public struct SHA256: Sendable {
    /// First 32 bits of the fractional parts of the square roots of the first 8 primes.
    private static let initial: [UInt32] = primes.prefix(8).map { fraction32(Double($0).squareRoot()) }
    /// First 32 bits of the fractional parts of the cube roots of the first 64 primes.
    private static let roundConstants: [UInt32] = primes.map { fraction32(Foundation.cbrt(Double($0))) }

    private static let primes: [Int] = {
        var out: [Int] = [], n = 2
        while out.count < 64 {
            if !out.contains(where: { n % $0 == 0 }) { out.append(n) }
            n += 1
        }
        return out
    }()

    private static func fraction32(_ x: Double) -> UInt32 { UInt32((x - x.rounded(.down)) * 4_294_967_296) }

    private var state = SHA256.initial
    private var pending: [UInt8] = []
    private var byteCount: UInt64 = 0

    public init() { pending.reserveCapacity(64) }

    public mutating func update<D: DataProtocol>(_ data: D) {
        for region in data.regions { region.withUnsafeBytes { update(raw: $0) } }
    }

    public mutating func update(raw bytes: UnsafeRawBufferPointer) {
        byteCount &+= UInt64(bytes.count)
        var i = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, bytes.count)
            pending.append(contentsOf: bytes[0..<take])
            i = take
            guard pending.count == 64 else { return }
            pending.withUnsafeBytes { compress(UnsafeRawBufferPointer(rebasing: $0[0..<64])) }
            pending.removeAll(keepingCapacity: true)
        }
        while bytes.count - i >= 64 {
            compress(UnsafeRawBufferPointer(rebasing: bytes[i..<(i + 64)]))
            i += 64
        }
        if i < bytes.count { pending.append(contentsOf: bytes[i...]) }
    }

    /// The digest as 64 lowercase hex digits; the hasher is consumed (copy it to go on).
    public func hexDigest() -> String {
        var h = self
        let bits = byteCount &* 8
        var tail: [UInt8] = [0x80]
        while (h.pending.count + tail.count) % 64 != 56 { tail.append(0) }
        for s in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bits >> UInt64(s))) }
        let count = h.byteCount
        tail.withUnsafeBytes { h.update(raw: $0) }
        h.byteCount = count
        return h.state.map { w in let s = String(w, radix: 16); return String(repeating: "0", count: 8 - s.count) + s }.joined()
    }

    private mutating func compress(_ block: UnsafeRawBufferPointer) {
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
        var a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7]
        Self.roundConstants.withUnsafeBufferPointer { k in
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
                for t in 0..<16 {
                    w[t] = UInt32(block[4 * t]) << 24 | UInt32(block[4 * t + 1]) << 16 | UInt32(block[4 * t + 2]) << 8 | UInt32(block[4 * t + 3])
                }
                for t in 16..<64 {
                    let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                    let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                    w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                }
                for t in 0..<64 {
                    let t1 = h &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ k[t] &+ w[t]
                    let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
                    h = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
                }
            }
        }
        state[0] &+= a; state[1] &+= b; state[2] &+= c; state[3] &+= d
        state[4] &+= e; state[5] &+= f; state[6] &+= g; state[7] &+= h
    }

    /// The digest of some bytes.
    public static func hex<D: DataProtocol>(_ data: D) -> String {
        var h = SHA256()
        h.update(data)
        return h.hexDigest()
    }

    /// The digest of a file's contents, read in 1 MiB pieces (the file is never held whole).
    public static func hex(file path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw SkeletonError.fileUnreadable(path: path, reason: "cannot open to hash it")
        }
        defer { try? handle.close() }
        var h = SHA256()
        while true {
            let chunk: Data
            do { chunk = try handle.read(upToCount: 1 << 20) ?? Data() } catch {
                throw SkeletonError.fileUnreadable(path: path, reason: error.localizedDescription)
            }
            if chunk.isEmpty { break }
            h.update(chunk)
        }
        return h.hexDigest()
    }
}

/// Q5_0 (32 values, 22 B): d:f16, qh:u32 (little-endian), qs[16]. Value j < 16 is the low nibble
/// of qs[j] with bit j of qh as its fifth bit; value j + 16 the high nibble with bit j + 16;
/// x = (q − 16)·d.
extension Dequantizer {
    static func decodeQ5_0(_ s: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(s, 0)
        let qh = UInt32(littleEndian: s.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        for j in 0..<16 {
            let q = byte(s, 6 + j)
            let lo = Int(q & 0x0F) | Int((qh >> UInt32(j)) & 1) << 4
            let hi = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = Float(lo - 16) * d
            y[j + 16] = Float(hi - 16) * d
        }
    }
}

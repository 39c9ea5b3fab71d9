import Dispatch
import SparseSkeleton

/// Dequantisation of GGML blocks to Float. Each routine decodes one block from `src` into
/// `dst[0..<blockSize]`; the layouts and formulas follow the GGML format description:
///
/// - Q4_0 (32 values, 18 B): d:f16, qs[16]. Value j < 16 is the low nibble of qs[j], value j+16
///   its high nibble; x = (q − 8)·d.
/// - Q4_1 (32, 20 B): d:f16, m:f16, qs[16], nibbles as Q4_0; x = q·d + m.
/// - Q8_0 (32, 34 B): d:f16, qs:int8[32]; x = q·d.
/// - Q4_K (256, 144 B): d, dmin:f16, scales[12], qs[128]. Eight sub-blocks of 32 with a 6-bit
///   scale sc and 6-bit min m each; x = d·sc·q − dmin·m. Sub-blocks 2c and 2c+1 use the low and
///   high nibbles of qs[32c ..< 32c+32].
/// - Q5_K (256, 176 B): as Q4_K with qh[32] after the scales; value l of sub-block s gains
///   16 when bit s of qh[l] is set.
/// - Q6_K (256, 210 B): ql[128], qh[64], scales:int8[16], d:f16. Two halves of 128; in each,
///   value l+32k (k = 0…3, l < 32) is a 6-bit q = (low nibble of ql) | (2 bits of qh) << 4, minus
///   32; x = d·scale[l/16 + 2k]·q.
public enum Dequantizer {
    /// Dequantises `count` values (a whole number of blocks) of `type` from `raw`.
    public static func dequantize(_ raw: UnsafeRawBufferPointer, type: GGMLType, count: Int) throws -> [Float] {
        guard count % type.blockSize == 0 else {
            throw ModelError.invalidRequest("\(count) values is not a whole number of \(type.name) blocks of \(type.blockSize)")
        }
        let blocks = count / type.blockSize
        guard raw.count >= blocks * type.blockBytes else {
            throw ModelError.invalidRequest("\(type.name): \(blocks) blocks need \(blocks * type.blockBytes) bytes, got \(raw.count)")
        }
        guard let decode = blockDecoder(type) else {
            throw ModelError.unsupportedQuantType(tensor: "(block)", typeID: type.id, typeName: type.name)
        }
        var out = [Float](repeating: 0, count: count)
        guard count > 0, let base = raw.baseAddress else { return out }
        out.withUnsafeMutableBufferPointer { dst in
            let dstBase = dst.baseAddress!
            // Chunks of blocks across cores; large tensors dominate load time.
            let chunk = max(1, 65536 / type.blockSize)
            let chunks = (blocks + chunk - 1) / chunk
            let work = { (c: Int) in
                let lo = c * chunk, hi = min(blocks, lo + chunk)
                for b in lo..<hi {
                    decode(base + b * type.blockBytes, dstBase + b * type.blockSize)
                }
            }
            if chunks > 1 { DispatchQueue.concurrentPerform(iterations: chunks, execute: work) } else { work(0) }
        }
        return out
    }

    typealias BlockDecoder = (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void

    static func blockDecoder(_ type: GGMLType) -> BlockDecoder? {
        switch type.id {
        case GGMLType.f32.id: return { s, d in d[0] = Float(bitPattern: UInt32(littleEndian: s.loadUnaligned(as: UInt32.self))) }
        case GGMLType.f16.id: return { s, d in d[0] = half(s, 0) }
        case GGMLType.bf16.id: return { s, d in d[0] = HalfBits.bf16ToFloat(UInt16(littleEndian: s.loadUnaligned(as: UInt16.self))) }
        case GGMLType.q4_0.id: return decodeQ4_0
        case GGMLType.q4_1.id: return decodeQ4_1
        case GGMLType.q5_0.id: return decodeQ5_0
        case GGMLType.q8_0.id: return decodeQ8_0
        case GGMLType.q4_K.id: return decodeQ4_K
        case GGMLType.q5_K.id: return decodeQ5_K
        case GGMLType.q6_K.id: return decodeQ6_K
        default: return nil
        }
    }

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        HalfBits.f16ToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }
    @inline(__always) static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    static func decodeQ4_0(_ s: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(s, 0)
        for j in 0..<16 {
            let q = byte(s, 2 + j)
            y[j] = Float(Int(q & 0x0F) - 8) * d
            y[j + 16] = Float(Int(q >> 4) - 8) * d
        }
    }

    static func decodeQ4_1(_ s: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(s, 0), m = half(s, 2)
        for j in 0..<16 {
            let q = byte(s, 4 + j)
            y[j] = Float(q & 0x0F) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }

    static func decodeQ8_0(_ s: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(s, 0)
        for j in 0..<32 { y[j] = Float(s.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
    }

    /// The 6-bit (scale, min) of sub-block j (0…7) from the 12 packed bytes of Q4_K/Q5_K:
    /// sub-blocks 0–3 keep them in the low 6 bits of bytes j and j+4; sub-blocks 4–7 keep the low
    /// 4 bits in byte j+4 (scale: low nibble, min: high nibble) and the top 2 bits in the top
    /// bits of bytes j−4 (scale) and j (min).
    @inline(__always) static func scaleMinK4(_ j: Int, _ sc: UnsafeRawPointer) -> (Float, Float) {
        if j < 4 {
            return (Float(byte(sc, j) & 63), Float(byte(sc, j + 4) & 63))
        }
        let scale = (byte(sc, j + 4) & 0x0F) | ((byte(sc, j - 4) >> 6) << 4)
        let min = (byte(sc, j + 4) >> 4) | ((byte(sc, j) >> 6) << 4)
        return (Float(scale), Float(min))
    }

    static func decodeQ4_K(_ s: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(s, 0), dmin = half(s, 2)
        let scales = s + 4, qs = s + 16
        for c in 0..<4 {  // 64 values per chunk: two sub-blocks
            let (sc1, m1) = scaleMinK4(2 * c, scales), (sc2, m2) = scaleMinK4(2 * c + 1, scales)
            for l in 0..<32 {
                let q = byte(qs, 32 * c + l)
                y[64 * c + l] = d * sc1 * Float(q & 0x0F) - dmin * m1
                y[64 * c + 32 + l] = d * sc2 * Float(q >> 4) - dmin * m2
            }
        }
    }

    static func decodeQ5_K(_ s: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(s, 0), dmin = half(s, 2)
        let scales = s + 4, qh = s + 16, qs = s + 48
        for c in 0..<4 {
            let (sc1, m1) = scaleMinK4(2 * c, scales), (sc2, m2) = scaleMinK4(2 * c + 1, scales)
            let bitLo = UInt8(1) << UInt8(2 * c), bitHi = UInt8(1) << UInt8(2 * c + 1)
            for l in 0..<32 {
                let q = byte(qs, 32 * c + l), h = byte(qh, l)
                let lo = Int(q & 0x0F) + ((h & bitLo) != 0 ? 16 : 0)
                let hi = Int(q >> 4) + ((h & bitHi) != 0 ? 16 : 0)
                y[64 * c + l] = d * sc1 * Float(lo) - dmin * m1
                y[64 * c + 32 + l] = d * sc2 * Float(hi) - dmin * m2
            }
        }
    }

    static func decodeQ6_K(_ s: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let ql = s, qh = s + 128, scales = s + 192
        let d = half(s, 208)
        for half in 0..<2 {
            let l0 = 64 * half, h0 = 32 * half, s0 = 8 * half, y0 = 128 * half
            for l in 0..<32 {
                let a = byte(ql, l0 + l), b = byte(ql, l0 + l + 32), h = byte(qh, h0 + l)
                let q1 = Int((a & 0x0F) | ((h & 3) << 4)) - 32
                let q2 = Int((b & 0x0F) | (((h >> 2) & 3) << 4)) - 32
                let q3 = Int((a >> 4) | (((h >> 4) & 3) << 4)) - 32
                let q4 = Int((b >> 4) | (((h >> 6) & 3) << 4)) - 32
                let i = s0 + l / 16
                func sc(_ k: Int) -> Float { Float(scales.load(fromByteOffset: i + 2 * k, as: Int8.self)) }
                y[y0 + l] = d * sc(0) * Float(q1)
                y[y0 + l + 32] = d * sc(1) * Float(q2)
                y[y0 + l + 64] = d * sc(2) * Float(q3)
                y[y0 + l + 96] = d * sc(3) * Float(q4)
            }
        }
    }
}

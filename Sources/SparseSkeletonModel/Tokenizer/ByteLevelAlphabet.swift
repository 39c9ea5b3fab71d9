/// GPT-2's byte-level alphabet: every byte 0…255 is given a printable Unicode scalar so that
/// BPE vocabularies can be stored as text. Printable Latin-1 bytes (33…126, 161…172, 174…255)
/// stand for themselves; the other 68 bytes (controls, space, DEL, NBSP, soft hyphen) take the
/// scalars 256, 257, … in byte order — which is why a space appears as "Ġ" (U+0120) in the vocab.
enum ByteLevelAlphabet {
    /// scalar value standing for each byte
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// The inverse map, scalar value → byte.
    static let byteForScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in scalarForByte.enumerated() { map[s] = UInt8(b) }
        return map
    }()

    /// The vocabulary spelling of one raw byte.
    static func symbol(for byte: UInt8) -> String {
        String(Character(Unicode.Scalar(scalarForByte[Int(byte)])!))
    }
}

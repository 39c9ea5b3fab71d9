/// One GGUF metadata value. GGUF value type ids: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32,
/// 7 bool, 8 string, 9 array (element type + u64 count), 10 u64, 11 i64, 12 f64.
public indirect enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array([GGUFValue])

    /// Any integer type as Int (nil for non-integers or values that do not fit).
    public var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }
    /// Floats, and integers widened (a base of 10000 is sometimes stored as an integer).
    public var doubleValue: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return intValue.map(Double.init)
        }
    }
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [GGUFValue]? { if case .array(let a) = self { return a } else { return nil } }
}

extension ByteCursor {
    /// Reads a value of GGUF type `typeID`; arrays recurse (nested arrays are legal GGUF).
    mutating func readValue(typeID: UInt32, field: String, depth: Int = 0) throws -> GGUFValue {
        switch typeID {
        case 0: return .uint8(try read(UInt8.self, field))
        case 1: return .int8(try read(Int8.self, field))
        case 2: return .uint16(try read(UInt16.self, field))
        case 3: return .int16(try read(Int16.self, field))
        case 4: return .uint32(try read(UInt32.self, field))
        case 5: return .int32(try read(Int32.self, field))
        case 6: return .float32(try readFloat(field))
        case 7:
            let b = try read(UInt8.self, field)
            guard b <= 1 else { throw ModelError.corrupted(path: path, field: field, reason: "bool byte is \(b), not 0 or 1") }
            return .bool(b == 1)
        case 8: return .string(try readString(field))
        case 9:
            guard depth < 4 else { throw ModelError.corrupted(path: path, field: field, reason: "arrays nested deeper than 4") }
            let elementType = try read(UInt32.self, field + ".elementType")
            let n = try readCount(field + ".count", minBytesPerElement: 1)
            var out: [GGUFValue] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try readValue(typeID: elementType, field: "\(field)[\(i)]", depth: depth + 1)) }
            return .array(out)
        case 10: return .uint64(try read(UInt64.self, field))
        case 11: return .int64(try read(Int64.self, field))
        case 12: return .float64(try readDouble(field))
        default:
            throw ModelError.corrupted(path: path, field: field, reason: "unknown value type id \(typeID) (valid: 0...12)")
        }
    }
}

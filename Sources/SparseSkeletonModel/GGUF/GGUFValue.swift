import SparseSkeleton

/// One GGUF metadata value. GGUF value type ids: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32,
/// 7 bool, 8 string, 9 array (element type + u64 count), 10 u64, 11 i64, 12 f64.
public enum GGUFValue: Equatable, Sendable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFArray)

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
    public var arrayValue: GGUFArray? { if case .array(let a) = self { return a } else { return nil } }

    /// The value for messages, bounded: long strings are cut, arrays show their first elements and count.
    public var description: String {
        switch self {
        case .uint64(let v): return "\(v)"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        case .string(let v): return "'\(BoundedText.cut(v))'"
        case .array(let a): return a.description
        // every other case is an integer type that fits in Int (intValue): the same digits
        default: return intValue.map { "\($0)" } ?? ""
        }
    }
}

/// A GGUF metadata array, stored as one typed buffer (a byte array takes a byte per element, a
/// string array its bytes plus one end offset per string); elements are boxed as `GGUFValue` only
/// when read. Nested arrays (element type 9) keep a list of values.
public struct GGUFArray: RandomAccessCollection, Equatable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible {
    enum Storage: Sendable {
        case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16]), uint32([UInt32]), int32([Int32])
        case uint64([UInt64]), int64([Int64]), float32([UInt32]), float64([UInt64]), bool([UInt8])
        case strings(bytes: [UInt8], ends: [Int])
        case values([GGUFValue])
    }

    let storage: Storage

    init(_ storage: Storage) { self.storage = storage }
    public init(arrayLiteral elements: GGUFValue...) { storage = .values(elements) }
    public init(_ values: [GGUFValue]) { storage = .values(values) }

    public var startIndex: Int { 0 }
    public var endIndex: Int {
        switch storage {
        case .uint8(let a): return a.count
        case .int8(let a): return a.count
        case .uint16(let a): return a.count
        case .int16(let a): return a.count
        case .uint32(let a): return a.count
        case .int32(let a): return a.count
        case .uint64(let a): return a.count
        case .int64(let a): return a.count
        case .float32(let a): return a.count
        case .float64(let a): return a.count
        case .bool(let a): return a.count
        case .strings(_, let ends): return ends.count
        case .values(let a): return a.count
        }
    }

    public subscript(i: Int) -> GGUFValue {
        switch storage {
        case .uint8(let a): return .uint8(a[i])
        case .int8(let a): return .int8(a[i])
        case .uint16(let a): return .uint16(a[i])
        case .int16(let a): return .int16(a[i])
        case .uint32(let a): return .uint32(a[i])
        case .int32(let a): return .int32(a[i])
        case .uint64(let a): return .uint64(a[i])
        case .int64(let a): return .int64(a[i])
        case .float32(let a): return .float32(Float(bitPattern: a[i]))
        case .float64(let a): return .float64(Double(bitPattern: a[i]))
        case .bool(let a): return .bool(a[i] != 0)
        case .strings(let bytes, let ends):
            let start = i == 0 ? 0 : ends[i - 1]
            return .string(String(decoding: bytes[start..<ends[i]], as: UTF8.self))
        case .values(let a): return a[i]
        }
    }

    public static func == (a: GGUFArray, b: GGUFArray) -> Bool { a.elementsEqual(b) }

    /// At most the first 8 elements, then the count.
    public var description: String {
        let head = prefix(8).map(\.description).joined(separator: ", ")
        return count > 8 ? "[\(head), …] (\(count) elements)" : "[\(head)]"
    }
}

/// Caps on what one GGUF header may hold: far above any real model, low enough that a corrupted
/// length field cannot make the reader allocate gigabytes or print a megabyte-long name.
enum GGUFLimits {
    /// llama.cpp's GGML_MAX_NAME (64, including the terminating NUL).
    static let maxTensorNameLength = 63
    static let maxKeyLength = 65_535
    static let maxStringLength = 1 << 26
    static let maxArrayCount = 1 << 28
    static let maxKeyValues = 1 << 16
    static let maxTensors = 1 << 18
    static let maxArrayDepth = 4
}

extension ByteCursor {
    /// Reads a value of GGUF type `typeID`; arrays are read in one pass per type and may nest
    /// (legal GGUF) up to `GGUFLimits.maxArrayDepth`.
    mutating func readValue(typeID: UInt32, field: @autoclosure () -> String, depth: Int = 0) throws -> GGUFValue {
        switch typeID {
        case 0: return .uint8(try read(UInt8.self, field()))
        case 1: return .int8(try read(Int8.self, field()))
        case 2: return .uint16(try read(UInt16.self, field()))
        case 3: return .int16(try read(Int16.self, field()))
        case 4: return .uint32(try read(UInt32.self, field()))
        case 5: return .int32(try read(Int32.self, field()))
        case 6: return .float32(try readFloat(field()))
        case 7:
            let b = try read(UInt8.self, field())
            guard b <= 1 else { throw corrupted(field(), "bool byte is \(b), not 0 or 1") }
            return .bool(b == 1)
        case 8: return .string(try readString(field(), maxLength: GGUFLimits.maxStringLength))
        case 9: return .array(try readArrayValue(field(), depth: depth))
        case 10: return .uint64(try read(UInt64.self, field()))
        case 11: return .int64(try read(Int64.self, field()))
        case 12: return .float64(try readDouble(field()))
        default:
            throw corrupted(field(), "unknown value type id \(typeID) (valid: 0...12)")
        }
    }

    /// Smallest encoded size of one element of GGUF type `typeID` (nil: unknown type).
    static func minimumSize(typeID: UInt32) -> Int? {
        switch typeID {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8, 10, 11, 12: return 8
        case 9: return 12
        default: return nil
        }
    }

    mutating func readArrayValue(_ field: String, depth: Int) throws -> GGUFArray {
        guard depth < GGUFLimits.maxArrayDepth else { throw corrupted(field, "arrays nested deeper than \(GGUFLimits.maxArrayDepth)") }
        let elementType = try read(UInt32.self, field + ".elementType")
        guard let minSize = Self.minimumSize(typeID: elementType) else {
            throw corrupted(field + ".elementType", "unknown value type id \(elementType) (valid: 0...12)")
        }
        let n = try readCount(field + ".count", minBytesPerElement: minSize, cap: GGUFLimits.maxArrayCount)
        switch elementType {
        case 0: return GGUFArray(.uint8(try readArray(UInt8.self, count: n, field)))
        case 1: return GGUFArray(.int8(try readArray(Int8.self, count: n, field)))
        case 2: return GGUFArray(.uint16(try readArray(UInt16.self, count: n, field)))
        case 3: return GGUFArray(.int16(try readArray(Int16.self, count: n, field)))
        case 4: return GGUFArray(.uint32(try readArray(UInt32.self, count: n, field)))
        case 5: return GGUFArray(.int32(try readArray(Int32.self, count: n, field)))
        case 6: return GGUFArray(.float32(try readArray(UInt32.self, count: n, field)))
        case 7:
            let b = try readArray(UInt8.self, count: n, field)
            if let i = b.firstIndex(where: { $0 > 1 }) { throw corrupted("\(field)[\(i)]", "bool byte is \(b[i]), not 0 or 1") }
            return GGUFArray(.bool(b))
        case 8:
            var blob: [UInt8] = []
            var ends: [Int] = []
            ends.reserveCapacity(n)
            for i in 0..<n {
                let s = try readStringBytes("\(field)[\(i)]", maxLength: GGUFLimits.maxStringLength)
                blob.append(contentsOf: s)
                ends.append(blob.count)
            }
            return GGUFArray(.strings(bytes: blob, ends: ends))
        case 10: return GGUFArray(.uint64(try readArray(UInt64.self, count: n, field)))
        case 11: return GGUFArray(.int64(try readArray(Int64.self, count: n, field)))
        case 12: return GGUFArray(.float64(try readArray(UInt64.self, count: n, field)))
        default:
            var out: [GGUFValue] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try readValue(typeID: elementType, field: "\(field)[\(i)]", depth: depth + 1)) }
            return GGUFArray(.values(out))
        }
    }
}

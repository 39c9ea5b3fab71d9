import Foundation

/// safetensors files (huggingface/safetensors format): an 8-byte little-endian header length n,
/// n bytes of JSON `{"name": {"dtype": "F32", "shape": [N, H, D], "data_offsets": [begin, end]},
/// ..., "__metadata__": {...}}`, then the byte buffer; offsets are relative to the buffer start.
///
/// Tensor names the CLI expects: `q`, `k`, `v` for one layer, or `layer{L}.q`, `layer{L}.k`,
/// `layer{L}.v` (L = 0, 1, ...) for several layers in one file (what `skeleton capture` writes).
/// Each is [N, heads, headDim] (or [1, N, heads, headDim]) of dtype F32, F16 or BF16 (F64 is
/// narrowed to f32 on read). Other tensors in the file are ignored unless asked for.
public enum SafetensorsFile {
    /// One tensor's entry in the header.
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: String
        public let shape: [Int]
        public let dataOffsets: (Int, Int)
        public static func == (a: Entry, b: Entry) -> Bool {
            a.name == b.name && a.dtype == b.dtype && a.shape == b.shape && a.dataOffsets == b.dataOffsets
        }
    }

    /// The names of the tensors in the file, sorted.
    public static func names(path: String) throws -> [String] {
        try parse(BinaryFile.read(path), path: path).entries.map(\.name).sorted()
    }

    /// One tensor by name; `tensorNotFound` lists what the file has.
    public static func read(path: String, name: String) throws -> HeadTensor {
        try decode(BinaryFile.read(path), path: path, name: name)
    }

    public static func decode(_ bytes: [UInt8], path: String, name: String) throws -> HeadTensor {
        let (entries, bufferStart) = try parse(bytes, path: path)
        guard let entry = entries.first(where: { $0.name == name }) else {
            throw SkeletonError.tensorNotFound(path: path, name: name, available: entries.map(\.name).sorted())
        }
        let element: BinaryFile.ElementType
        switch entry.dtype {
        case "F32": element = .f32
        case "F16": element = .f16
        case "BF16": element = .bf16
        case "F64": element = .f64
        default: throw SkeletonError.unsupportedDType("\(entry.dtype) (tensor '\(name)' in \(path); expected F32, F16 or BF16)")
        }
        let dims = try BinaryFile.headDims(entry.shape, path: path, what: "tensor '\(name)'")
        let (begin, end) = entry.dataOffsets
        let needed = dims.tokens * dims.heads * dims.headDim * element.byteSize
        guard begin >= 0, end >= begin, end - begin == needed else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "tensor '\(name)' has data_offsets [\(begin), \(end)] (\(end - begin) bytes) but \(entry.dtype) \(entry.shape) needs \(needed) bytes")
        }
        guard bufferStart + end <= bytes.count else {
            throw SkeletonError.fileTruncated(path: path, expectedBytes: bufferStart + end, actualBytes: bytes.count)
        }
        return try BinaryFile.tensor(name: name, dims: dims, element: element, bytes: bytes, offset: bufferStart + begin)
    }

    /// Writes the tensors under their `name`s (unique), in the order given, with optional
    /// string metadata. f32 → F32, f16 → F16, bf16 → BF16.
    public static func write(_ tensors: [HeadTensor], to path: String, metadata: [String: String] = [:]) throws {
        try BinaryFile.write(encode(tensors, metadata: metadata), to: path)
    }

    public static func encode(_ tensors: [HeadTensor], metadata: [String: String] = [:]) throws -> [UInt8] {
        var seen = Set<String>()
        for t in tensors {
            guard !t.name.isEmpty, t.name != "__metadata__", seen.insert(t.name).inserted else {
                throw SkeletonError.invalidArgument("safetensors tensor names must be unique and non-empty; '\(t.name)' is not")
            }
        }
        var buffer: [UInt8] = []
        var fields: [String] = []
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        for t in tensors {
            let begin = buffer.count
            buffer += BinaryFile.elementBytes(t)
            let dtype = t.dtype == .f32 ? "F32" : (t.dtype == .f16 ? "F16" : "BF16")
            fields.append("\(jsonString(t.name)):{\"dtype\":\"\(dtype)\",\"shape\":[\(t.tokens),\(t.heads),\(t.headDim)],\"data_offsets\":[\(begin),\(buffer.count)]}")
        }
        var header = Array("{\(fields.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }  // pad with spaces so the buffer is 8-aligned
        var out: [UInt8] = []
        BinaryFile.appendLE(&out, UInt64(header.count))
        return out + header + buffer
    }

    /// JSON string literal with the escapes JSON requires.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }

    /// The header entries and where the byte buffer starts.
    static func parse(_ bytes: [UInt8], path: String) throws -> (entries: [Entry], bufferStart: Int) {
        guard bytes.count >= 8 else {
            throw SkeletonError.fileTruncated(path: path, expectedBytes: 8, actualBytes: bytes.count)
        }
        let length = BinaryFile.readLE(bytes, at: 0, as: UInt64.self)
        guard length <= UInt64(bytes.count - 8) else {
            // a header length past the end is either truncation or not a safetensors file at all
            if length > 100_000_000 {
                throw SkeletonError.invalidFileFormat(path: path, reason: "header length \(length) is implausible; not a safetensors file")
            }
            throw SkeletonError.fileTruncated(path: path, expectedBytes: 8 + Int(length), actualBytes: bytes.count)
        }
        let headerEnd = 8 + Int(length)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]))
        } catch {
            throw SkeletonError.invalidFileFormat(path: path, reason: "the safetensors header is not valid JSON")
        }
        guard let dict = json as? [String: Any] else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "the safetensors header is not a JSON object")
        }
        var entries: [Entry] = []
        for (name, value) in dict where name != "__metadata__" {
            guard let info = value as? [String: Any],
                  let dtype = info["dtype"] as? String,
                  let shape = (info["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  shape.count == (info["shape"] as? [Any])?.count,
                  let offsets = (info["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  offsets.count == 2
            else {
                throw SkeletonError.invalidFileFormat(path: path, reason: "tensor '\(name)' lacks a valid dtype, shape or data_offsets")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, dataOffsets: (offsets[0], offsets[1])))
        }
        return (entries, headerEnd)
    }
}

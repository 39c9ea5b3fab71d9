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
    /// The names of the tensors in the file, sorted (the header is validated; the data is not loaded).
    public static func names(path: String) throws -> [String] {
        try header(of: InputFile(path: path)).header.slots.map(\.name).sorted()
    }

    /// One tensor by name; `tensorNotFound` lists what the file has. The header is read and the whole
    /// layout validated against the file's size before the tensor's bytes (and only those) are read.
    public static func read(path: String, name: String) throws -> HeadTensor {
        let file = try InputFile(path: path)
        let (header, bufferStart) = try header(of: file)
        let (slot, element, dims) = try lookUp(name, in: header, path: path)
        let data = try file.read(offset: bufferStart + slot.begin, count: slot.end - slot.begin)
        return try BinaryFile.tensor(name: name, dims: dims, element: element, bytes: data, offset: 0, path: path)
    }

    /// The tensor names of a whole file held in memory, sorted, after validating all of it.
    public static func names(_ bytes: [UInt8], path: String) throws -> [String] {
        try parse(bytes, path: path).header.slots.map(\.name).sorted()
    }

    public static func decode(_ bytes: [UInt8], path: String, name: String) throws -> HeadTensor {
        let (header, bufferStart) = try parse(bytes, path: path)
        let (slot, element, dims) = try lookUp(name, in: header, path: path)
        return try BinaryFile.tensor(name: name, dims: dims, element: element, bytes: bytes, offset: bufferStart + slot.begin, path: path)
    }

    /// The validated header of the bytes of a whole file, and where its byte buffer starts.
    static func parse(_ bytes: [UInt8], path: String) throws -> (header: SafetensorsHeader, bufferStart: Int) {
        let length = try headerLength(bytes.prefix(8), fileSize: bytes.count, path: path)
        let header = try SafetensorsHeader(bytes[8..<(8 + length)], bufferLength: bytes.count - 8 - length, path: BoundedText.path(path))
        return (header, 8 + length)
    }

    static func header(of file: InputFile) throws -> (header: SafetensorsHeader, bufferStart: Int) {
        let length = try headerLength(file.read(offset: 0, count: min(8, file.size))[...], fileSize: file.size, path: file.path)
        let bytes = try file.read(offset: 8, count: length)
        let header = try SafetensorsHeader(bytes[...], bufferLength: file.size - 8 - length, path: BoundedText.path(file.path))
        return (header, 8 + length)
    }

    /// The header length from the first 8 bytes, checked against the format's cap and the file size.
    static func headerLength(_ first: ArraySlice<UInt8>, fileSize: Int, path p: String) throws -> Int {
        let path = BoundedText.path(p)
        guard first.count == 8 else {
            throw SkeletonError.fileTruncated(path: path, expectedBytes: 8, actualBytes: fileSize)
        }
        let length = BinaryFile.readLE(Array(first), at: 0, as: UInt64.self)
        guard length <= UInt64(SafetensorsHeader.maxLength) else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "header length \(length) is implausible (the format allows at most \(SafetensorsHeader.maxLength)); not a safetensors file")
        }
        guard length <= UInt64(fileSize - 8) else {
            throw SkeletonError.fileTruncated(path: path, expectedBytes: 8 + Int(length), actualBytes: fileSize)
        }
        return Int(length)
    }

    /// The slot named `name` as a [N, heads, headDim] tensor of a dtype this project reads.
    static func lookUp(_ name: String, in header: SafetensorsHeader, path p: String)
        throws -> (slot: SafetensorsHeader.Slot, element: BinaryFile.ElementType, dims: (tokens: Int, heads: Int, headDim: Int)) {
        let path = BoundedText.path(p)
        guard let slot = header.slots.first(where: { $0.name.utf8.elementsEqual(name.utf8) }) else {
            throw SkeletonError.tensorNotFound(path: path, name: BoundedText.cut(name), available: BoundedText.list(header.slots.map(\.name).sorted()))
        }
        guard let element = slot.dtype.element else {
            throw SkeletonError.unsupportedDType("\(slot.dtype.name) (tensor '\(BoundedText.cut(name))' in \(path); expected F32, F16 or BF16)")
        }
        guard let shape = slot.shape else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "tensor '\(BoundedText.cut(name))' has rank \(slot.rank); expected rank 3 [N, heads, headDim]")
        }
        let dims = try BinaryFile.headDims(shape, element: element, path: path, what: "tensor '\(BoundedText.cut(name))'")
        return (slot, element, dims)
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
}

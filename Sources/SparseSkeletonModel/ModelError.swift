/// Every way the model path can refuse its input: a GGUF it cannot read, an architecture or
/// quantisation it does not implement, metadata that is missing or inconsistent, a request the
/// model cannot serve. Each message names the field, the value and (where it helps) what is supported,
/// so the CLI prints it as one line and exits non-zero.
public enum ModelError: Error, Equatable, CustomStringConvertible, Sendable {
    case fileNotFound(path: String, what: String, hint: String = "")
    case truncated(path: String, field: String, offset: Int, needed: Int, fileSize: Int)
    case corrupted(path: String, field: String, reason: String)
    case unsupportedVersion(path: String, version: UInt32)
    case unsupportedQuantType(tensor: String, typeID: UInt32, typeName: String)
    case unsupportedArchitecture(String)
    case missingMetadata(key: String)
    case invalidMetadata(key: String, reason: String)
    case missingTensor(name: String)
    case tensorShape(name: String, expected: [Int], found: [Int])
    case contextTooLong(requested: Int, modelContext: Int)
    case textTooShort(path: String, tokensAvailable: Int, tokensNeeded: Int)
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .fileNotFound(let p, let what, let hint): return "\(what) '\(p)' does not exist" + (hint.isEmpty ? "" : " (\(hint))")
        case .truncated(let p, let f, let o, let n, let s):
            return "GGUF '\(p)' is truncated: field \(f) needs \(n) bytes at offset \(o), file has \(s) bytes"
        case .corrupted(let p, let f, let r): return "GGUF '\(p)' is corrupted: field \(f): \(r)"
        case .unsupportedVersion(let p, let v): return "GGUF '\(p)' has version \(v); supported: 2, 3"
        case .unsupportedQuantType(let t, let id, let name):
            return "tensor '\(t)' has quantisation type \(name) (id \(id)); supported: "
                + GGMLType.supported.map(\.name).joined(separator: ", ")
        case .unsupportedArchitecture(let a):
            return "model architecture '\(a)' is not supported; supported: \(ModelArchitectures.supported.joined(separator: ", "))"
        case .missingMetadata(let k): return "GGUF metadata has no key '\(k)'"
        case .invalidMetadata(let k, let r): return "GGUF metadata '\(k)' is invalid: \(r)"
        case .missingTensor(let n): return "GGUF has no tensor '\(n)'"
        case .tensorShape(let n, let e, let f): return "tensor '\(n)' has shape \(f), expected \(e)"
        case .contextTooLong(let r, let m): return "context of \(r) tokens is longer than the model's \(m)"
        case .textTooShort(let p, let a, let n):
            return "text '\(p)' gives \(a) tokens, \(n) are needed"
        case .invalidRequest(let what): return what
        }
    }
}

extension ModelError {
    /// Refuses `heads` query heads that are not a multiple of `kvHeads` KV heads (GGUF key
    /// `<architecture>.attention.head_count_kv`).
    static func checkGroupedHeads(_ heads: Int, _ kvHeads: Int, architecture arch: String) throws {
        guard heads % kvHeads == 0 else {
            throw ModelError.invalidMetadata(key: "\(arch).attention.head_count_kv",
                                             reason: "\(heads) query heads are not a multiple of \(kvHeads) KV heads")
        }
    }

    /// `id` as an index into a vocabulary of `size` entries; an id outside 0..<size throws.
    static func vocabularyIndex(_ id: Int32, size: Int) throws -> Int {
        guard id >= 0, Int(id) < size else {
            throw ModelError.invalidRequest("token id \(id) is outside the vocabulary 0..<\(size)")
        }
        return Int(id)
    }
}

import SparseSkeleton
import SparseSkeletonModel

/// One in-process fuzz target: it runs one input through a reader; a thrown error is the correct
/// answer to a bad input, a crash or a hang is a bug. Accepted inputs are checked for consistency.
struct FuzzTarget {
    let name: String
    let maxLength: Int
    let seeds: [[UInt8]]
    /// true when the reader accepted the input
    let run: ([UInt8]) throws -> Bool
}

enum FuzzCheckFailure: Error, CustomStringConvertible {
    case inconsistent(String)
    var description: String { if case .inconsistent(let s) = self { return s }; return "" }
}

enum FuzzTargets {
    static func npy(_ seeds: [[UInt8]]) -> FuzzTarget {
        FuzzTarget(name: "npy", maxLength: 1 << 16, seeds: seeds) { bytes in
            let t = try NPYFile.decode(bytes, path: "fuzz.npy", name: "x")
            guard t.floats().count == t.tokens * t.heads * t.headDim else { throw FuzzCheckFailure.inconsistent("npy: element count") }
            return true
        }
    }

    static func safetensors(_ seeds: [[UInt8]]) -> FuzzTarget {
        FuzzTarget(name: "safetensors", maxLength: 1 << 16, seeds: seeds) { bytes in
            let names = try SafetensorsFile.names(bytes, path: "fuzz.safetensors")
            for name in ["q", "k", "v", "layer0.q", "layer0.k", "layer0.v"] where names.contains(name) {
                _ = try? SafetensorsFile.decode(bytes, path: "fuzz.safetensors", name: name)
            }
            return true
        }
    }

    /// The GGUF reader, then what loading a model does with a header: dequantise small tensors,
    /// read the config and build the tokenizer.
    static func gguf(_ seeds: [[UInt8]]) -> FuzzTarget {
        FuzzTarget(name: "gguf", maxLength: 1 << 18, seeds: seeds) { bytes in
            let g = try GGUFFile(contents: bytes, path: "fuzz.gguf")
            for t in g.tensors where t.type != nil && t.elementCount <= 1 << 16 {
                let v = try g.floats(t.name)
                guard v.count == t.elementCount else { throw FuzzCheckFailure.inconsistent("gguf: \(t.name) count") }
            }
            _ = try? LlamaConfig(gguf: g)
            if let tok = try? BPETokenizer(gguf: g) {
                let ids = tok.encode("Hello, world! 123 <|im_start|>")
                _ = try tok.decode(ids)
            }
            return true
        }
    }

    /// Encoding arbitrary bytes (as text) and decoding the ids back.
    static func tokenizer(_ tok: BPETokenizer, _ seeds: [[UInt8]]) -> FuzzTarget {
        FuzzTarget(name: "tokenizer", maxLength: 1 << 13, seeds: seeds) { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            let ids = tok.encode(text)
            guard ids.allSatisfy({ $0 >= 0 && Int($0) < tok.vocabularySize }) else { throw FuzzCheckFailure.inconsistent("tokenizer: id out of range") }
            _ = try tok.decode(ids)
            let limited = tok.encode(text, maxTokens: 7)
            guard limited == Array(ids.prefix(7)) else { throw FuzzCheckFailure.inconsistent("tokenizer: maxTokens is not a prefix") }
            return true
        }
    }
}

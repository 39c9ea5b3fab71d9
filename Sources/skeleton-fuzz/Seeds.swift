import Foundation
import SparseSkeleton
import SparseSkeletonModel

/// Seed inputs for each fuzz target, cut down from the real files under the data directory
/// (captured Q/K/V, the SmolLM2 GGUF, the texts) into a temporary-size form: a few tokens of real
/// tensors, a GGUF with the real metadata (vocabulary cut to what its first merges need) and one
/// block-row of each real tensor type. Without the data, synthetic seeds stand in.
struct Seeds {
    let data: String?

    /// A few rows of real (or generated) attention inputs.
    func tensors() throws -> [HeadTensor] {
        var source: HeadTensor?
        if let data, let npy = try? FileManager.default.contentsOfDirectory(atPath: data + "/capture")
            .sorted().compactMap({ dir -> String? in
                let p = data + "/capture/" + dir + "/layer00_k.npy"
                return FileManager.default.fileExists(atPath: p) ? p : nil
            }).first {
            source = try NPYFile.read(path: npy)
        }
        func slice(_ tokens: Int, _ heads: Int, _ dtype: DType, name: String) throws -> HeadTensor {
            let d = 64
            var values = [Float](repeating: 0, count: tokens * heads * d)
            if let s = source {
                let f = s.floats()
                for i in values.indices { values[i] = f[i % f.count] }
            } else {
                var rng = Xoshiro256StarStar(seed: 7)
                for i in values.indices { values[i] = Float(Int(rng.next() % 2001) - 1000) / 500 }
            }
            return try HeadTensor(name: name, tokens: tokens, heads: heads, headDim: d, values: values, dtype: dtype)
        }
        return [try slice(2, 3, .f32, name: "q"), try slice(3, 1, .f16, name: "k"), try slice(1, 2, .bf16, name: "v"),
                try slice(4, 1, .f32, name: "layer0.q"), try slice(4, 1, .f16, name: "layer0.k"), try slice(4, 1, .bf16, name: "layer0.v")]
    }

    func npy() throws -> [[UInt8]] {
        var seeds = try tensors().map(NPYFile.encode)
        // version 2.0, rank 4 and '<f8' as numpy writes them
        var header = Array("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 1, 64), }".utf8)
        while (12 + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        var v2: [UInt8] = [0x93] + Array("NUMPY".utf8) + [2, 0]
        withUnsafeBytes(of: UInt32(header.count).littleEndian) { v2 += $0 }
        v2 += header
        for i in 0..<128 { withUnsafeBytes(of: (Double(i) / 7).bitPattern.littleEndian) { v2 += $0 } }
        seeds.append(v2)
        return seeds
    }

    func safetensors() throws -> [[UInt8]] {
        let t = try tensors()
        return [
            try SafetensorsFile.encode(Array(t[3...5]), metadata: ["tokens": "4", "model": "SmolLM2-135M"]),
            try SafetensorsFile.encode(Array(t[0...2])),
            try SafetensorsFile.encode([t[0]], metadata: ["format": "pt"]),
        ]
    }

    var modelPath: String? {
        guard let data else { return nil }
        let p = data + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }

    /// Small GGUFs built from the real model's metadata and tensor blocks.
    func gguf() throws -> [[UInt8]] {
        guard let modelPath else { return [Self.syntheticGGUF()] }
        let g = try GGUFFile(path: modelPath)
        // the vocabulary: the first 256 tokens (the byte alphabet), the specials and what the first merges make
        let tokens = try g.array("tokenizer.ggml.tokens").compactMap(\.stringValue)
        let merges = try g.array("tokenizer.ggml.merges").compactMap(\.stringValue)
        var keep = Set(tokens.prefix(300))
        var keptMerges: [String] = []
        for m in merges.prefix(2000) {
            let parts = m.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2, keep.contains(parts[0]), keep.contains(parts[1]) else { continue }
            keep.insert(parts[0] + parts[1])
            keptMerges.append(m)
            if keptMerges.count == 120 { break }
        }
        var kept: [Int] = []
        for (i, t) in tokens.enumerated() where keep.contains(t) { kept.append(i) }
        let types = g.metadata["tokenizer.ggml.token_type"]?.arrayValue
        var meta: [(String, GGUFValue)] = []
        for key in g.metadata.keys.sorted() {
            switch key {
            case "tokenizer.ggml.tokens": meta.append((key, .array(GGUFArray(kept.map { .string(tokens[$0]) }))))
            case "tokenizer.ggml.token_type": if let types { meta.append((key, .array(GGUFArray(kept.map { types[$0] })))) }
            case "tokenizer.ggml.merges": meta.append((key, .array(GGUFArray(keptMerges.map { .string($0) }))))
            case "tokenizer.chat_template": meta.append((key, .string(String((g.metadata[key]?.stringValue ?? "").prefix(200)))))
            case "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id": meta.append((key, .uint32(0)))
            default: if let v = g.metadata[key] { meta.append((key, v)) }
            }
        }
        // one block-row of the first tensor of each type
        var tensors: [GGUFSeedWriter.Tensor] = []
        var seenTypes = Set<UInt32>()
        for t in g.tensors where !seenTypes.contains(t.typeID) {
            guard let type = t.type else { continue }
            seenTypes.insert(t.typeID)
            let n = type.blockSize * max(1, 64 / type.blockSize)
            let raw = try g.rawBytes(t)
            tensors.append(.init(name: t.name, dims: [n, 2], type: t.typeID, data: Array(raw.prefix(2 * type.byteCount(elements: n)))))
        }
        let full = GGUFSeedWriter.file(metadata: meta, tensors: tensors)
        let noTokenizer = GGUFSeedWriter.file(metadata: meta.filter { !$0.0.hasPrefix("tokenizer.") }, tensors: tensors)
        return [full, noTokenizer, Self.syntheticGGUF()]
    }

    static func syntheticGGUF() -> [UInt8] {
        GGUFSeedWriter.file(metadata: [
            ("general.architecture", .string("llama")), ("general.alignment", .uint32(32)),
            ("a.nested", .array([.array([.int32(-7)]), .array([.float32(0.5)])])), ("a.bool", .bool(true)),
        ], tensors: [.init(name: "w", dims: [32, 1], type: 8, data: [UInt8](repeating: 1, count: 34)),
                     .init(name: "v", dims: [4], type: 0, data: [UInt8](repeating: 0, count: 16))])
    }

    /// Text for the tokenizer: pieces of the real texts, control tokens, digits and odd Unicode.
    func texts() -> [[UInt8]] {
        var out: [[UInt8]] = [Array("<|im_start|>user\nHello 12345 world!<|im_end|>\n<|endoftext|>".utf8),
                              Array("  \t\n\r ünïcødé 漢字 🙂 e\u{301} 3.14159 don't I'll".utf8), [0xFF, 0xFE, 0x41, 0xC3]]
        if let data, let files = try? FileManager.default.contentsOfDirectory(atPath: data + "/texts").sorted() {
            for f in files where f.hasSuffix(".txt") {
                guard let b = FileManager.default.contents(atPath: data + "/texts/" + f) else { continue }
                for start in stride(from: 10_000, to: min(b.count, 60_000), by: 25_000) {
                    out.append(Array(b[start..<min(b.count, start + 1500)]))
                }
            }
        }
        return out
    }
}

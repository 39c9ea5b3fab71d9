import SparseSkeleton

/// Key-value retrieval in the style of ∞Bench's kv_retrieval: a JSON object of seeded random UUID
/// pairs filling the prompt, then the question for one key's value. The asked pair sits at the
/// depth (in percent of the pairs); every key and value is distinct.
public struct KeyValueTask: Sendable {
    public var header = "Extract the value corresponding to the specified key in the JSON object below.\n\nJSON data:\n{"
    public var question = "}\n\nKey: \"{key}\"\nThe value associated with the specified key is:"
    public var seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// A version-4 UUID in lower-case hex, 8-4-4-4-12.
    static func uuid(_ rng: inout Xoshiro256StarStar) -> String {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { b -> String in let s = String(b, radix: 16); return s.count == 1 ? "0" + s : s }.joined()
        let c = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(c[$0]) }.joined(separator: "-")
    }

    /// At most `n` tokens: as many pairs as fit (the rest, fewer than one pair's tokens, is left
    /// unused, so the prompt may be shorter than `n`).
    public func build(tokenizer tok: any TextTokenizer, tokens n: Int, depthPercent: Int) throws -> RetrievalPrompt {
        try RetrievalPrompt.requireDepth(depthPercent)
        var rng = RetrievalPrompt.random(seed: seed, task: 3, tokens: n, depth: depthPercent)
        let headerIDs = tok.encode(header, parseSpecial: false, maxTokens: nil)
        // the question's length does not depend on which key it names (every UUID has the same form):
        // measure it with a key drawn only for that
        var probe = rng
        let questionLength = tok.encode(question.replacingOccurrences(of: "{key}", with: Self.uuid(&probe)), parseSpecial: false, maxTokens: nil).count
        var room = n - 1 - headerIDs.count - questionLength - 8   // 8: slack for a question key that tokenizes longer
        var pairs: [(key: String, value: String, ids: [Int32])] = []
        var seen = Set<String>()
        while true {
            let k = Self.uuid(&rng), v = Self.uuid(&rng)
            guard !seen.contains(k), !seen.contains(v), k != v else { continue }
            let ids = tok.encode((pairs.isEmpty ? "" : ", ") + "\"\(k)\": \"\(v)\"", parseSpecial: false, maxTokens: nil)
            guard ids.count <= room else { break }
            room -= ids.count
            seen.insert(k); seen.insert(v)
            pairs.append((k, v, ids))
        }
        guard pairs.count >= 1 else { throw ModelError.invalidRequest("\(n) tokens leave no room for a key-value pair and the question") }
        let asked = (pairs.count - 1) * depthPercent / 100
        let questionIDs = tok.encode(question.replacingOccurrences(of: "{key}", with: pairs[asked].key), parseSpecial: false, maxTokens: nil)
        var ids = [tok.bosID ?? 1] + headerIDs
        var itemAt = 0
        for (i, p) in pairs.enumerated() {
            if i == asked { itemAt = ids.count }
            ids += p.ids
        }
        ids += questionIDs
        guard ids.count <= n else { throw ModelError.invalidRequest("key-value prompt of \(ids.count) tokens exceeds \(n) (the question tokenized longer than measured)") }
        let value = pairs[asked].value
        return RetrievalPrompt(task: "kv", depthPercent: depthPercent, tokens: ids, answer: value, itemAt: itemAt,
                               answerTokens: tok.encode(" \"" + value + "\"", parseSpecial: false, maxTokens: nil).count)
    }
}

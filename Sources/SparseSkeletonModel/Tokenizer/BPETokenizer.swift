import SparseSkeleton

/// Byte-level BPE built from a GGUF's `tokenizer.ggml.*` metadata (model "gpt2").
///
/// Encoding: control tokens written in the text (`<|im_start|>` …) are cut out first and become
/// their own ids; the rest is pre-tokenized (see `PreTokenizer`), each piece's UTF-8 bytes are
/// spelled in the byte-level alphabet, and adjacent symbols are merged, lowest merge rank first,
/// until no listed merge applies. Decoding maps symbols back to bytes and the bytes to UTF-8.
public final class BPETokenizer: @unchecked Sendable {
    public let tokens: [String]
    public let bosID: Int32?
    public let eosID: Int32?
    public let addsBOS: Bool
    public let preTokenizer: String
    /// Control tokens (GGUF token type 3), matched literally in the text.
    public let specialTokens: [(text: String, id: Int32)]

    private let isSpecial: [Bool]
    private let idForByte: [Int32]
    /// (left id << 32 | right id) → (rank, merged id)
    private let merges: [UInt64: (rank: Int32, merged: Int32)]
    private var cache: [String: [Int32]] = [:]

    static let controlTokenType = 3
    static let cacheCapacity = 1 << 16

    public convenience init(gguf: GGUFFile) throws {
        let model = try gguf.string("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw ModelError.invalidMetadata(key: "tokenizer.ggml.model", reason: "'\(BoundedText.cut(model))' is not supported; supported: gpt2 (byte-level BPE)")
        }
        let tokens = try gguf.array("tokenizer.ggml.tokens").enumerated().map { i, v -> String in
            guard let s = v.stringValue else {
                throw ModelError.invalidMetadata(key: "tokenizer.ggml.tokens", reason: "entry \(i) is not a string")
            }
            return s
        }
        let types = try (gguf.metadata["tokenizer.ggml.token_type"] == nil ? [] : gguf.array("tokenizer.ggml.token_type")).map { $0.intValue ?? 1 }
        let merges = try gguf.array("tokenizer.ggml.merges").enumerated().map { i, v -> String in
            guard let s = v.stringValue else {
                throw ModelError.invalidMetadata(key: "tokenizer.ggml.merges", reason: "entry \(i) is not a string")
            }
            return s
        }
        let pre = gguf.metadata["tokenizer.ggml.pre"]?.stringValue ?? "gpt2"
        func optionalID(_ key: String) throws -> Int32? {
            guard let v = gguf.metadata[key] else { return nil }
            guard let i = v.intValue, i >= 0, i < tokens.count else {
                throw ModelError.invalidMetadata(key: key, reason: "\(v) is not a token id below \(tokens.count)")
            }
            return Int32(i)
        }
        try self.init(tokens: tokens, tokenTypes: types, merges: merges, preTokenizer: pre,
                      bosID: optionalID("tokenizer.ggml.bos_token_id"), eosID: optionalID("tokenizer.ggml.eos_token_id"),
                      addsBOS: gguf.metadata["tokenizer.ggml.add_bos_token"]?.boolValue ?? false)
    }

    public init(tokens: [String], tokenTypes: [Int], merges mergeList: [String], preTokenizer: String,
                bosID: Int32?, eosID: Int32?, addsBOS: Bool) throws {
        guard PreTokenizer.supported.contains(preTokenizer) else {
            throw ModelError.invalidMetadata(key: "tokenizer.ggml.pre",
                                             reason: "'\(BoundedText.cut(preTokenizer))' is not supported; supported: \(PreTokenizer.supported.joined(separator: ", "))")
        }
        guard tokenTypes.isEmpty || tokenTypes.count == tokens.count else {
            throw ModelError.invalidMetadata(key: "tokenizer.ggml.token_type", reason: "\(tokenTypes.count) types for \(tokens.count) tokens")
        }
        self.tokens = tokens; self.preTokenizer = preTokenizer
        self.bosID = bosID; self.eosID = eosID; self.addsBOS = addsBOS
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = Int32(i) }
        var byteIDs = [Int32](repeating: -1, count: 256)
        // SmolLM2's vocabulary lacks 21 bytes (e.g. 0x04, 0xFF); with no unknown token and no byte
        // fallback, BPE drops such symbols (as Hugging Face's BPE does). ASCII letters must exist.
        for b in 0..<256 { byteIDs[b] = ids[ByteLevelAlphabet.symbol(for: UInt8(b))] ?? -1 }
        guard byteIDs[Int(UInt8(ascii: "a"))] >= 0, byteIDs[Int(UInt8(ascii: "A"))] >= 0 else {
            throw ModelError.invalidMetadata(key: "tokenizer.ggml.tokens", reason: "no byte-level symbols for ASCII letters: not a byte-level BPE vocabulary")
        }
        idForByte = byteIDs
        var table: [UInt64: (rank: Int32, merged: Int32)] = [:]
        table.reserveCapacity(mergeList.count)
        for (rank, m) in mergeList.enumerated() {
            let parts = m.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let l = ids[String(parts[0])], let r = ids[String(parts[1])],
                  let merged = ids[String(parts[0]) + String(parts[1])] else {
                throw ModelError.invalidMetadata(key: "tokenizer.ggml.merges", reason: "entry \(rank) '\(BoundedText.cut(m))' does not join two tokens into a token")
            }
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            if table[key] == nil { table[key] = (Int32(rank), merged) }
        }
        merges = table
        var special: [Bool] = tokens.map { _ in false }
        var specials: [(String, Int32)] = []
        for (i, t) in tokenTypes.enumerated() where t == Self.controlTokenType && !tokens[i].isEmpty {
            special[i] = true
            specials.append((tokens[i], Int32(i)))
        }
        isSpecial = special
        // longest first, so a special that is a prefix of another never wins
        specialTokens = specials.sorted { $0.0.utf8.count > $1.0.utf8.count }
    }

    public var vocabularySize: Int { tokens.count }

    /// Token ids of `text` (no BOS added; see `addsBOS`). With `maxTokens`, stops once that many
    /// ids exist: the result equals the full encoding truncated, since pieces are independent.
    public func encode(_ text: String, parseSpecial: Bool = true, maxTokens: Int? = nil) -> [Int32] {
        var out: [Int32] = []
        let limit = maxTokens ?? Int.max
        for (chunk, specialID) in splitSpecial(text, parseSpecial: parseSpecial) {
            if out.count >= limit { break }
            if let specialID { out.append(specialID); continue }
            encodeOrdinary(chunk, into: &out, limit: limit)
        }
        if out.count > limit { out.removeLast(out.count - limit) }
        return out
    }

    /// Text between control tokens, and the control tokens themselves (as ids).
    private func splitSpecial(_ text: String, parseSpecial: Bool) -> [(Substring, Int32?)] {
        guard parseSpecial, !specialTokens.isEmpty else { return [(text[...], nil)] }
        var result: [(Substring, Int32?)] = []
        let utf8 = text.utf8
        var chunkStart = utf8.startIndex
        var i = utf8.startIndex
        let firstBytes = Set(specialTokens.compactMap { $0.text.utf8.first })
        while i < utf8.endIndex {
            if firstBytes.contains(utf8[i]),
               let match = specialTokens.first(where: { utf8[i...].starts(with: $0.text.utf8) }) {
                if chunkStart < i { result.append((text[chunkStart..<i], nil)) }
                result.append((text[i..<i], match.id))
                i = utf8.index(i, offsetBy: match.text.utf8.count)
                chunkStart = i
            } else {
                i = utf8.index(after: i)
            }
        }
        if chunkStart < utf8.endIndex { result.append((text[chunkStart...], nil)) }
        return result
    }

    private func encodeOrdinary(_ text: Substring, into out: inout [Int32], limit: Int) {
        let scalars = Array(text.unicodeScalars)
        let pieces = PreTokenizer.split(scalars, isolateDigits: preTokenizer == "smollm")
        for r in pieces {
            if out.count >= limit { return }
            var piece = String.UnicodeScalarView()
            piece.append(contentsOf: scalars[r])
            let word = String(piece)
            if let cached = cache[word] { out.append(contentsOf: cached); continue }
            let ids = bpe(Array(word.utf8))
            if word.utf8.count <= 64 {
                // bounded: arbitrary text must not grow the cache without end
                if cache.count >= Self.cacheCapacity { cache.removeAll(keepingCapacity: true) }
                cache[word] = ids
            }
            out.append(contentsOf: ids)
        }
    }

    /// Greedy BPE on one piece: repeatedly merge the adjacent pair of lowest rank (the leftmost
    /// of equal ranks). Short pieces scan all pairs each step; long ones (a text can hold a word of
    /// megabytes, where the scan is quadratic) use a heap of candidate pairs — the same merges.
    func bpe(_ bytes: [UInt8]) -> [Int32] {
        let symbols = bytes.compactMap { b -> Int32? in let id = idForByte[Int(b)]; return id >= 0 ? id : nil }
        return symbols.count <= Self.scanLimit ? bpeScan(symbols) : bpeHeap(symbols)
    }

    static let scanLimit = 64

    @inline(__always) private func pairKey(_ l: Int32, _ r: Int32) -> UInt64 { UInt64(UInt32(l)) << 32 | UInt64(UInt32(r)) }

    func bpeScan(_ input: [Int32]) -> [Int32] {
        var symbols = input
        while symbols.count > 1 {
            var bestRank = Int32.max, bestAt = -1, bestMerged: Int32 = 0
            for j in 0..<(symbols.count - 1) {
                if let m = merges[pairKey(symbols[j], symbols[j + 1])], m.rank < bestRank { bestRank = m.rank; bestAt = j; bestMerged = m.merged }
            }
            if bestAt < 0 { break }
            symbols[bestAt] = bestMerged
            symbols.remove(at: bestAt + 1)
        }
        return symbols
    }

    /// A candidate merge of the symbols at positions `left` and `right` (positions in the input,
    /// so order among equal ranks is left to right); stale once either symbol has changed.
    private struct Candidate {
        let rank: Int32, left: Int, right: Int, leftID: Int32, rightID: Int32
        func precedes(_ o: Candidate) -> Bool { rank != o.rank ? rank < o.rank : left < o.left }
    }

    func bpeHeap(_ input: [Int32]) -> [Int32] {
        var symbols = input
        let n = symbols.count
        var next = Array(1...n), prev = Array(-1..<(n - 1))
        next[n - 1] = -1
        var alive = [Bool](repeating: true, count: n)
        var heap: [Candidate] = []
        func push(_ l: Int, _ r: Int) {
            guard let m = merges[pairKey(symbols[l], symbols[r])] else { return }
            heap.append(Candidate(rank: m.rank, left: l, right: r, leftID: symbols[l], rightID: symbols[r]))
            var i = heap.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard heap[i].precedes(heap[parent]) else { break }
                heap.swapAt(i, parent)
                i = parent
            }
        }
        func pop() -> Candidate? {
            guard let top = heap.first else { return nil }
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var best = i
                    if l < heap.count, heap[l].precedes(heap[best]) { best = l }
                    if r < heap.count, heap[r].precedes(heap[best]) { best = r }
                    if best == i { break }
                    heap.swapAt(i, best)
                    i = best
                }
            }
            return top
        }
        for i in 0..<(n - 1) { push(i, i + 1) }
        while let c = pop() {
            guard alive[c.left], alive[c.right], next[c.left] == c.right,
                  symbols[c.left] == c.leftID, symbols[c.right] == c.rightID,
                  let m = merges[pairKey(c.leftID, c.rightID)] else { continue }
            symbols[c.left] = m.merged
            alive[c.right] = false
            next[c.left] = next[c.right]
            if next[c.right] >= 0 { prev[next[c.right]] = c.left }
            if prev[c.left] >= 0 { push(prev[c.left], c.left) }
            if next[c.left] >= 0 { push(c.left, next[c.left]) }
        }
        var out: [Int32] = []
        var i = 0
        while i >= 0 { out.append(symbols[i]); i = next[i] }
        return out
    }

    /// Text of `ids`; control tokens are written as their text. Invalid ids throw.
    public func decode(_ ids: [Int32]) throws -> String {
        var bytes: [UInt8] = []
        for id in ids {
            let i = try ModelError.vocabularyIndex(id, size: tokens.count)
            if isSpecial[i] { bytes.append(contentsOf: tokens[i].utf8); continue }
            for s in tokens[i].unicodeScalars {
                if let b = ByteLevelAlphabet.byteForScalar[s.value] { bytes.append(b) } else { bytes.append(contentsOf: String(s).utf8) }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

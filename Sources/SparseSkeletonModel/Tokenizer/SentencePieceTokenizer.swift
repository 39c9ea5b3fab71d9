/// SentencePiece-style BPE built from a GGUF's `tokenizer.ggml.*` metadata (model "llama"):
/// token pieces with scores, byte-fallback tokens `<0xXX>`, control and user-defined tokens.
///
/// Encoding: control tokens (GGUF type 3, when `parseSpecial`) and user-defined tokens (type 4,
/// always) written in the text are cut out first, longest match at each position, and become
/// their own ids. In the rest, spaces become "▁" (and a "▁" is prefixed when the metadata asks
/// for it); the text is split into Unicode scalars, and the adjacent pair whose concatenation is
/// the highest-scoring piece is merged (the leftmost on ties) until no pair forms a piece. A
/// scalar left that is no piece is written as the byte tokens of its UTF-8 bytes.
public final class SentencePieceTokenizer: @unchecked Sendable {
    public let tokens: [String]
    public let scores: [Float]
    public let bosID: Int32?
    public let eosID: Int32?
    public let unknownID: Int32?
    public let addsBOS: Bool
    public let addsSpacePrefix: Bool
    /// Tokens matched literally in the text: control (when parsing specials) and user-defined.
    public let literalTokens: [(text: String, id: Int32, isControl: Bool)]

    private let ids: [String: Int32]
    private let byteTokens: [Int32]
    private let tokenType: [Int]
    /// Literal tokens by their first byte, longest first.
    private let literalsByFirstByte: [UInt8: [(bytes: [UInt8], id: Int32, isControl: Bool)]]

    static let normalType = 1, controlType = 3, userDefinedType = 4, byteType = 6
    static let spaceMark = "\u{2581}"

    public convenience init(gguf: GGUFFile) throws {
        let model = try gguf.string("tokenizer.ggml.model")
        guard model == "llama" else {
            throw ModelError.invalidMetadata(key: "tokenizer.ggml.model", reason: "'\(model)' is not supported here; supported: llama (SentencePiece)")
        }
        let tokens = try gguf.array("tokenizer.ggml.tokens").enumerated().map { i, v -> String in
            guard let s = v.stringValue else { throw ModelError.invalidMetadata(key: "tokenizer.ggml.tokens", reason: "entry \(i) is not a string") }
            return s
        }
        let scores = try gguf.array("tokenizer.ggml.scores").enumerated().map { i, v -> Float in
            guard let d = v.doubleValue else { throw ModelError.invalidMetadata(key: "tokenizer.ggml.scores", reason: "entry \(i) is not a number") }
            return Float(d)
        }
        let types = try gguf.array("tokenizer.ggml.token_type").enumerated().map { i, v -> Int in
            guard let t = v.intValue else { throw ModelError.invalidMetadata(key: "tokenizer.ggml.token_type", reason: "entry \(i) is not an integer") }
            return t
        }
        func optionalID(_ key: String) throws -> Int32? {
            guard let v = gguf.metadata[key] else { return nil }
            guard let i = v.intValue, i >= 0, i < tokens.count else {
                throw ModelError.invalidMetadata(key: key, reason: "\(v) is not a token id below \(tokens.count)")
            }
            return Int32(i)
        }
        try self.init(tokens: tokens, scores: scores, tokenTypes: types,
                      bosID: optionalID("tokenizer.ggml.bos_token_id"), eosID: optionalID("tokenizer.ggml.eos_token_id"),
                      unknownID: optionalID("tokenizer.ggml.unknown_token_id"),
                      addsBOS: gguf.metadata["tokenizer.ggml.add_bos_token"]?.boolValue ?? true,
                      addsSpacePrefix: gguf.metadata["tokenizer.ggml.add_space_prefix"]?.boolValue ?? true)
    }

    public init(tokens: [String], scores: [Float], tokenTypes: [Int], bosID: Int32?, eosID: Int32?, unknownID: Int32?,
                addsBOS: Bool, addsSpacePrefix: Bool) throws {
        guard scores.count == tokens.count else {
            throw ModelError.invalidMetadata(key: "tokenizer.ggml.scores", reason: "\(scores.count) scores for \(tokens.count) tokens")
        }
        guard tokenTypes.count == tokens.count else {
            throw ModelError.invalidMetadata(key: "tokenizer.ggml.token_type", reason: "\(tokenTypes.count) types for \(tokens.count) tokens")
        }
        self.tokens = tokens; self.scores = scores; tokenType = tokenTypes
        self.bosID = bosID; self.eosID = eosID; self.unknownID = unknownID
        self.addsBOS = addsBOS; self.addsSpacePrefix = addsSpacePrefix
        var table: [String: Int32] = [:]
        table.reserveCapacity(tokens.count)
        var bytes = [Int32](repeating: -1, count: 256)
        var literal: [(String, Int32, Bool)] = []
        for (i, t) in tokens.enumerated() {
            switch tokenTypes[i] {
            case Self.byteType:
                if t.count == 6, t.hasPrefix("<0x"), t.hasSuffix(">"), let b = UInt8(t.dropFirst(3).prefix(2), radix: 16) { bytes[Int(b)] = Int32(i) }
            case Self.controlType, Self.userDefinedType:
                if !t.isEmpty { literal.append((t, Int32(i), tokenTypes[i] == Self.controlType)) }
            default:
                if table[t] == nil { table[t] = Int32(i) }
            }
        }
        if let missing = bytes.firstIndex(of: -1) {
            throw ModelError.invalidMetadata(key: "tokenizer.ggml.tokens", reason: "no byte-fallback token for byte 0x\(String(missing, radix: 16))")
        }
        ids = table; byteTokens = bytes
        literalTokens = literal.sorted { $0.0.utf8.count > $1.0.utf8.count }
        var byFirst: [UInt8: [(bytes: [UInt8], id: Int32, isControl: Bool)]] = [:]
        for t in literalTokens { byFirst[t.text.utf8.first!, default: []].append((Array(t.text.utf8), t.id, t.isControl)) }
        literalsByFirstByte = byFirst
    }

    public var vocabularySize: Int { tokens.count }

    public func encode(_ text: String, parseSpecial: Bool = true, maxTokens: Int? = nil) -> [Int32] {
        var out: [Int32] = []
        let limit = maxTokens ?? Int.max
        let utf8 = Array(text.utf8)
        var first = true, chunkStart = 0, i = 0
        func flush(upTo end: Int) {
            guard chunkStart < end else { return }
            var normalized = String(decoding: utf8[chunkStart..<end], as: UTF8.self).replacingOccurrences(of: " ", with: Self.spaceMark)
            if first && addsSpacePrefix { normalized = Self.spaceMark + normalized }
            first = false
            out.append(contentsOf: merge(Array(normalized.unicodeScalars)))
        }
        // Literal tokens cut the text; the pieces between them are merged one at a time, so a
        // `maxTokens` prefix of a long text costs only what it needs.
        while i < utf8.count && out.count < limit {
            if let candidates = literalsByFirstByte[utf8[i]],
               let match = candidates.first(where: { (parseSpecial || !$0.isControl) && Self.bytes(utf8, at: i, startWith: $0.bytes) }) {
                flush(upTo: i)
                if out.count >= limit { break }
                out.append(match.id); first = false
                i += match.bytes.count
                chunkStart = i
            } else {
                i += 1
            }
        }
        if out.count < limit { flush(upTo: utf8.count) }
        if out.count > limit { out.removeLast(out.count - limit) }
        return out
    }

    private static func bytes(_ s: [UInt8], at i: Int, startWith p: [UInt8]) -> Bool {
        guard i + p.count <= s.count else { return false }
        for (k, b) in p.enumerated() where s[i + k] != b { return false }
        return true
    }

    /// Score-ordered merging of adjacent symbols (a heap of candidate pairs, stale ones skipped).
    private func merge(_ scalars: [Unicode.Scalar]) -> [Int32] {
        let n = scalars.count
        guard n > 0 else { return [] }
        var start = Array(0..<n), length = [Int](repeating: 1, count: n)
        var prev = Array(-1..<(n - 1)), next = Array(1...n)
        next[n - 1] = -1
        var heap = PairHeap()
        func text(_ from: Int, _ count: Int) -> String {
            var v = String.UnicodeScalarView()
            v.append(contentsOf: scalars[from..<(from + count)])
            return String(v)
        }
        func consider(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let size = length[left] + length[right]
            if let id = ids[text(start[left], size)] {
                heap.push(PairHeap.Entry(score: scores[Int(id)], left: left, right: right, size: size))
            }
        }
        for i in 1..<max(1, n) { consider(i - 1, i) }
        while let best = heap.pop() {
            let l = best.left, r = best.right
            guard length[l] > 0, length[r] > 0, length[l] + length[r] == best.size, next[l] == r else { continue }
            length[l] += length[r]
            length[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[next[r]] = l }
            consider(prev[l], l)
            consider(l, next[l])
        }
        var out: [Int32] = []
        var i = 0
        while i >= 0 {
            let piece = text(start[i], length[i])
            if let id = ids[piece] {
                out.append(id)
            } else {
                for b in piece.utf8 { out.append(byteTokens[Int(b)]) }
            }
            i = next[i]
        }
        return out
    }

    /// Text of `ids`: "▁" back to spaces, byte tokens to their bytes, control tokens as their text.
    public func decode(_ ids: [Int32]) throws -> String {
        var bytes: [UInt8] = []
        for id in ids {
            let i = try ModelError.vocabularyIndex(id, size: tokens.count)
            let t = tokens[i]
            if tokenType[i] == Self.byteType, let b = UInt8(t.dropFirst(3).prefix(2), radix: 16) {
                bytes.append(b)
            } else {
                bytes.append(contentsOf: t.replacingOccurrences(of: Self.spaceMark, with: " ").utf8)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension SentencePieceTokenizer: TextTokenizer {}

/// A max-heap of candidate merges: higher score first, then the leftmost.
struct PairHeap {
    struct Entry { let score: Float; let left: Int; let right: Int; let size: Int }
    private var items: [Entry] = []

    private static func before(_ a: Entry, _ b: Entry) -> Bool { a.score > b.score || (a.score == b.score && a.left < b.left) }

    mutating func push(_ e: Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard Self.before(items[i], items[p]) else { break }
            items.swapAt(i, p); i = p
        }
    }

    mutating func pop() -> Entry? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return top }
        items[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && Self.before(items[l], items[m]) { m = l }
            if r < items.count && Self.before(items[r], items[m]) { m = r }
            if m == i { break }
            items.swapAt(i, m); i = m
        }
        return top
    }
}

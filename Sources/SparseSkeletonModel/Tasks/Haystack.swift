import SparseSkeleton

/// The filler text of the retrieval prompts: its token ids, and where a sentence may be placed
/// into them (just after a sentence end), so that a needle does not cut a sentence in two.
public enum Haystack {
    /// The first `count` tokens of `text` (no BOS), or `textTooShort` naming `name`.
    public static func tokens(_ text: String, name: String, tokenizer: any TextTokenizer, count: Int) throws -> [Int32] {
        let ids = tokenizer.encode(text, parseSpecial: false, maxTokens: count)
        guard ids.count == count else { throw ModelError.textTooShort(path: name, tokensAvailable: ids.count, tokensNeeded: count) }
        return ids
    }

    /// How far back from the requested place a sentence end is looked for.
    public static let searchBack = 300

    /// The insertion index for `position` in `hay` (0...hay.count): the nearest index at or before it
    /// that follows a token ending in "." or a newline, at most `searchBack` tokens back; else `position`.
    public static func boundary(near position: Int, in hay: [Int32], tokenizer: any TextTokenizer) -> Int {
        guard position > 0, position < hay.count else { return max(0, min(position, hay.count)) }
        let floor = max(0, position - searchBack)
        var j = position
        while j > floor {
            if let s = try? tokenizer.decode([hay[j - 1]]), s.hasSuffix(".") || s.hasSuffix("\n") { return j }
            j -= 1
        }
        return position
    }

    /// `hay` with each piece inserted before hay index `at` (pieces at the same index keep their
    /// order), and the index in the result where each piece begins.
    public static func insert(_ pieces: [(at: Int, ids: [Int32])], into hay: [Int32]) throws -> (ids: [Int32], starts: [Int]) {
        if let bad = pieces.first(where: { $0.at < 0 || $0.at > hay.count }) {
            throw SkeletonError.invalidArgument("insertion index \(bad.at) is outside 0...\(hay.count)")
        }
        let order = pieces.indices.sorted { (pieces[$0].at, $0) < (pieces[$1].at, $1) }
        var ids: [Int32] = []
        ids.reserveCapacity(hay.count + pieces.reduce(0) { $0 + $1.ids.count })
        var starts = [Int](repeating: 0, count: pieces.count)
        var next = 0
        for p in order {
            ids += hay[next..<pieces[p].at]
            next = pieces[p].at
            starts[p] = ids.count
            ids += pieces[p].ids
        }
        ids += hay[next...]
        return (ids, starts)
    }
}

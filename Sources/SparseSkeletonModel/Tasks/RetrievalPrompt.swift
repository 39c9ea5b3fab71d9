import SparseSkeleton

/// One prompt of a long-context retrieval task (`NeedleTask`, `MultiKeyNeedleTask`,
/// `KeyValueTask`) and the answer greedy decoding must produce after it.
public struct RetrievalPrompt: Sendable {
    /// The task's short name ("needle", "multikey", "kv").
    public let task: String
    /// Where the asked item was meant to go, in percent of the prompt.
    public let depthPercent: Int
    /// BOS, the context, the question (which ends where the answer begins).
    public let tokens: [Int32]
    /// The exact text the answer must begin with (`RetrievalScore`).
    public let answer: String
    /// Token index in `tokens` where the asked item (needle, or key-value pair) begins.
    public let itemAt: Int
    /// Tokens of the answer as the model would write it after the prompt: a decode budget.
    public let answerTokens: Int

    /// Greedy decode budget: the answer, its closing character and a little slack.
    public var decodeBudget: Int { answerTokens + 3 }

    /// Per-prompt random stream: the same seed, task, length and depth give the same prompt.
    static func random(seed: UInt64, task: UInt64, tokens: Int, depth: Int) -> Xoshiro256StarStar {
        Xoshiro256StarStar(seed: seed ^ (task &* 0x9E37_79B9_7F4A_7C15), stream: UInt64(tokens) &* 1024 &+ UInt64(depth))
    }

    static func requireDepth(_ depth: Int) throws {
        guard (0...100).contains(depth) else { throw SkeletonError.invalidArgument("depth \(depth) is outside 0...100") }
    }

    /// A seven-digit number, as the needles hold (RULER's values).
    static func sevenDigits(_ rng: inout Xoshiro256StarStar) -> String { String(Int.random(in: 1_000_000...9_999_999, using: &rng)) }
}

/// Exact scoring of a greedy answer: after leading whitespace, one colon (the needles' own "is: VALUE"
/// form, which a model may repeat after the question's "… is") and one opening quote, the decoded text
/// begins with the answer, and the character after it (if any) does not continue it (no letter, digit
/// or hyphen: "4721" does not pass for "47213", nor a UUID for a longer one).
public enum RetrievalScore {
    static func body(_ generated: String) -> Substring {
        var s = generated.drop { $0.isWhitespace }
        if s.first == ":" { s = s.dropFirst().drop { $0.isWhitespace } }
        if s.first == "\"" { s = s.dropFirst() }
        return s
    }

    static func continues(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "-" }

    public static func isExact(_ generated: String, answer: String) -> Bool {
        let s = body(generated)
        guard s.hasPrefix(answer) else { return false }
        let rest = s.dropFirst(answer.count)
        return rest.first.map { !continues($0) } ?? true
    }

    /// True once more tokens cannot change `isExact`: the text has left the answer, or holds it and
    /// the character after it.
    public static func isDecided(_ generated: String, answer: String) -> Bool {
        let s = body(generated)
        if s.count > answer.count { return true }
        return !answer.hasPrefix(s)
    }
}

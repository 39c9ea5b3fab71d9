/// Needle in a haystack (RULER's single needle): a sentence holding a seeded seven-digit number
/// placed at a depth of a filler text, then a question whose last words begin the answer.
public struct NeedleTask: Sendable {
    public var needle = "The special magic number mentioned in this text is {value}."
    public var question = "Question: What is the special magic number mentioned in the text above? Answer: The special magic number mentioned in the text above is"
    public var seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// BOS, the haystack (`hay`, at least the room left) with the needle after a sentence end at or
    /// before `depthPercent` (0 = first, 100 = just before the question), then the question: `n` tokens.
    public func build(tokenizer tok: any TextTokenizer, hay: [Int32], tokens n: Int, depthPercent: Int) throws -> RetrievalPrompt {
        try RetrievalPrompt.requireDepth(depthPercent)
        var rng = RetrievalPrompt.random(seed: seed, task: 1, tokens: n, depth: depthPercent)
        let value = RetrievalPrompt.sevenDigits(&rng)
        let needleIDs = tok.encode(" " + needle.replacingOccurrences(of: "{value}", with: value) + " ", parseSpecial: false, maxTokens: nil)
        let questionIDs = tok.encode("\n\n" + question, parseSpecial: false, maxTokens: nil)
        let room = n - 1 - needleIDs.count - questionIDs.count
        guard room > 0 else { throw ModelError.invalidRequest("\(n) tokens leave no room for a haystack around the needle and the question") }
        guard hay.count >= room else { throw ModelError.invalidRequest("the haystack has \(hay.count) tokens, \(room) are needed for \(n)") }
        let filler = Array(hay[0..<room])
        let at = Haystack.boundary(near: room * depthPercent / 100, in: filler, tokenizer: tok)
        let placed = try Haystack.insert([(at, needleIDs)], into: filler)
        let ids = [tok.bosID ?? 1] + placed.ids + questionIDs
        return RetrievalPrompt(task: "needle", depthPercent: depthPercent, tokens: ids, answer: value, itemAt: 1 + placed.starts[0],
                               answerTokens: tok.encode(" " + value + ".", parseSpecial: false, maxTokens: nil).count)
    }
}

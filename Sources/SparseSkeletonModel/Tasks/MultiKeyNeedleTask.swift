import SparseSkeleton

/// Multi-key needle (RULER's niah_multikey): several needles "One of the special magic numbers for
/// KEY is: VALUE." with distinct seeded keys and seven-digit values in a filler text; the question
/// asks for one key's value. The asked needle goes at the depth, the others at seeded depths.
public struct MultiKeyNeedleTask: Sendable {
    public var needle = "One of the special magic numbers for {key} is: {value}."
    public var question = "Question: What is the special magic number for {key} mentioned in the text above? Answer: The special magic number for {key} mentioned in the text above is"
    /// Needles in all (one asked, the others distractors).
    public var needles: Int
    public var seed: UInt64

    public init(needles: Int = 4, seed: UInt64) { self.needles = needles; self.seed = seed }

    /// Two-word keys ("amber-falcon"): words of these lists, never in the filler as a hyphenated pair.
    static let adjectives = ["amber", "brisk", "cobalt", "dusky", "ember", "frosty", "gilded", "hollow", "ivory", "jagged", "lunar", "mossy",
                             "nimble", "opal", "placid", "quiet", "russet", "silver", "tawny", "umber", "velvet", "woolly", "young", "zesty"]
    static let nouns = ["falcon", "otter", "badger", "heron", "lynx", "marten", "newt", "osprey", "panda", "quail", "raven", "stoat",
                        "tapir", "urchin", "vole", "walrus", "yak", "zebra", "beetle", "coyote", "dingo", "egret", "ferret", "gecko"]

    public func build(tokenizer tok: any TextTokenizer, hay: [Int32], tokens n: Int, depthPercent: Int) throws -> RetrievalPrompt {
        try RetrievalPrompt.requireDepth(depthPercent)
        guard (1...adjectivesTimesNouns).contains(needles) else {
            throw ModelError.invalidRequest("multi-key needle: \(needles) needles; 1...\(adjectivesTimesNouns) are possible")
        }
        var rng = RetrievalPrompt.random(seed: seed, task: 2, tokens: n, depth: depthPercent)
        var keys: [String] = [], values: [String] = []
        while keys.count < needles {
            let k = Self.adjectives.randomElement(using: &rng)! + "-" + Self.nouns.randomElement(using: &rng)!
            let v = RetrievalPrompt.sevenDigits(&rng)
            if !keys.contains(k), !values.contains(v) { keys.append(k); values.append(v) }
        }
        let asked = 0   // the needle at the requested depth; the others' depths are drawn
        let depths = [depthPercent] + (1..<needles).map { _ in Int.random(in: 0...100, using: &rng) }
        let needleIDs = zip(keys, values).map { k, v in
            tok.encode(" " + needle.replacingOccurrences(of: "{key}", with: k).replacingOccurrences(of: "{value}", with: v) + " ",
                       parseSpecial: false, maxTokens: nil)
        }
        let questionIDs = tok.encode("\n\n" + question.replacingOccurrences(of: "{key}", with: keys[asked]), parseSpecial: false, maxTokens: nil)
        let room = n - 1 - needleIDs.reduce(0) { $0 + $1.count } - questionIDs.count
        guard room > 0 else { throw ModelError.invalidRequest("\(n) tokens leave no room for a haystack around \(needles) needles and the question") }
        guard hay.count >= room else { throw ModelError.invalidRequest("the haystack has \(hay.count) tokens, \(room) are needed for \(n)") }
        let filler = Array(hay[0..<room])
        let pieces = zip(depths, needleIDs).map { d, ids in (at: Haystack.boundary(near: room * d / 100, in: filler, tokenizer: tok), ids: ids) }
        let placed = try Haystack.insert(pieces, into: filler)
        let ids = [tok.bosID ?? 1] + placed.ids + questionIDs
        return RetrievalPrompt(task: "multikey", depthPercent: depthPercent, tokens: ids, answer: values[asked], itemAt: 1 + placed.starts[asked],
                               answerTokens: tok.encode(" " + values[asked] + ".", parseSpecial: false, maxTokens: nil).count)
    }

    var adjectivesTimesNouns: Int { Self.adjectives.count * Self.nouns.count }
}

/// The pre-tokenizer GGUF calls `smollm` (SmolLM2's tokenizer.json: Sequence[Digits(individual),
/// ByteLevel(no prefix space, GPT-2 regex)]): first every numeric scalar becomes a piece of its own,
/// then each remaining stretch is split by GPT-2's pattern
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// The pattern is matched here by a hand-written scanner over Unicode scalars (faster than a
/// regex engine and explicit about the two subtle rules): a single U+0020 may lead a run of
/// letters, digits or symbols; a whitespace run followed by a non-space gives back its last
/// scalar so that scalar can lead the next word.
public enum PreTokenizer {
    public static let supported = ["smollm", "gpt2"]

    enum Kind: Equatable { case letter, number, space, other }

    @inline(__always) static func kind(_ s: Unicode.Scalar) -> Kind {
        if s.value < 128 {  // fast path for ASCII
            let v = s.value
            if (v >= 65 && v <= 90) || (v >= 97 && v <= 122) { return .letter }
            if v >= 48 && v <= 57 { return .number }
            if v == 32 || (v >= 9 && v <= 13) { return .space }
            return .other
        }
        if s.properties.isWhitespace { return .space }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// Splits `text` into pieces (as scalar ranges of `scalars`); `isolateDigits` is the Digits step.
    static func split(_ scalars: [Unicode.Scalar], isolateDigits: Bool) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        let kinds = scalars.map(kind)
        var segmentStart = 0
        for i in 0..<scalars.count where isolateDigits && kinds[i] == .number {
            splitGPT2(scalars, kinds, segmentStart..<i, into: &pieces)
            pieces.append(i..<(i + 1))
            segmentStart = i + 1
        }
        splitGPT2(scalars, kinds, segmentStart..<scalars.count, into: &pieces)
        return pieces
    }

    /// GPT-2's pattern on one segment (the pattern never looks outside it).
    static func splitGPT2(_ s: [Unicode.Scalar], _ kinds: [Kind], _ segment: Range<Int>, into pieces: inout [Range<Int>]) {
        let end = segment.upperBound
        var i = segment.lowerBound
        func run(from j: Int, _ k: Kind) -> Int {
            var e = j
            while e < end && kinds[e] == k { e += 1 }
            return e
        }
        while i < end {
            let c = s[i]
            // contractions: 's 't 'm 'd, then 're 've 'll
            if c == "'" && i + 1 < end {
                let a = s[i + 1]
                if a == "s" || a == "t" || a == "m" || a == "d" { pieces.append(i..<(i + 2)); i += 2; continue }
                if i + 2 < end {
                    let b = s[i + 2]
                    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") {
                        pieces.append(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            if kinds[i] != .space {
                let e = run(from: i, kinds[i])
                pieces.append(i..<e); i = e; continue
            }
            // a single ' ' leading a non-space run:  ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+
            if c == " " && i + 1 < end && kinds[i + 1] != .space {
                let e = run(from: i + 1, kinds[i + 1])
                pieces.append(i..<e); i = e; continue
            }
            // whitespace: \s+(?!\S) keeps the last scalar for the next piece when a non-space follows
            let e = run(from: i, .space)
            if e == end || e - i == 1 {
                pieces.append(i..<e); i = e
            } else {
                pieces.append(i..<(e - 1)); i = e - 1
            }
        }
    }
}

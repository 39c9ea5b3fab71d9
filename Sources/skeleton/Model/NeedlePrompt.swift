import SparseSkeleton
import SparseSkeletonModel

/// A needle-in-a-haystack prompt of exactly N tokens: BOS, haystack tokens with the needle
/// sentence inserted at a depth (0 % = first, 100 % = just before the question), then the
/// question, which ends with the start of the answer so greedy decoding continues with it.
struct NeedlePrompt {
    let tokens: [Int32]
    /// Token index where the needle starts.
    let needleAt: Int

    static func build(_ model: any CausalLM, haystack: String, haystackName: String, needle: String, question: String,
                      tokens n: Int, depthPercent: Int) throws -> NeedlePrompt {
        guard (0...100).contains(depthPercent) else {
            throw SkeletonError.invalidArgument("depth \(depthPercent) is outside 0...100")
        }
        let tok = model.tokenizer
        let needleIDs = tok.encode(" " + needle + " ", parseSpecial: false, maxTokens: nil)
        let questionIDs = tok.encode("\n\n" + question, parseSpecial: false, maxTokens: nil)
        let room = n - 1 - needleIDs.count - questionIDs.count
        guard room > 0 else {
            throw SkeletonError.invalidArgument("\(n) tokens leave no room for a haystack around the needle and the question")
        }
        let hay = try Haystack.tokens(haystack, name: haystackName, tokenizer: tok, count: room)
        let at = Haystack.boundary(near: room * depthPercent / 100, in: hay, tokenizer: tok)
        let bos = tok.bosID ?? 1
        let ids = [bos] + hay[0..<at] + needleIDs + hay[at...] + questionIDs
        return NeedlePrompt(tokens: Array(ids), needleAt: 1 + at)
    }
}

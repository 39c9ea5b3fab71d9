import Foundation
import SparseSkeleton

/// What every model command needs to know of a model's shape, whatever its architecture.
public protocol ModelConfig: Sendable {
    var architecture: String { get }
    /// Layers, widths, heads, RMSNorm ε, RoPE base and vocabulary: what every decoder config stores.
    var dimensions: DecoderDimensions { get }
    var layers: Int { get }
    var contextLength: Int { get }
    var embedding: Int { get }
    var heads: Int { get }
    var kvHeads: Int { get }
    var headDim: Int { get }
    var vocabSize: Int { get }
    /// RoPE base θ of the full-attention (global) layers.
    var ropeBase: Double { get }
    /// Linear position interpolation factor k of the global layers' RoPE (1 = none).
    var positionInterpolation: Int { get }
    /// The attention of layer `layer` (window, scale, softcap).
    func spec(layer: Int) -> AttentionSpec
}

/// The sizes and constants every decoder config stores (`ModelConfig.dimensions`), read from
/// `<arch>.*` GGUF metadata by each architecture's config.
public struct DecoderDimensions: Equatable, Sendable {
    public let layers: Int
    /// Longest prompt the model serves (for Gemma-3 under PI ×k: the trained context × k).
    public let contextLength: Int
    public let embedding: Int
    public let feedForward: Int
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    public let rmsEpsilon: Float
    /// RoPE base θ (of the global layers): pair i of a head rotates by position · θ^(−2i/d).
    public let ropeBase: Double
    public let vocabSize: Int
}

extension ModelConfig {
    public var layers: Int { dimensions.layers }
    public var contextLength: Int { dimensions.contextLength }
    public var embedding: Int { dimensions.embedding }
    public var feedForward: Int { dimensions.feedForward }
    public var heads: Int { dimensions.heads }
    public var kvHeads: Int { dimensions.kvHeads }
    public var headDim: Int { dimensions.headDim }
    public var rmsEpsilon: Float { dimensions.rmsEpsilon }
    public var ropeBase: Double { dimensions.ropeBase }
    public var vocabSize: Int { dimensions.vocabSize }

    /// "PI ×k" when positions are interpolated, else "".
    public var positionInterpolationLabel: String { positionInterpolation > 1 ? "PI ×\(positionInterpolation)" : "" }
}

/// A tokenizer the model commands can drive: text ↔ ids, BOS and EOS.
public protocol TextTokenizer: Sendable {
    var bosID: Int32? { get }
    var eosID: Int32? { get }
    /// Ids of `text` (no BOS); control tokens written in the text become their ids when
    /// `parseSpecial`; with `maxTokens`, the full encoding cut to that length.
    func encode(_ text: String, parseSpecial: Bool, maxTokens: Int?) -> [Int32]
    func decode(_ ids: [Int32]) throws -> String
}

/// A decoder-only language model run on the CPU, batch 1, with pluggable attention: the
/// interface the model commands use, whatever the architecture (`ModelArchitectures`).
public protocol CausalLM: AnyObject, Sendable {
    associatedtype Config: ModelConfig
    associatedtype Tokenizer: TextTokenizer
    var config: Config { get }
    var tokenizer: Tokenizer { get }
    /// Number of parameters (for FLOP estimates).
    var parameterCount: Int { get }
    /// Runs the prompt through every layer (see `LlamaModel.prefill` for the arguments).
    func prefill(tokens: [Int32], attention: AttentionBackend, captureLayers: Set<Int>, capture: ((LayerQKV) throws -> Void)?,
                 keepCache: Bool, progress: ((Int, Int) -> Void)?) throws -> PrefillResult
    /// Logits of hidden rows `rows` ([rows.count, V], row-major).
    func logits(_ result: PrefillResult, rows: Range<Int>) throws -> [Float]
    /// Greedy generation of up to `count` tokens after a prefill run with `keepCache: true`.
    func generate(after prefill: PrefillResult, count: Int, stopTokens: Set<Int32>) throws -> [Int32]
}

extension CausalLM {
    /// Rows of hidden states per vocabulary chunk: 256 × 262144 floats = 268 MB at most.
    static var headRowChunk: Int { 256 }

    /// Natural-log probability of `targets[t]` after the prefix ending at position t, for
    /// t in 0..<targets.count (targets[t] is normally tokens[t + 1]). Log-sum-exp in Double;
    /// the output head runs a chunk of rows at a time so N × V logits never exist at once.
    public func targetLogProbabilities(_ result: PrefillResult, targets: [Int32]) throws -> [Double] {
        guard targets.count <= result.tokens else {
            throw ModelError.invalidRequest("\(targets.count) targets for \(result.tokens) positions")
        }
        let v = config.vocabSize
        var out: [Double] = []
        out.reserveCapacity(targets.count)
        var start = 0
        while start < targets.count {
            let rows = start..<min(targets.count, start + Self.headRowChunk)
            let logits = try self.logits(result, rows: rows)
            for (r, t) in rows.enumerated() {
                let target = Int(targets[t])
                guard target >= 0, target < v else { throw ModelError.invalidRequest("target token \(target) outside the vocabulary") }
                let lse = logits.withUnsafeBufferPointer { Self.logSumExp($0.baseAddress! + r * v, count: v) }
                out.append(Double(logits[r * v + target]) - lse)
            }
            start = rows.upperBound
        }
        return out
    }

    /// log Σ exp(x) with the maximum shifted out, summed in Double.
    static func logSumExp(_ x: UnsafePointer<Float>, count: Int) -> Double {
        let m = VectorMath.maximum(x, count: count)
        var s = 0.0
        for i in 0..<count { s += Foundation.exp(Double(x[i] - m)) }
        return Double(m) + Foundation.log(s)
    }

    /// Refuses an empty prompt, one past the context, or an id outside the vocabulary.
    func checkPrompt(_ tokens: [Int32], startPosition: Int = 0) throws {
        guard !tokens.isEmpty else { throw ModelError.invalidRequest("no tokens to run") }
        guard startPosition + tokens.count <= config.contextLength else {
            throw ModelError.contextTooLong(requested: startPosition + tokens.count, modelContext: config.contextLength)
        }
        for t in tokens { _ = try ModelError.vocabularyIndex(t, size: config.vocabSize) }
    }
}

extension LlamaConfig: ModelConfig {
    public var positionInterpolation: Int { 1 }
}

extension BPETokenizer: TextTokenizer {}

extension LlamaModel: CausalLM {
    public func generate(after prefill: PrefillResult, count: Int, stopTokens: Set<Int32>) throws -> [Int32] {
        try GreedyDecoder(model: self).generate(after: prefill, count: count, stopTokens: stopTokens)
    }
}

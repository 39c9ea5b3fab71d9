import SparseSkeleton

/// The matrices of one decoder block that both architectures have (for parameter counts).
public protocol DecoderLayerMatrices: Sendable {
    var wq: [Float] { get }
    var wk: [Float] { get }
    var wv: [Float] { get }
    var wo: [Float] { get }
    var gate: [Float] { get }
    var up: [Float] { get }
    var down: [Float] { get }
}

/// A decoder's weights: the token embedding and one block per layer.
public protocol DecoderWeights: Sendable {
    associatedtype Layer: DecoderLayerMatrices
    var tokenEmbedding: [Float] { get }
    var layers: [Layer] { get }
}

/// A CPU decoder made of a config, its weights and a tokenizer (Llama, Gemma-3): what they share.
public protocol DecoderModel: CausalLM where Config: LayerSpecConfig {
    associatedtype Weights: DecoderWeights
    var weights: Weights { get }
    /// `config` must be the one `weights` were loaded for (up to its layer specs).
    init(config: Config, weights: Weights, tokenizer: Tokenizer)
}

/// A config whose per-layer attention specs can be replaced.
public protocol LayerSpecConfig: ModelConfig {
    /// The same model with other per-layer specs (one per layer, each validated and causal).
    func withLayerSpecs(_ specs: [AttentionSpec]) throws -> Self
}

extension LayerSpecConfig {
    /// `specs` checked for a model of `layers` layers: one per layer, each validated and causal
    /// (`forward` names the forward in the error).
    static func checkedLayerSpecs(_ specs: [AttentionSpec], layers: Int, for forward: String) throws -> [AttentionSpec] {
        guard specs.count == layers else {
            throw SkeletonError.shapeMismatch("\(specs.count) attention specs for \(layers) layers")
        }
        return try specs.map { try $0.checked(for: forward) }
    }
}

extension DecoderModel {
    /// The same model (weights shared) whose layers compute attention under `specs`, one per layer.
    public func withLayerSpecs(_ specs: [AttentionSpec]) throws -> Self {
        Self(config: try config.withLayerSpecs(specs), weights: weights, tokenizer: tokenizer)
    }

    /// Number of parameters (for FLOP estimates): every layer's matrices and the embedding.
    public var parameterCount: Int {
        let perLayer = weights.layers.first.map { $0.wq.count + $0.wk.count + $0.wv.count + $0.wo.count + $0.gate.count + $0.up.count + $0.down.count } ?? 0
        return perLayer * config.layers + weights.tokenEmbedding.count
    }
}

extension LlamaLayerWeights: DecoderLayerMatrices {}
extension Gemma3LayerWeights: DecoderLayerMatrices {}
extension LlamaWeights: DecoderWeights {}
extension Gemma3Weights: DecoderWeights {}
extension LlamaConfig: LayerSpecConfig {}
extension Gemma3Config: LayerSpecConfig {}
extension LlamaModel: DecoderModel {}
extension Gemma3Model: DecoderModel {}

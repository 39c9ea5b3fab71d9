import SparseSkeleton

/// The hyper-parameters of a Gemma-3 text model, read from GGUF metadata (`gemma3.*`), with the
/// values Gemma-3 fixes and llama.cpp's converter does not store: local (sliding-window) layers
/// use RoPE base 10000, every 6th layer (5, 11, 17, …) is global, and the softmax scale is
/// query_pre_attn_scalar^−½ with query_pre_attn_scalar = the head dim (so 1/√d).
public struct Gemma3Config: Equatable, Sendable {
    public static let architecture = "gemma3"
    /// Layer l is global (full attention) when (l + 1) is a multiple of this.
    public static let globalLayerPeriod = 6
    public static let localRopeBase = 10000.0

    public let architecture: String
    /// contextLength: the context the global layers' RoPE serves, the trained one × `positionInterpolation`;
    /// ropeBase: the global layers' (`gemma3.rope.freq_base`).
    public let dimensions: DecoderDimensions
    public let trainedContextLength: Int
    public let localRopeBase: Double
    /// Sliding window of the local layers in tokens (`gemma3.attention.sliding_window`).
    public let slidingWindow: Int
    public let queryPreAttentionScalar: Double
    /// Linear position interpolation of the global layers' RoPE: positions divided by k.
    public let positionInterpolation: Int
    public private(set) var layerSpecs: [AttentionSpec]

    public func spec(layer: Int) -> AttentionSpec { layerSpecs[layer] }

    public func isGlobal(layer: Int) -> Bool { (layer + 1) % Self.globalLayerPeriod == 0 }

    /// RoPE base and linear factor of layer `layer`.
    public func rope(layer: Int) -> (base: Double, linearFactor: Double) {
        isGlobal(layer: layer) ? (ropeBase, Double(positionInterpolation)) : (localRopeBase, 1)
    }

    public init(gguf: GGUFFile, positionInterpolation: Int = 1) throws {
        let arch = try gguf.string("general.architecture")
        guard arch == Self.architecture else { throw ModelError.unsupportedArchitecture(arch) }
        guard [1, 2, 4, 8].contains(positionInterpolation) else {
            throw ModelError.invalidRequest("position interpolation ×\(positionInterpolation) is not supported; supported: 1, 2, 4, 8")
        }
        architecture = arch
        func positive(_ key: String) throws -> Int { try gguf.positiveInt("\(arch).\(key)") }
        let layers = try positive("block_count")
        trainedContextLength = try positive("context_length")
        let contextLength = trainedContextLength * positionInterpolation
        let embedding = try positive("embedding_length")
        let feedForward = try positive("feed_forward_length")
        let heads = try positive("attention.head_count")
        let kvHeads = try positive("attention.head_count_kv")
        try ModelError.checkGroupedHeads(heads, kvHeads, architecture: arch)
        let headDim = try positive("attention.key_length")
        let valueLength = try positive("attention.value_length")
        guard valueLength == headDim, headDim % 2 == 0 else {
            throw ModelError.invalidMetadata(key: "\(arch).attention.value_length",
                                             reason: "value length \(valueLength) differs from the key length \(headDim) (or it is odd)")
        }
        let rmsEpsilon = Float(try gguf.double("\(arch).attention.layer_norm_rms_epsilon"))
        let ropeBase = try gguf.double("\(arch).rope.freq_base")
        guard ropeBase > 1, ropeBase.isFinite else {
            throw ModelError.invalidMetadata(key: "\(arch).rope.freq_base", reason: "\(ropeBase) must be > 1")
        }
        if let scaling = gguf.metadata["\(arch).rope.scaling.type"]?.stringValue, scaling != "none" {
            throw ModelError.invalidMetadata(key: "\(arch).rope.scaling.type", reason: "'\(scaling)' is not supported; supported: none")
        }
        localRopeBase = Self.localRopeBase
        slidingWindow = try positive("attention.sliding_window")
        queryPreAttentionScalar = Double(headDim)
        self.positionInterpolation = positionInterpolation
        let vocabSize = try gguf.array("tokenizer.ggml.tokens").count
        dimensions = DecoderDimensions(layers: layers, contextLength: contextLength, embedding: embedding, feedForward: feedForward,
                                       heads: heads, kvHeads: kvHeads, headDim: headDim, rmsEpsilon: rmsEpsilon,
                                       ropeBase: ropeBase, vocabSize: vocabSize)
        let scale = 1 / queryPreAttentionScalar.squareRoot()
        let window = slidingWindow
        layerSpecs = (0..<layers).map { l in
            (l + 1) % Self.globalLayerPeriod == 0 ? AttentionSpec(scale: scale) : AttentionSpec(window: window, scale: scale)
        }
    }

    /// The same model with other per-layer specs (one per layer, each validated and causal).
    public func withLayerSpecs(_ specs: [AttentionSpec]) throws -> Gemma3Config {
        var out = self
        out.layerSpecs = try Self.checkedLayerSpecs(specs, layers: layers, for: "the Gemma-3 forward")
        return out
    }
}

extension Gemma3Config: ModelConfig {}

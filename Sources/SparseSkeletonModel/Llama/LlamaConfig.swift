import SparseSkeleton

/// The hyper-parameters of a Llama-family model, read from GGUF metadata keys
/// `<arch>.block_count`, `<arch>.embedding_length`, … (arch = `general.architecture`).
public struct LlamaConfig: Equatable, Sendable {
    public static let supportedArchitectures = ["llama"]

    public let architecture: String
    public let dimensions: DecoderDimensions
    /// Linear RoPE scaling: positions are divided by this factor (1 = none).
    public let ropeLinearFactor: Double
    /// The attention of each layer (window, scale, softcap); every Llama layer is `.causal`
    /// (softmax scale 1/√headDim).
    public private(set) var layerSpecs: [AttentionSpec]

    public init(architecture: String, layers: Int, contextLength: Int, embedding: Int, feedForward: Int,
                heads: Int, kvHeads: Int, headDim: Int, rmsEpsilon: Float, ropeBase: Double,
                ropeLinearFactor: Double, vocabSize: Int) {
        self.architecture = architecture
        dimensions = DecoderDimensions(layers: layers, contextLength: contextLength, embedding: embedding, feedForward: feedForward,
                                       heads: heads, kvHeads: kvHeads, headDim: headDim, rmsEpsilon: rmsEpsilon,
                                       ropeBase: ropeBase, vocabSize: vocabSize)
        self.ropeLinearFactor = ropeLinearFactor
        layerSpecs = [AttentionSpec](repeating: .causal, count: layers)
    }

    /// The attention spec of layer `layer` (0-based, < layers).
    public func spec(layer: Int) -> AttentionSpec { layerSpecs[layer] }

    /// The same model with other per-layer specs (one per layer, each validated and causal).
    public func withLayerSpecs(_ specs: [AttentionSpec]) throws -> LlamaConfig {
        var out = self
        out.layerSpecs = try Self.checkedLayerSpecs(specs, layers: layers, for: "the Llama forward")
        return out
    }

    public init(gguf: GGUFFile) throws {
        let arch = try gguf.string("general.architecture")
        guard Self.supportedArchitectures.contains(arch) else { throw ModelError.unsupportedArchitecture(BoundedText.cut(arch)) }
        func positive(_ key: String) throws -> Int { try gguf.positiveInt("\(arch).\(key)") }
        let layers = try positive("block_count")
        let contextLength = try positive("context_length")
        let embedding = try positive("embedding_length")
        let feedForward = try positive("feed_forward_length")
        let heads = try positive("attention.head_count")
        let kvHeads = gguf.metadata["\(arch).attention.head_count_kv"] == nil ? heads : try positive("attention.head_count_kv")
        try ModelError.checkGroupedHeads(heads, kvHeads, architecture: arch)
        guard embedding % heads == 0 else {
            throw ModelError.invalidMetadata(key: "\(arch).embedding_length", reason: "\(embedding) is not divisible by \(heads) heads")
        }
        let headDim = embedding / heads
        if gguf.metadata["\(arch).rope.dimension_count"] != nil {
            let rd = try positive("rope.dimension_count")
            guard rd == headDim else {
                throw ModelError.invalidMetadata(key: "\(arch).rope.dimension_count",
                                                 reason: "partial rotary (\(rd) of \(headDim) dims) is not supported")
            }
        }
        let rmsEpsilon = Float(try gguf.double("\(arch).attention.layer_norm_rms_epsilon"))
        let ropeBase = gguf.metadata["\(arch).rope.freq_base"] == nil ? 10000 : try gguf.double("\(arch).rope.freq_base")
        guard ropeBase > 1, ropeBase.isFinite else {
            throw ModelError.invalidMetadata(key: "\(arch).rope.freq_base", reason: "\(ropeBase) must be > 1")
        }
        let ropeLinearFactor: Double
        let scaling = gguf.metadata["\(arch).rope.scaling.type"]?.stringValue ?? "none"
        switch scaling {
        case "none": ropeLinearFactor = 1
        case "linear":
            let f = try gguf.double("\(arch).rope.scaling.factor")
            guard f > 0, f.isFinite else {
                throw ModelError.invalidMetadata(key: "\(arch).rope.scaling.factor", reason: "\(f) must be positive")
            }
            ropeLinearFactor = f
        default:
            throw ModelError.invalidMetadata(key: "\(arch).rope.scaling.type", reason: "'\(scaling)' is not supported; supported: none, linear")
        }
        let vocabSize: Int
        if let tokens = gguf.metadata["tokenizer.ggml.tokens"]?.arrayValue {
            vocabSize = tokens.count
        } else {
            vocabSize = try positive("vocab_size")
        }
        // each layer has its own weight tensors: a larger count is a corrupted field, not a model
        guard layers <= gguf.tensors.count else {
            throw ModelError.invalidMetadata(key: "\(arch).block_count", reason: "\(layers) layers, but the file has only \(gguf.tensors.count) tensors")
        }
        self.init(architecture: arch, layers: layers, contextLength: contextLength, embedding: embedding, feedForward: feedForward,
                  heads: heads, kvHeads: kvHeads, headDim: headDim, rmsEpsilon: rmsEpsilon, ropeBase: ropeBase,
                  ropeLinearFactor: ropeLinearFactor, vocabSize: vocabSize)
    }
}

/// The architectures the model path runs, chosen by the GGUF's `general.architecture`.
public enum ModelArchitectures {
    public static let supported = ["llama", Gemma3Config.architecture]

    /// The configuration of the model in `gguf`, read from its metadata alone (before any weight loads).
    public static func config(gguf: GGUFFile, positionInterpolation: Int = 1) throws -> any ModelConfig {
        let arch = try gguf.string("general.architecture")
        switch arch {
        case "llama": return try LlamaConfig(gguf: gguf)
        case Gemma3Config.architecture: return try Gemma3Config(gguf: gguf, positionInterpolation: positionInterpolation)
        default: throw ModelError.unsupportedArchitecture(arch)
        }
    }

    /// The model in `gguf`; `positionInterpolation` k > 1 stretches the global layers' RoPE by
    /// k (PI ×k), for architectures that have it.
    public static func load(gguf: GGUFFile, positionInterpolation: Int = 1) throws -> any CausalLM {
        let arch = try gguf.string("general.architecture")
        switch arch {
        case "llama":
            guard positionInterpolation == 1 else {
                throw ModelError.invalidRequest("position interpolation (PI ×\(positionInterpolation)) is implemented for gemma3 only, not for \(arch)")
            }
            return try LlamaModel(gguf: gguf)
        case Gemma3Config.architecture:
            return try Gemma3Model(gguf: gguf, positionInterpolation: positionInterpolation)
        default:
            throw ModelError.unsupportedArchitecture(arch)
        }
    }
}

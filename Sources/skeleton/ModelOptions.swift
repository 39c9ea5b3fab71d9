import ArgumentParser
import SparseSkeleton
import SparseSkeletonModel

/// `--model` and `--pi` of the commands that run the CPU model (ppl, niah, capture).
struct ModelOptions: ParsableArguments {
    @Option(help: "GGUF model file.") var model: String = ModelSession.defaultModel
    @Option(name: .customLong("pi"), help: "Linear position interpolation ×k (1, 2, 4) of the global layers' RoPE (gemma3), labelled PI ×k.") var positionInterpolation: Int = 1

    /// The model, with `check` run on its config before the weights load (`ModelSession.loadModel`).
    func load(check: (any ModelConfig) throws -> Void = { _ in }) throws -> any CausalLM {
        try ModelSession.loadModel(model, positionInterpolation: positionInterpolation, check: check)
    }
}

extension EstimatorRegistry {
    /// The help discussion of a command with --attention: `intro`, then the estimators it takes.
    static func attentionDiscussion(_ intro: String) -> String {
        intro + "\n\nEstimators (--attention):\n" + helpText
    }
}

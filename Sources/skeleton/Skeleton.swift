import ArgumentParser
import SparseSkeleton

@main
struct Skeleton: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skeleton",
        abstract: "Training-free dynamic sparse attention for long-context prefill (slash / vertical / horizontal skeleton).",
        version: SparseSkeletonVersion.string,
        subcommands: [MaskEval.self, Capture.self, Perplexity.self, Niah.self, Doctor.self, GPUCheck.self, GPUBench.self, GPUPrefill.self, GPUTasks.self, MInferenceGPU.self, GPUEstimate.self, GPUMaskEval.self]
    )
}

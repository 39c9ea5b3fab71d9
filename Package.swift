// swift-tools-version:6.1
import PackageDescription

// One target per layer (README, "Layout"):
//   SparseSkeleton              core, pure Swift, no GPU symbols
//   SparseSkeletonKernelParams  C header target: one parameter struct per kernel, shared by Swift and the .cu sources
//   SparseSkeletonCUDA          GPU backend: driver API + NVRTC through dlopen; Kernels/*.cu embedded at build time
//   SparseSkeletonModel         GGUF, tokenizers (BPE, SentencePiece), the architecture registry: Llama and Gemma-3 prefill with pluggable attention (CPU)
//   SparseSkeletonModelCUDA     that prefill on the GPU (cuBLAS products, our attention and estimators; Kernels/*.cu)
//   SparseSkeletonC             the C ABI (include/sparse_skeleton.h) for python/sparse_skeleton
//   SparseSkeletonChecks        GPU correctness matrices (vs the CPU references), benchmarks, the GPU prefill run
//   skeleton                    the command-line tool: argument parsing over the targets above
//   skeleton-fuzz               seeded mutation fuzzer of the file readers and the tokenizer
//   EmbedKernelSources          build-tool plugin (+ its tool) that embeds a target's Kernels/ folder at build time
let package = Package(
    name: "SparseSkeleton",
    products: [
        .library(name: "SparseSkeleton", targets: ["SparseSkeleton"]),
        .library(name: "SparseSkeletonCUDA", targets: ["SparseSkeletonCUDA"]),
        .library(name: "SparseSkeletonModel", targets: ["SparseSkeletonModel"]),
        .library(name: "SparseSkeletonModelCUDA", targets: ["SparseSkeletonModelCUDA"]),
        .library(name: "SparseSkeletonChecks", targets: ["SparseSkeletonChecks"]),
        .executable(name: "skeleton", targets: ["skeleton"]),
        .executable(name: "skeleton-fuzz", targets: ["skeleton-fuzz"]),
        .library(name: "SparseSkeletonC", type: .dynamic, targets: ["SparseSkeletonC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    ],
    targets: [
        .target(
            name: "SparseSkeleton",
            dependencies: [.product(name: "Numerics", package: "swift-numerics")]
        ),
        .target(name: "SparseSkeletonKernelParams"),
        .executableTarget(name: "EmbedKernelSourcesTool"),
        .plugin(name: "EmbedKernelSources", capability: .buildTool(), dependencies: ["EmbedKernelSourcesTool"]),
        .target(
            name: "SparseSkeletonCUDA",
            dependencies: ["SparseSkeleton", "SparseSkeletonKernelParams"],
            exclude: ["Kernels"],
            plugins: ["EmbedKernelSources"]
        ),
        .target(
            name: "SparseSkeletonModel",
            dependencies: ["SparseSkeleton"]
        ),
        // The real model's prefill on the GPU: GGUF weights (Model) run through the CUDA backend.
        .target(
            name: "SparseSkeletonModelCUDA",
            dependencies: ["SparseSkeleton", "SparseSkeletonCUDA", "SparseSkeletonModel", "SparseSkeletonKernelParams"],
            exclude: ["Kernels"],
            plugins: ["EmbedKernelSources"]
        ),
        // The C ABI (include/sparse_skeleton.h) over the GPU path, for python/sparse_skeleton (ctypes).
        .target(name: "SparseSkeletonC", dependencies: ["SparseSkeleton", "SparseSkeletonCUDA"], exclude: ["include"]),
        // What runs on a GPU machine to judge and time the GPU path; the CLI's gpu-* commands call it.
        .target(
            name: "SparseSkeletonChecks",
            dependencies: ["SparseSkeleton", "SparseSkeletonCUDA", "SparseSkeletonModel", "SparseSkeletonModelCUDA"]
        ),
        .executableTarget(
            name: "skeleton",
            dependencies: [
                "SparseSkeleton", "SparseSkeletonCUDA", "SparseSkeletonModel", "SparseSkeletonModelCUDA", "SparseSkeletonChecks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Seeded mutation fuzzing of the .npy, safetensors and GGUF readers and the tokenizer (scripts/test.sh runs it briefly).
        .executableTarget(name: "skeleton-fuzz", dependencies: ["SparseSkeleton", "SparseSkeletonModel"]),
        .testTarget(name: "SparseSkeletonTests", dependencies: ["SparseSkeleton"]),
        .testTarget(name: "SparseSkeletonCUDATests", dependencies: ["SparseSkeletonCUDA", "SparseSkeleton", "SparseSkeletonC"]),
        .testTarget(name: "SparseSkeletonModelCUDATests", dependencies: ["SparseSkeletonModelCUDA"]),
        .testTarget(name: "SparseSkeletonModelTests", dependencies: ["SparseSkeletonModel", "SparseSkeleton"]),
        .testTarget(name: "SparseSkeletonChecksTests", dependencies: ["SparseSkeletonChecks", "SparseSkeletonCUDA", "SparseSkeleton"]),
    ],
    swiftLanguageModes: [.v5]
)

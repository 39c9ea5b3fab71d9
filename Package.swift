// swift-tools-version:6.1
import PackageDescription

// Layout mirrors the architecture (README, "Layout"):
//   SparseSkeleton              core, pure Swift, no GPU symbols
//   SparseSkeletonKernelParams  C header target: one parameter struct per kernel, shared by Swift and the .cu sources
//   SparseSkeletonCUDA          GPU backend: driver API + NVRTC through dlopen; Kernels/*.cu embedded at build time
//   SparseSkeletonModel         GGUF, tokenizer, Llama-family prefill with pluggable attention
//   SparseSkeletonModelCUDA     the model's prefill on the GPU (cuBLAS through dlopen, Kernels/*.cu)
//   SparseSkeletonC             the C ABI (libSparseSkeletonC.so) for the Python package
//   skeleton                    the command-line tool
//   EmbedKernelSources          build-tool plugin (+ its tool) that embeds each target's Kernels/ folder
let package = Package(
    name: "SparseSkeleton",
    products: [
        .library(name: "SparseSkeleton", targets: ["SparseSkeleton"]),
        .library(name: "SparseSkeletonCUDA", targets: ["SparseSkeletonCUDA"]),
        .library(name: "SparseSkeletonModel", targets: ["SparseSkeletonModel"]),
        .library(name: "SparseSkeletonModelCUDA", targets: ["SparseSkeletonModelCUDA"]),
        .executable(name: "skeleton", targets: ["skeleton"]),
        .library(name: "SparseSkeletonC", type: .dynamic, targets: ["SparseSkeletonC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    ],
    targets: [
        .target(
            name: "SparseSkeleton",
            dependencies: [.product(name: "Numerics", package: "swift-numerics")],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
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
            dependencies: ["SparseSkeleton"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
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
        .executableTarget(
            name: "skeleton",
            dependencies: [
                "SparseSkeleton", "SparseSkeletonCUDA", "SparseSkeletonModel", "SparseSkeletonModelCUDA",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "SparseSkeletonTests", dependencies: ["SparseSkeleton"]),
        .testTarget(name: "SparseSkeletonCUDATests", dependencies: ["SparseSkeletonCUDA", "SparseSkeleton", "SparseSkeletonC"]),
        .testTarget(name: "SparseSkeletonModelCUDATests", dependencies: ["SparseSkeletonModelCUDA"]),
        .testTarget(name: "SparseSkeletonModelTests", dependencies: ["SparseSkeletonModel", "SparseSkeleton"]),
    ],
    swiftLanguageModes: [.v5]
)

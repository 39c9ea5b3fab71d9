import Foundation
import PackagePlugin

/// Build-tool plugin: embeds the CUDA sources of a target's `Kernels/` folder (*.cu, *.cuh) — and,
/// for the CUDA backend, the kernel-parameter headers of `SparseSkeletonKernelParams/include` —
/// into a generated `KernelSources.swift` in the build's work folder, so the static binary needs no
/// resource folder and nothing generated is committed.
@main
struct EmbedKernelSources: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        var folders = [module.directoryURL.appending(path: "Kernels")]
        if target.name == "SparseSkeletonCUDA" {
            folders.append(context.package.directoryURL.appending(path: "Sources/SparseSkeletonKernelParams/include"))
        }
        let extensions: Set<String> = ["cu", "cuh", "h"]
        var inputs: [URL] = []
        for folder in folders {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            inputs += names.sorted().filter { extensions.contains(($0 as NSString).pathExtension) }.map { folder.appending(path: $0) }
        }
        let output = context.pluginWorkDirectoryURL.appending(path: "KernelSources.swift")
        return [.buildCommand(displayName: "Embedding \(inputs.count) CUDA sources into \(target.name)",
                              executable: try context.tool(named: "EmbedKernelSourcesTool").url,
                              arguments: [output.path] + inputs.map(\.path),
                              inputFiles: inputs, outputFiles: [output])]
    }
}

import ArgumentParser

struct GPUBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gpu-bench", abstract: "(being built)")
    func run() throws { throw ValidationError("'gpu-bench' is not built yet") }
}

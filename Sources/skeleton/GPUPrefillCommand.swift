import ArgumentParser

struct GPUPrefill: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gpu-prefill", abstract: "(being built)")
    func run() throws { throw ValidationError("'gpu-prefill' is not built yet") }
}

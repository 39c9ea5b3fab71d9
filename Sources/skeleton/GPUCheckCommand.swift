import ArgumentParser

struct GPUCheck: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gpu-check", abstract: "(being built)")
    func run() throws { throw ValidationError("'gpu-check' is not built yet") }
}

import ArgumentParser

struct MaskEval: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mask-eval", abstract: "(being built)")
    func run() throws { throw ValidationError("'mask-eval' is not built yet") }
}

import ArgumentParser

struct Capture: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "capture", abstract: "(being built)")
    func run() throws { throw ValidationError("'capture' is not built yet") }
}

import ArgumentParser

struct Niah: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "niah", abstract: "(being built)")
    func run() throws { throw ValidationError("'niah' is not built yet") }
}

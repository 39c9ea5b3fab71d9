import ArgumentParser

struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ppl", abstract: "(being built)")
    func run() throws { throw ValidationError("'ppl' is not built yet") }
}

import ArgumentParser
import SparseSkeleton

/// `--quiet` for every long command: no progress line (`ProgressReporter` draws only on a terminal anyway).
struct QuietOption: ParsableArguments {
    @Flag(help: "No progress line on stderr.") var quiet = false

    func validate() throws { ProgressReporter.quiet = quiet }
}

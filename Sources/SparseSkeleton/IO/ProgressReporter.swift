import Foundation

/// Progress on stderr: "label: 3/30 layers, 54 tok/s, elapsed 12 s, ETA 1 m 48 s", one line rewritten
/// in place (or, with `inPlace` off, for commands that print while they work, one line per update).
/// It draws only when stderr is a terminal and `quiet` is off, so piped or logged output carries no
/// progress.
public final class ProgressReporter: @unchecked Sendable {
    /// Set once by a command's `--quiet` before any work starts.
    public static var quiet = false
    public static var enabled: Bool { !quiet && isatty(STDERR_FILENO) != 0 }

    let label: String, unit: String, total: Int, tokensPerStep: Double?
    let start = DispatchTime.now().uptimeNanoseconds
    let draws: Bool, inPlace: Bool
    var drawn = false

    /// `tokensPerStep`: tokens one step processes (for tokens/s); nil prints steps/s.
    public init(label: String, total: Int, unit: String, tokensPerStep: Double? = nil, inPlace: Bool = true,
                enabled: Bool = ProgressReporter.enabled) {
        self.label = label; self.total = max(total, 1); self.unit = unit; self.tokensPerStep = tokensPerStep
        self.inPlace = inPlace; draws = enabled
    }

    var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    /// The line for `done` steps after `elapsed` seconds.
    public func line(done: Int, elapsed: Double) -> String {
        // Below a second of work the rate is noise: say nothing rather than a wild number.
        let measured = done > 0 && elapsed >= 1
        let rate = Double(done) / max(elapsed, 1e-9)
        let speed = !measured ? "rate ?" : tokensPerStep.map { String(format: "%.0f tok/s", rate * $0) } ?? String(format: "%.2f %@/s", rate, unit)
        let eta = measured ? Self.duration(elapsed / Double(done) * Double(total - done)) : "?"
        return "\(label): \(done)/\(total) \(unit), \(speed), elapsed \(Self.duration(elapsed)), ETA \(eta)"
    }

    public static func duration(_ s: Double) -> String {
        s < 60 ? String(format: "%.0f s", s) : String(format: "%d m %02d s", Int(s) / 60, Int(s) % 60)
    }

    public func update(done: Int) {
        guard draws else { return }
        drawn = inPlace
        let text = line(done: done, elapsed: elapsed)
        FileHandle.standardError.write(Data((inPlace ? "\r\u{1B}[K" + text : text + "\n").utf8))
    }

    /// Ends the line (call once the work is done, before other output).
    public func finish() {
        guard draws, drawn else { return }
        drawn = false
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

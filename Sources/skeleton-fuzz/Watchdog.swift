import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What a crash or hang must leave behind: the input being run, written to `reproPrefix`-crash.bin
/// (from the signal handler, with async-signal-safe calls only) or -hang.bin (by the watchdog thread).
nonisolated(unsafe) var currentInput = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
nonisolated(unsafe) var currentInputCapacity = 1
nonisolated(unsafe) var currentInputLength = 0
nonisolated(unsafe) var crashPath: UnsafeMutablePointer<CChar> = strdup("fuzz-crash.bin")
let caseStartNanos = Atomic<UInt64>(0)

func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

enum Watchdog {
    /// Records the input about to run (so a crash can write it out) and starts its clock.
    static func begin(_ input: [UInt8]) {
        if input.count > currentInputCapacity {
            currentInput.deallocate()
            currentInputCapacity = max(input.count, currentInputCapacity * 2)
            currentInput = .allocate(capacity: currentInputCapacity)
        }
        input.withUnsafeBufferPointer { if let p = $0.baseAddress { currentInput.update(from: p, count: input.count) } }
        currentInputLength = input.count
        caseStartNanos.store(monotonicNanos(), ordering: .releasing)
    }

    static func end() { caseStartNanos.store(0, ordering: .releasing) }

    static func writeCurrentInput(to path: UnsafePointer<CChar>) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd >= 0 {
            _ = write(fd, currentInput, currentInputLength)
            close(fd)
        }
    }

    /// Crash signals write the input and then die with the signal's default action.
    static func installCrashHandlers(reproPrefix: String) {
        crashPath = strdup(reproPrefix + "-crash.bin")
        for sig in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in
                Watchdog.writeCurrentInput(to: crashPath)
                let msg = "skeleton-fuzz: CRASH (signal); the input is in the -crash.bin file\n"
                _ = msg.withCString { write(2, $0, strlen($0)) }
                signal(sig, SIG_DFL)
                raise(sig)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(sig, &action, nil)
        }
    }

    /// A thread that ends the process when one case has run longer than `limitSeconds`.
    static func startHangWatch(limitSeconds: Double, reproPrefix: String) {
        let hangPath = reproPrefix + "-hang.bin"
        let limit = UInt64(limitSeconds * 1e9)
        let t = Thread {
            while true {
                usleep(100_000)
                let start = caseStartNanos.load(ordering: .acquiring)
                if start != 0, monotonicNanos() &- start > limit {
                    hangPath.withCString { writeCurrentInput(to: $0) }
                    FileHandle.standardError.write("skeleton-fuzz: HANG: one input ran over \(limitSeconds) s; it is in \(hangPath)\n".data(using: .utf8)!)
                    exit(3)
                }
            }
        }
        t.start()
    }
}

/// Resident memory from /proc/self/status: the current value and the peak since `resetPeak`.
enum ResidentMemory {
    static func resetPeak() {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        if fd >= 0 { _ = write(fd, "5", 1); close(fd) }
    }

    static func kilobytes(_ field: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    static var currentBytes: Int { kilobytes("VmRSS") * 1024 }
    static var peakBytes: Int { kilobytes("VmHWM") * 1024 }
}

import Foundation
import SparseSkeleton
import SparseSkeletonModel

/// skeleton-fuzz: seeded mutation fuzzing of the file readers and the tokenizer, in process.
///
///   skeleton-fuzz [npy|safetensors|gguf|tokenizer|all] [--cases N] [--seconds S] [--seed X]
///                 [--data DIR] [--hang-seconds 5] [--memory-slack-mb 64] [--repro DIR]
///
/// Each target runs until N cases or S seconds (whichever first; per target). A crash writes the
/// input to DIR/<target>-crash.bin and dies with the signal; a case over --hang-seconds writes
/// DIR/<target>-hang.bin and exits 3; a consistency failure of an accepted input exits 2; peak
/// resident memory above the setup's by more than 2 × the largest input + the slack exits 4.
struct Options {
    var targets = ["npy", "safetensors", "gguf", "tokenizer"]
    var cases = Int.max
    var seconds = 10.0
    var seed: UInt64 = 1
    var data: String?
    var hangSeconds = 5.0
    var slackMB = 64
    var repro = NSTemporaryDirectory()
}

func parseOptions() -> Options {
    var o = Options()
    var args = Array(CommandLine.arguments.dropFirst())
    func value(_ flag: String) -> String {
        guard !args.isEmpty else { fail("\(flag) needs a value") }
        return args.removeFirst()
    }
    func fail(_ message: String) -> Never {
        FileHandle.standardError.write("skeleton-fuzz: \(message)\n".data(using: .utf8)!)
        exit(64)
    }
    while !args.isEmpty {
        let a = args.removeFirst()
        switch a {
        case "npy", "safetensors", "gguf", "tokenizer": o.targets = [a]
        case "all": break
        case "--cases": guard let n = Int(value(a)), n > 0 else { fail("--cases must be a positive integer") }; o.cases = n
        case "--seconds": guard let s = Double(value(a)), s > 0, s.isFinite else { fail("--seconds must be positive") }; o.seconds = s
        case "--seed": guard let s = UInt64(value(a)) else { fail("--seed must be a non-negative integer") }; o.seed = s
        case "--data": o.data = value(a)
        case "--hang-seconds": guard let s = Double(value(a)), s > 0, s.isFinite else { fail("--hang-seconds must be positive") }; o.hangSeconds = s
        case "--memory-slack-mb": guard let m = Int(value(a)), m >= 0 else { fail("--memory-slack-mb must be ≥ 0") }; o.slackMB = m
        case "--repro": o.repro = value(a)
        default: fail("unknown argument '\(a)'")
        }
    }
    if o.data == nil { o.data = (try? DataDirectory.resolve())?.path }
    return o
}

func makeTarget(_ name: String, _ seeds: Seeds) throws -> FuzzTarget {
    switch name {
    case "npy": return FuzzTargets.npy(try seeds.npy())
    case "safetensors": return FuzzTargets.safetensors(try seeds.safetensors())
    case "gguf": return FuzzTargets.gguf(try seeds.gguf())
    default:
        let g: GGUFFile
        if let model = seeds.modelPath { g = try GGUFFile(path: model) } else { g = try GGUFFile(contents: Seeds.syntheticGGUF(), path: "synthetic") }
        guard let tok = try? BPETokenizer(gguf: g) else {
            throw SkeletonError.invalidArgument("the tokenizer target needs the SmolLM2 GGUF under the data directory (scripts/setup.sh)")
        }
        return FuzzTargets.tokenizer(tok, seeds.texts())
    }
}

let options = parseOptions()
let seeds = Seeds(data: options.data)
print("skeleton-fuzz: data \(options.data ?? "(none: synthetic seeds)"), seed \(options.seed), hang limit \(options.hangSeconds) s")
var failed = false
for (k, name) in options.targets.enumerated() {
    let target: FuzzTarget
    do { target = try makeTarget(name, seeds) } catch {
        print("skeleton-fuzz: \(name): cannot build seeds: \(error)")
        failed = true
        continue
    }
    let repro = options.repro + "/" + name
    Watchdog.installCrashHandlers(reproPrefix: repro)
    if k == 0 { Watchdog.startHangWatch(limitSeconds: options.hangSeconds, reproPrefix: options.repro + "/fuzz") }
    // every seed must itself be accepted: the readers read what the writers write
    for s in target.seeds {
        do { _ = try target.run(s) } catch { print("skeleton-fuzz: \(name): a seed is rejected: \(error)"); failed = true }
    }
    var mutator = Mutator(seed: options.seed &+ UInt64(k) &* 0x9E37_79B9, maxLength: target.maxLength)
    let baseline = ResidentMemory.currentBytes
    ResidentMemory.resetPeak()
    let start = monotonicNanos()
    let deadline = start + UInt64(options.seconds * 1e9)
    var cases = 0, accepted = 0, maxLength = 0
    var slowest: UInt64 = 0
    while cases < options.cases {
        let input = mutator.next(from: target.seeds)
        maxLength = max(maxLength, input.count)
        Watchdog.begin(input)
        let t0 = monotonicNanos()
        do {
            if try target.run(input) { accepted += 1 }
        } catch let e as FuzzCheckFailure {
            Watchdog.writeCurrentInput(to: repro + "-inconsistent.bin")
            print("skeleton-fuzz: \(name): INCONSISTENT: \(e) (input in \(repro)-inconsistent.bin)")
            exit(2)
        } catch {}
        let t1 = monotonicNanos()
        Watchdog.end()
        slowest = max(slowest, t1 - t0)
        cases += 1
        if cases % 256 == 0, t1 > deadline { break }
    }
    let elapsed = Double(monotonicNanos() - start) / 1e9
    let peak = ResidentMemory.peakBytes
    let growth = max(0, peak - baseline)
    let bound = 2 * maxLength + options.slackMB << 20
    let line = String(format: "skeleton-fuzz: %@: %d cases in %.1f s (%.0f/s), %d accepted, %d rejected, 0 crashes, 0 hangs; slowest case %.3f s; largest input %d B; peak RSS %.1f MB (%.1f MB over the setup's; bound 2 × input + %d MB = %.1f MB)",
                      name, cases, elapsed, Double(cases) / elapsed, accepted, cases - accepted, Double(slowest) / 1e9, maxLength,
                      Double(peak) / 1e6, Double(growth) / 1e6, options.slackMB, Double(bound) / 1e6)
    print(line)
    if growth > bound {
        print("skeleton-fuzz: \(name): MEMORY: peak resident memory grew \(growth) bytes, over the bound \(bound)")
        failed = true
    }
}
exit(failed ? 1 : 0)

import Dispatch
import Foundation
import SparseSkeleton

/// What the model commands share: finding and loading the model and the text, the evaluation
/// window (BOS, then the text's tokens from a start character, as scripts/reference does),
/// progress lines on stderr and comma-separated arguments. (The CLI adds the attention backend
/// named on its command line.)
public enum ModelSession {
    /// The model `--model` names by default, looked up in the data directory (`DataDirectory`).
    public static let defaultModel = "SmolLM2-135M-Instruct.Q4_1.gguf"

    public static func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

    public static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// A model by path, or by file name under the data directory's models/, of any architecture
    /// `ModelArchitectures` runs (PI ×k on the global layers when `positionInterpolation` > 1).
    /// `check` sees the model's configuration (read from the GGUF header) before the weights load,
    /// so a request the model cannot serve (a window longer than its context, a layer it lacks) fails at once.
    public static func loadModel(_ nameOrPath: String, positionInterpolation: Int = 1,
                                 check: (any ModelConfig) throws -> Void = { _ in }) throws -> any CausalLM {
        let path = try DataDirectory.locate(nameOrPath, folder: "models", suffix: ".gguf")
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError.fileNotFound(path: path, what: "model file", hint: "run scripts/setup.sh --model-only")
        }
        try requireRegularFile(path, what: "model")
        AtomicOutput.protect([path])
        let t0 = now()
        let gguf = try GGUFFile(path: path)
        try check(try ModelArchitectures.config(gguf: gguf, positionInterpolation: positionInterpolation))
        let model = try ModelArchitectures.load(gguf: gguf, positionInterpolation: positionInterpolation)
        let c = model.config
        let pi = c.positionInterpolation > 1 ? ", \(c.positionInterpolationLabel) on the global layers" : ""
        log("loaded \(URL(fileURLWithPath: path).lastPathComponent): \(c.architecture)\(pi), \(c.layers) layers, heads \(c.heads)/\(c.kvHeads), d \(c.headDim), context \(c.contextLength), vocab \(c.vocabSize) in \(String(format: "%.1f", now() - t0)) s; matmul: \(Gemm.backendDescription)")
        return model
    }

    /// The largest text file read (a book is a few MB).
    public static let maxTextBytes = 1 << 30

    /// A text by path, or by name under the data directory's texts/ (without .txt). Invalid UTF-8
    /// is an error unless `lossy` (then each invalid byte sequence becomes U+FFFD).
    public static func readText(_ nameOrPath: String, lossy: Bool = false) throws -> String {
        let path = try textPath(nameOrPath)
        try requireRegularFile(path, what: "text", maxBytes: maxTextBytes)
        AtomicOutput.protect([path])
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SkeletonError.fileUnreadable(path: path, reason: "cannot read")
        }
        if lossy { return String(decoding: data, as: UTF8.self) }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "the text is not valid UTF-8 (--lossy-utf8 reads it with invalid bytes replaced by U+FFFD)")
        }
        return text
    }

    /// Where `readText` reads a text named on the command line.
    public static func textPath(_ nameOrPath: String) throws -> String {
        let path = try DataDirectory.locate(nameOrPath, folder: "texts", suffix: ".txt")
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError.fileNotFound(path: nameOrPath, what: "text", hint: "give a path or a name under \(URL(fileURLWithPath: path).deletingLastPathComponent().path); run scripts/setup.sh")
        }
        return path
    }

    /// A FIFO, a device or a folder given as a file would block or mislead the reader: refused by name.
    static func requireRegularFile(_ path: String, what: String, maxBytes: Int = .max) throws {
        let attrs = try? FileManager.default.attributesOfItem(atPath: path)
        guard attrs?[.type] as? FileAttributeType == .typeRegular else {
            throw SkeletonError.fileUnreadable(path: path, reason: "the \(what) is not a regular file")
        }
        if let size = attrs?[.size] as? Int, size > maxBytes {
            throw SkeletonError.fileUnreadable(path: path, reason: "the \(what) has \(size) bytes, more than the \(maxBytes) read")
        }
    }

    /// BOS, then the tokens of the text from Unicode scalar `startChar` on (Python's str
    /// indexing), `count` tokens in all.
    public static func window(_ model: any CausalLM, text: String, textName: String, count: Int, startChar: Int) throws -> [Int32] {
        guard count >= 2 else { throw ModelError.invalidRequest("need at least 2 tokens, got \(count)") }
        guard count <= model.config.contextLength else {
            throw ModelError.contextTooLong(requested: count, modelContext: model.config.contextLength)
        }
        let scalars = text.unicodeScalars
        guard startChar >= 0, startChar < scalars.count else {
            throw ModelError.invalidRequest("text '\(textName)' has \(scalars.count) characters, fewer than the start character \(startChar)")
        }
        var tail = String.UnicodeScalarView()
        tail.append(contentsOf: scalars.dropFirst(startChar))
        let bos = model.tokenizer.bosID ?? 1
        let ids = [bos] + model.tokenizer.encode(String(tail), parseSpecial: true, maxTokens: count - 1)
        guard ids.count == count else {
            throw ModelError.textTooShort(path: textName, tokensAvailable: ids.count, tokensNeeded: count)
        }
        return ids
    }

    /// The model's name in a table header: its file name, then "PI ×k" when positions are interpolated.
    public static func label(_ model: any CausalLM, path: String) -> String {
        let name = URL(fileURLWithPath: path).lastPathComponent
        let pi = model.config.positionInterpolationLabel
        return pi.isEmpty ? name : "\(name) \(pi)"
    }

    /// Per-layer progress (`ProgressReporter`; tokens/s counts the prompt once per layer fraction done).
    public static func progress(tokens: Int, label: String) -> (Int, Int) -> Void {
        var reporter: ProgressReporter?
        return { done, total in
            let r = reporter ?? ProgressReporter(label: label, total: total, unit: "layers", tokensPerStep: Double(tokens) / Double(total))
            reporter = r
            r.update(done: done)
            if done == total { r.finish() }
        }
    }

    /// Prints a command's table under its header; with `report`, also writes both as markdown with
    /// the command line (arguments holding a space quoted) and the date.
    public static func emit(header: String, lines: [String], report: String?) throws {
        print(header)
        print("")
        lines.forEach { print($0) }
        guard let report else { return }
        let command = "skeleton " + CommandLine.arguments.dropFirst().map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        let body = ["## \(header)", "", "Command: `\(command)`  ", "Date: \(ISO8601DateFormatter().string(from: Date()))", ""] + lines + [""]
        try AtomicOutput.write(body.joined(separator: "\n"), to: report)
    }

    /// A comma-separated list of integers (`OptionValues`).
    public static func parseInts(_ s: String, name: String, in range: ClosedRange<Int> = Int.min...Int.max) throws -> [Int] {
        try OptionValues.integers(s, name, in: range)
    }

    /// A comma-separated list of finite numbers in `interval` (`OptionValues`).
    public static func parseDoubles(_ s: String, name: String, _ interval: OptionValues.Interval) throws -> [Double] {
        try OptionValues.reals(s, name, interval)
    }
}

/// Requests checked against the model's configuration before its weights load (`loadModel(check:)`).
extension ModelConfig {
    /// `tokens` (as option `name`) must fit the model's context.
    public func require(tokens: Int, _ name: String) throws {
        guard tokens <= contextLength else {
            throw ModelError.invalidRequest("\(name) \(tokens) is longer than the model's context of \(contextLength) tokens")
        }
    }

    /// Every layer number (as option `name`) must be one of the model's.
    public func require(layers chosen: [Int], _ name: String) throws {
        if let bad = chosen.first(where: { $0 < 0 || $0 >= layers }) {
            throw SkeletonError.invalidArgument("\(name): layer \(bad) is outside 0..<\(layers)")
        }
    }
}

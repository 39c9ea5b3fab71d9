import Foundation

// EmbedKernelSourcesTool OUTPUT FILE... — writes `enum KernelSources { static let files: [name: text] }`
// with each file as a raw string literal whose delimiter is longer than any run of '#' after a
// quote in the text, so any source embeds verbatim. Written to a temporary name, then renamed.
let arguments = CommandLine.arguments.dropFirst()
guard let output = arguments.first else {
    FileHandle.standardError.write(Data("usage: EmbedKernelSourcesTool OUTPUT FILE...\n".utf8))
    exit(2)
}

func delimiter(for text: String) -> String {
    var longest = 0, run = -1
    for c in text {
        if c == "\"" { run = 0 } else if c == "#", run >= 0 { run += 1; longest = max(longest, run) } else { run = -1 }
    }
    return String(repeating: "#", count: longest + 1)
}

var out = "// Generated at build time by the EmbedKernelSources plugin; edit the .cu/.cuh/.h files instead.\n"
out += "enum KernelSources {\n    static let files: [String: String] = [\n"
var seen = Set<String>()
for path in arguments.dropFirst() {
    let name = (path as NSString).lastPathComponent
    guard seen.insert(name).inserted else {
        FileHandle.standardError.write(Data("EmbedKernelSourcesTool: two sources are named \(name)\n".utf8))
        exit(1)
    }
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        FileHandle.standardError.write(Data("EmbedKernelSourcesTool: cannot read \(path) as UTF-8\n".utf8))
        exit(1)
    }
    let d = delimiter(for: text)
    out += "        \"\(name)\": \(d)\"\"\"\n\(text)\n\"\"\"\(d),\n"
}
if seen.isEmpty { out += "        :\n" }
out += "    ]\n}\n"
let temporary = output + ".tmp"
do {
    try out.write(toFile: temporary, atomically: false, encoding: .utf8)
    if FileManager.default.fileExists(atPath: output) { try FileManager.default.removeItem(atPath: output) }
    try FileManager.default.moveItem(atPath: temporary, toPath: output)
} catch {
    FileHandle.standardError.write(Data("EmbedKernelSourcesTool: cannot write \(output): \(error)\n".utf8))
    exit(1)
}

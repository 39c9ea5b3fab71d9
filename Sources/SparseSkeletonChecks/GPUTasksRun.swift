import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel
import SparseSkeletonModelCUDA

/// `skeleton gpu-tasks`' run: long-context retrieval prompts (`NeedleTask`, `MultiKeyNeedleTask`,
/// `KeyValueTask`) decoded greedily on the GPU (`greedyByPrefill`) and scored exactly
/// (`RetrievalScore`), and perplexity windows of texts, dense against every sparse mode.
public struct GPUTasksRun {
    public enum Task: String, CaseIterable, Sendable { case needle, multikey, kv }

    /// Tokens kept free after every prompt for its answer: a prompt of length L has at most L − this
    /// many tokens, so that the decode stays within L.
    public static let answerRoom = 64

    public var lengths: [Int]
    public var tasks: [Task]
    public var depths: [Int]
    public var seed: UInt64
    public var needles: Int
    public var pplLengths: [Int]
    public var startChar: Int

    public init(lengths: [Int], tasks: [Task], depths: [Int], seed: UInt64, needles: Int, pplLengths: [Int], startChar: Int) {
        self.lengths = lengths; self.tasks = tasks; self.depths = depths; self.seed = seed; self.needles = needles
        self.pplLengths = pplLengths; self.startChar = startChar
    }

    /// Every prompt: lengths × tasks × depths, in that order. `hay` holds at least the longest prompt's filler.
    public func prompts(tokenizer tok: any TextTokenizer, hay: [Int32]) throws -> [(length: Int, prompt: RetrievalPrompt)] {
        var out: [(Int, RetrievalPrompt)] = []
        for length in lengths {
            let n = length - Self.answerRoom
            for task in tasks {
                for depth in depths {
                    let p: RetrievalPrompt
                    switch task {
                    case .needle: p = try NeedleTask(seed: seed).build(tokenizer: tok, hay: hay, tokens: n, depthPercent: depth)
                    case .multikey: p = try MultiKeyNeedleTask(needles: needles, seed: seed).build(tokenizer: tok, hay: hay, tokens: n, depthPercent: depth)
                    case .kv: p = try KeyValueTask(seed: seed).build(tokenizer: tok, tokens: n, depthPercent: depth)
                    }
                    guard p.decodeBudget < Self.answerRoom else {
                        throw ModelError.invalidRequest("\(task.rawValue) answer needs \(p.decodeBudget) tokens, more than the \(Self.answerRoom) kept free")
                    }
                    out.append((length, p))
                }
            }
        }
        return out
    }

    public struct Answer: Sendable {
        public let text: String
        public let ok: Bool
        /// Mean mask density of the estimated (global) layers in the prompt's prefill (nil: dense).
        public let density: Double?
        public let prefills: Int
        public let seconds: Double
    }

    public struct PerplexityRow: Sendable {
        public let text: String, tokens: Int, mode: String
        public let perplexity: Double
        public let density: Double?
    }

    static func estimatedDensity(_ t: GPUPrefillTimings, _ layers: [Int]) -> Double? {
        let d = layers.filter { $0 < t.layerDensities.count }.map { t.layerDensities[$0] }
        return d.isEmpty ? nil : d.reduce(0, +) / Double(d.count)
    }

    /// A prompt's last logits with buffers sized exactly, then again in a larger reserved workspace
    /// after a longer prompt has filled it: they must agree (a row past N must never leak in).
    public static func reuseCheck(gpu: GPUModelPrefill, short: [Int32], long: [Int32]) throws {
        let exact = try gpu.prefill(tokens: short, attention: .dense).lastLogits
        try gpu.reserve(tokens: long.count)
        _ = try gpu.prefill(tokens: long, attention: .dense)
        let reused = try gpu.prefill(tokens: short, attention: .dense).lastLogits
        var maxDiff = 0.0, num = 0.0, den = 0.0
        for (a, b) in zip(exact, reused) { let d = Double(a) - Double(b); maxDiff = max(maxDiff, abs(d)); num += d * d; den += Double(a) * Double(a) }
        let rel = (num / max(den, 1e-300)).squareRoot()
        let same = greedyArgmax(exact) == greedyArgmax(reused)
        print("reuse-check N = \(short.count) in a workspace of \(long.count): last logits max |diff| \(String(format: "%.3e", maxDiff)), relative L2 \(String(format: "%.2e", rel)), argmax \(same ? "agrees" : "DIFFERS") — \(same && rel <= 1e-3 ? "PASS" : "FAIL")")
        guard same, rel <= 1e-3 else { throw SkeletonError.invalidArgument("the reused workspace changed the logits (relative L2 \(rel))") }
    }

    /// Perplexity of each text's window (BOS + the text from `startChar`) at each `pplLengths`, every mode.
    public func perplexity<M: CausalLM>(gpu: GPUModelPrefill, model m: M, texts: [(name: String, text: String)],
                                        modes: [(String, GPUAttentionMode)]) throws -> [PerplexityRow] {
        var rows: [PerplexityRow] = []
        for (name, text) in texts {
            for n in pplLengths {
                let ids = try ModelSession.window(m, text: text, textName: name, count: n, startChar: startChar)
                for (label, mode) in modes {
                    let t0 = ModelSession.now()
                    let r = try gpu.prefill(tokens: ids, attention: mode, record: GPUPrefillRecording(masks: mode.target != nil))
                    let lp = try gpu.targetLogProbabilities(Array(ids.dropFirst()))
                    let ppl = Foundation.exp(-lp.reduce(0, +) / Double(lp.count))
                    guard ppl.isFinite else { throw SkeletonError.invalidArgument("perplexity of \(name) at \(n), \(label) is \(ppl)") }
                    let density = mode.target == nil ? nil : Self.estimatedDensity(r.timings, gpu.estimatedLayers)
                    rows.append(PerplexityRow(text: name, tokens: n, mode: label, perplexity: ppl, density: density))
                    print("ppl \(name) N = \(n) \(label): \(fixed(ppl, 4))\(density.map { ", global-layer density \(fixed($0, 3))" } ?? "") (\(fixed(ModelSession.now() - t0, 2)) s)")
                    fflush(stdout)
                }
            }
        }
        return rows
    }

    /// Each prompt in each mode: greedy answer, exact score, density, appended to `table` ([prompt][mode])
    /// as each prompt completes, so that the prompts done before an error still make a table.
    public func retrieval<M: CausalLM>(gpu: GPUModelPrefill, model m: M, prompts: [(length: Int, prompt: RetrievalPrompt)],
                                       modes: [(String, GPUAttentionMode)], into table: inout [[Answer]]) throws {
        let stop = Set([m.tokenizer.eosID].compactMap { $0 })
        for (length, p) in prompts {
            var row: [Answer] = []
            for (label, mode) in modes {
                let decoded = try gpu.greedyByPrefill(prompt: p.tokens, attention: mode, maxTokens: p.decodeBudget, stopTokens: stop) { out in
                    RetrievalScore.isDecided(try m.tokenizer.decode(out), answer: p.answer)
                }
                let text = try m.tokenizer.decode(decoded.tokens)
                let ok = RetrievalScore.isExact(text, answer: p.answer)
                let density = mode.target == nil ? nil : Self.estimatedDensity(decoded.promptPrefill.timings, gpu.estimatedLayers)
                row.append(Answer(text: text, ok: ok, density: density, prefills: decoded.prefills, seconds: decoded.seconds))
                print("\(p.task) N = \(length) depth \(p.depthPercent)% \(label): \(text.debugDescription) (want \(p.answer)) → \(ok ? "retrieved" : "MISSED")"
                      + "\(density.map { ", density \(fixed($0, 3))" } ?? ""), \(decoded.prefills) prefills, \(fixed(decoded.seconds, 2)) s")
                fflush(stdout)
            }
            table.append(row)
        }
    }

    static func cell(_ s: String) -> String {
        "`" + s.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "\n", with: "⏎").replacingOccurrences(of: "|", with: "\\|")
            .replacingOccurrences(of: "`", with: "'") + "`"
    }

    /// The tables: every prompt; counts per task and length (with agreement with dense); densities;
    /// perplexity. Modes[0] must be dense.
    public func tables(prompts: [(length: Int, prompt: RetrievalPrompt)], answers: [[Answer]], modes: [String],
                       perplexity: [PerplexityRow]) -> [String] {
        var lines: [String] = []
        if !prompts.isEmpty {
            lines.append("### Every prompt (greedy answer; yes = exact)")
            lines.append("")
            lines.append("| task | N | depth | prompt tokens | item at | answer | " + modes.joined(separator: " | ") + " |")
            lines.append("|---|---:|---:|---:|---:|---|" + String(repeating: "---|", count: modes.count))
            for ((length, p), row) in zip(prompts, answers) {
                let cells = row.map { $0.ok ? "yes" : "no \(Self.cell($0.text))" }
                lines.append("| \(p.task) | \(length) | \(p.depthPercent)% | \(p.tokens.count) | \(p.itemAt) | `\(p.answer)` | " + cells.joined(separator: " | ") + " |")
            }
            lines.append("")
            lines.append("### Retrieved (exact) per task and length; (= k: answers identical to dense's)")
            lines.append("")
            lines.append("| task | N | " + modes.joined(separator: " | ") + " |")
            lines.append("|---|---:|" + String(repeating: "---|", count: modes.count))
            var groups: [(String, String, [Int])] = []
            for length in lengths { for task in tasks {
                groups.append((task.rawValue, String(length), prompts.indices.filter { prompts[$0].length == length && prompts[$0].prompt.task == task.rawValue }))
            } }
            groups.append(("all", "all", Array(prompts.indices)))
            for (task, length, idx) in groups where !idx.isEmpty {
                let cells = modes.indices.map { s -> String in
                    let ok = idx.filter { answers[$0][s].ok }.count
                    if s == 0 { return "\(ok)/\(idx.count)" }
                    let same = idx.filter { answers[$0][s].text == answers[$0][0].text }.count
                    return "\(ok)/\(idx.count) (= \(same))"
                }
                lines.append("| \(task) | \(length) | " + cells.joined(separator: " | ") + " |")
            }
            lines.append("")
            lines.append("### Mean mask density of the global layers over the prompts")
            lines.append("")
            lines.append("| N | " + modes.dropFirst().joined(separator: " | ") + " |")
            lines.append("|---:|" + String(repeating: "---:|", count: modes.count - 1))
            for length in lengths {
                let idx = prompts.indices.filter { prompts[$0].length == length }
                let cells = modes.indices.dropFirst().map { s -> String in
                    let d = idx.compactMap { answers[$0][s].density }
                    return d.isEmpty ? "—" : fixed(d.reduce(0, +) / Double(d.count), 3)
                }
                lines.append("| \(length) | " + cells.joined(separator: " | ") + " |")
            }
        }
        if !perplexity.isEmpty {
            lines.append("")
            lines.append("### Perplexity (window from character \(startChar))")
            lines.append("")
            lines.append("| text | N | attention | global-layer density | perplexity | change vs dense |")
            lines.append("|---|---:|---|---:|---:|---:|")
            for r in perplexity {
                let dense = perplexity.first { $0.text == r.text && $0.tokens == r.tokens && $0.mode == modes[0] }?.perplexity
                let change = dense.map { r.mode == modes[0] ? "—" : String(format: "%+.3f %%", 100 * (r.perplexity / $0 - 1)) } ?? "—"
                lines.append("| \(r.text) | \(r.tokens) | \(r.mode) | \(r.density.map { fixed($0, 3) } ?? "1") | \(fixed(r.perplexity, 4)) | \(change) |")
            }
        }
        lines.append("")
        lines.append("### Summary per sparse mode (against dense)")
        lines.append("")
        for s in modes.indices.dropFirst() {
            var parts: [String] = []
            if !prompts.isEmpty {
                let ok = answers.filter { $0[s].ok }.count, dense = answers.filter { $0[0].ok }.count
                let same = answers.filter { $0[s].text == $0[0].text }.count
                let lost = answers.filter { $0[0].ok && !$0[s].ok }.count, gained = answers.filter { !$0[0].ok && $0[s].ok }.count
                parts.append("retrieved \(ok)/\(answers.count) (dense \(dense)/\(answers.count)), lost \(lost), gained \(gained), answers identical to dense on \(same)/\(answers.count)")
            }
            let changes = perplexity.filter { $0.mode == modes[s] }.compactMap { r -> String? in
                guard let d = perplexity.first(where: { $0.text == r.text && $0.tokens == r.tokens && $0.mode == modes[0] }) else { return nil }
                return "\(r.text) \(r.tokens) \(String(format: "%+.3f %%", 100 * (r.perplexity / d.perplexity - 1)))"
            }
            if !changes.isEmpty { parts.append("perplexity " + changes.joined(separator: ", ")) }
            lines.append("- \(modes[s]): " + parts.joined(separator: "; "))
        }
        return lines
    }
}

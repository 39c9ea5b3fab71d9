import XCTest
@testable import SparseSkeletonModel
@testable import SparseSkeletonChecks

/// gpu-tasks' tables from known answers (no GPU): counts per task and length, agreement with
/// dense, densities and perplexity changes as the answers and rows say.
final class GPUTasksTablesTests: XCTestCase {
    func testCountsAgreementAndPerplexityChange() {
        let run = GPUTasksRun(lengths: [8192, 16384], tasks: [.needle, .kv], depths: [10, 90], seed: 1, needles: 4, pplLengths: [8192], startChar: 0)
        var prompts: [(length: Int, prompt: RetrievalPrompt)] = []
        for l in run.lengths { for t in ["needle", "kv"] { for d in [10, 90] {
            prompts.append((l, RetrievalPrompt(task: t, depthPercent: d, tokens: [1, 2, 3], answer: "42", itemAt: 1, answerTokens: 2)))
        } } }
        func a(_ text: String, _ density: Double?) -> GPUTasksRun.Answer {
            GPUTasksRun.Answer(text: text, ok: RetrievalScore.isExact(text, answer: "42"), density: density, prefills: 3, seconds: 0.1)
        }
        // dense misses the second 16K kv prompt; sparse misses the first 8K needle and recovers nothing
        var answers: [[GPUTasksRun.Answer]] = prompts.indices.map { _ in [a(" 42.", nil), a(" 42.", 0.5)] }
        answers[0][1] = a(" 41.", 0.4)
        answers[7][0] = a(" 7.", nil); answers[7][1] = a(" 7", 0.6)
        let ppl = [GPUTasksRun.PerplexityRow(text: "emma", tokens: 8192, mode: "dense", perplexity: 20, density: nil),
                   GPUTasksRun.PerplexityRow(text: "emma", tokens: 8192, mode: "ε=0.02", perplexity: 20.1, density: 0.7)]
        let lines = run.tables(prompts: prompts, answers: answers, modes: ["dense", "ε=0.02"], perplexity: ppl)
        let text = lines.joined(separator: "\n")
        XCTAssertTrue(lines.contains("| needle | 8192 | 2/2 | 1/2 (= 1) |"), text)
        XCTAssertTrue(lines.contains("| kv | 16384 | 1/2 | 1/2 (= 1) |"), text)   // " 7" vs " 7.": not identical
        XCTAssertTrue(lines.contains("| all | all | 7/8 | 6/8 (= 6) |"), text)
        XCTAssertTrue(lines.contains("| emma | 8192 | ε=0.02 | 0.700 | 20.1000 | +0.500 % |"), text)
        XCTAssertTrue(text.contains("- ε=0.02: retrieved 6/8 (dense 7/8), lost 1, gained 0, answers identical to dense on 6/8; perplexity emma 8192 +0.500 %"), text)
        XCTAssertTrue(text.contains("| needle | 8192 | 10% | 3 | 1 | `42` | yes | no `41.` |"), text)
        // mean density over the 8 prompts of 16K: 0.5 × 3 + 0.6
        XCTAssertTrue(lines.contains("| 16384 | 0.525 |"), text)
    }
}

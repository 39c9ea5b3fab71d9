/// Which rows of a head are computed exactly. Two disjoint sets:
/// - **fit probes**: the last `lastRows` rows (the MInference probe: they see every key) plus one
///   row every `stride` rows at `offset` inside each stride window (they see the middle of the
///   sequence, so slash offsets and early columns are observed at many positions);
/// - **check probes**: one row every `stride` rows at a different offset, never used for fitting,
///   so the recall they measure is an honest (held-out) estimate of the mask's true recall.
/// Cost: (lastRows + 2N/stride) exact rows of O(N·d) each — at N = 8192, stride 64: 320 rows, 3.9%
/// of dense causal attention's logits (and O(P·N) memory).
public struct ProbeSet: Sendable {
    public let fitRows: [Int]
    public let checkRows: [Int]

    public init(tokens n: Int, lastRows: Int, stride: Int, fitOffset: Int, checkOffset: Int) {
        let tail = max(0, n - lastRows)
        var fit = Array(tail..<n)
        var check: [Int] = []
        var w = 0
        while w < tail {
            let f = w + min(fitOffset, stride - 1), c = w + min(checkOffset, stride - 1)
            if f < tail { fit.append(f) }
            if c < tail, c != f { check.append(c) }
            w += stride
        }
        fitRows = fit.sorted(); checkRows = check
    }
}

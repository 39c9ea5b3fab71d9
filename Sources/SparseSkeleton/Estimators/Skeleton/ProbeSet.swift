/// Which rows of a head are computed exactly. Two disjoint sets:
/// - **fit probes**: the last `lastRows` rows (the MInference probe: they see every key) plus one
///   row every `stride` rows at `offset` inside each stride window (they see the middle of the
///   sequence, so slash offsets and early columns are observed at many positions);
/// - **check probes**: one row per `stride` rows, never used for fitting, so the recall they measure
///   is an honest (held-out) estimate of the mask's true recall. Their offset inside each window
///   follows the golden-ratio sequence frac(w·φ) (skipping the fit row): recall depends strongly on
///   a row's offset inside its query block (early rows have their local window in the previous
///   tile), so a fixed offset would be a biased sample; the low-discrepancy offsets cover every
///   offset evenly.
/// Cost: (lastRows + 2N/stride) exact rows of O(N·d) each — at N = 8192, stride 64: 320 rows, 3.9%
/// of dense causal attention's logits (and O(P·N) memory).
public struct ProbeSet: Sendable {
    public let fitRows: [Int]
    public let checkRows: [Int]

    /// `checkOffset` < 0 selects the golden-ratio offsets (the default use).
    public init(tokens n: Int, lastRows: Int, stride: Int, fitOffset: Int, checkOffset: Int) {
        let tail = max(0, n - lastRows)
        var fit = Array(tail..<n)
        var check: [Int] = []
        var w = 0
        var window = 0
        while w < tail {
            let f = w + min(fitOffset, stride - 1)
            var off = checkOffset >= 0 ? min(checkOffset, stride - 1)
                : Int((Double(window) * 0.618_033_988_749_895).truncatingRemainder(dividingBy: 1) * Double(stride))
            if w + off == f { off = (off + 1) % stride }
            let c = w + off
            if f < tail { fit.append(f) }
            if c < tail { check.append(c) }
            w += stride; window += 1
        }
        fitRows = fit.sorted(); checkRows = check
    }
}

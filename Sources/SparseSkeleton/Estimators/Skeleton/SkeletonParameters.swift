/// Every knob of the skeleton estimator, shared by the CPU `SkeletonEstimator` and the GPU
/// estimator: the same parameters give the same mask on both (the GPU is checked against the CPU
/// mask for mask). The steps the knobs belong to are described on `SkeletonEstimator`.
public struct SkeletonParameters: Hashable, Sendable {
    /// Exact probe rows at the end of the sequence (the GPU takes at most 64).
    public var lastRows = 64

    /// Probe stride: one fit and one check row every `stride(tokens:)` rows. A fixed stride when
    /// set (the CPU default, 32); nil: the stride grows with N so that about `fitRowsPerHead`
    /// strided fit rows are taken per head, from `minStride` up to `maxStride` (the GPU default).
    public var fixedStride: Int? = 32
    public var fitRowsPerHead = 1024
    public var minStride = 32
    public var maxStride = 256

    /// IPF sweeps of the factor fit.
    public var fitSweeps = 4
    /// Weight α of the probes' own tile masses in the local blend, in [0, 1].
    public var localWeight = 0.75
    /// Error bound: calibrate ε' per head on the held-out check rows.
    public var calibrate = true
    public var calibrationMargin = 0.0
    /// z of the calibration's lower confidence bound (1.645 ≈ 95 %; 0 = the mean).
    public var confidenceZ = 1.645
    /// Tail calibration (nil = off): besides the mean bound, at most this fraction of the check rows
    /// may keep less than 1 − `tailScale` · ε of their mass (an empirical quantile of the per-row
    /// recall); a tiny value (1e-9) asks it of every check row.
    public var tailQuantile: Double? = nil
    public var tailScale = 4.0
    /// γ of the probe ratio correction (0 = off), and its floor λ as a multiple of 1/row length.
    public var ratioPower = 0.0
    public var ratioFloor = 0.5
    /// One mask per KV group (the union), so a K/V tile is loaded once.
    public var shareGroupMask = false
    /// Always-kept tiles: the sink block and the row-exact local band of 64 tokens (every row keeps
    /// its last 64 keys; docs/METHOD.md §6).
    public var alwaysKeep = AlwaysKeep.banded

    /// The CPU default: a fixed stride of 32.
    public init() {}

    /// The GPU default: the stride grows with N (32 up to N = 32K, then doubling to 256), so the
    /// probe work stays about 1024 rows per head, O(N) instead of O(N²/32).
    public static var growingStride: SkeletonParameters {
        var p = SkeletonParameters()
        p.fixedStride = nil
        return p
    }

    /// The probe stride at N tokens.
    public func stride(tokens n: Int) -> Int {
        fixedStride ?? Self.stride(tokens: n, fitRows: fitRowsPerHead, minStride: minStride, maxStride: maxStride)
    }

    /// The smallest `minStride · 2^k` (capped at `maxStride`) with stride · fitRows ≥ N.
    public static func stride(tokens n: Int, fitRows: Int = 1024, minStride: Int = 32, maxStride: Int = 256) -> Int {
        var s = minStride
        while s < maxStride && s * fitRows < n { s *= 2 }
        return s
    }

    /// Throws for parameters no estimator can run with at N tokens.
    public func validate(tokens n: Int) throws {
        if fixedStride == nil {  // checked first: stride(tokens:) does not end for minStride ≤ 0
            guard fitRowsPerHead >= 1, minStride >= 2, maxStride >= minStride else {
                throw SkeletonError.invalidArgument("skeleton stride policy needs fitRowsPerHead ≥ 1 and 2 ≤ minStride ≤ maxStride (got \(fitRowsPerHead), \(minStride), \(maxStride))")
            }
        }
        let s = stride(tokens: n)
        guard lastRows >= 1, s >= 2 else {
            throw SkeletonError.invalidArgument("skeleton probes need lastRows ≥ 1 and probe stride ≥ 2 (got \(lastRows), \(s))")
        }
        if let q = tailQuantile, !(q >= 0 && q < 1) || !(tailScale > 0) {
            throw SkeletonError.invalidArgument("skeleton tail calibration needs 0 ≤ tailQuantile < 1 and tailScale > 0 (got \(q), \(tailScale))")
        }
        guard localWeight >= 0, localWeight <= 1 else {
            throw SkeletonError.invalidArgument("skeleton localWeight \(localWeight) is outside [0, 1]")
        }
    }
}

/// Maps a density target onto an estimator's own monotone knob by bisection: the knob value whose
/// mask density is closest to the target (density grows with the knob). Used by baselines whose
/// native knob is a count or a coverage, not a density.
enum TargetSearch {
    static func knobForDensity(_ d: Double, lo: Double, hi: Double, iterations: Int = 24,
                               density: (Double) throws -> Double) rethrows -> Double {
        var lo = lo, hi = hi
        if try density(hi) <= d { return hi }
        if try density(lo) >= d { return lo }
        for _ in 0..<iterations {
            let mid = (lo + hi) / 2
            if try density(mid) < d { lo = mid } else { hi = mid }
        }
        let dl = try density(lo), dh = try density(hi)
        return abs(dl - d) <= abs(dh - d) ? lo : hi
    }
}

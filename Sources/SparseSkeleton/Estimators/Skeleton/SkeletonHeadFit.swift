/// Everything the skeleton learns about one query head from its probe rows: the factors, the
/// modelled tile masses, and the exact tile masses of the probe rows (for the local blend and for
/// calibration). Public so tools can draw and inspect it.
public struct SkeletonHeadFit: Sendable {
    /// v[j] = exp V[j], per key.
    public let vertical: [Double]
    /// s[δ] = exp D[δ], per offset δ = i − j.
    public let slash: [Double]
    /// Held-out check probes: row index and its exact mass per causal key block of its query block.
    public let checkRows: [Int]
    public let checkTileMass: [[Double]]
    /// The head's estimated tile masses, normalised per query block, in TileMasses row order
    /// (`rowStart` of the geometry).
    public let tileEstimate: [Double]

    /// h[i] = 1 / Σ_{j≤i} v_j s_{i−j}: the row normaliser (O(N²); for plots and tests).
    public func horizontal() -> [Double] { SkeletonFactors(v: vertical, s: slash).horizontal() }

    /// The modelled probability A[i, j] ≈ h[i] v[j] s[i − j] (0 above the diagonal).
    public func modelled(row i: Int, key j: Int, h: [Double]) -> Double {
        j <= i ? h[i] * vertical[j] * slash[i - j] : 0
    }
}

/// One head's reading of a knob sweep: the smallest density whose true mean recall reaches a target,
/// interpolated linearly between the two sweep points around it (the knob tuned per head after the
/// fact).
public enum FrontierReading {
    public struct Point: Sendable, Equatable {
        public var density: Double
        public var recall: Double
        public init(density: Double, recall: Double) { self.density = density; self.recall = recall }
    }

    /// The points in reading order: by density, then by recall.
    public static func sorted(_ points: [Point]) -> [Point] {
        points.sorted { $0.density != $1.density ? $0.density < $1.density : $0.recall < $1.recall }
    }

    /// Density needed for mean recall `target` over `points` (already `sorted`), and the index of
    /// the first point that reaches it; nil when no point does.
    public static func density(reaching target: Double, in points: [Point]) -> (density: Double, index: Int)? {
        guard let k = points.firstIndex(where: { $0.recall >= target }) else { return nil }
        var d = points[k].density
        if k > 0, points[k].recall > points[k - 1].recall {
            let t = (target - points[k - 1].recall) / (points[k].recall - points[k - 1].recall)
            d = points[k - 1].density + t * (points[k].density - points[k - 1].density)
        }
        return (d, k)
    }
}

import SparseSkeleton

/// `mask-eval --plots DIR`: the frontier of every estimator, and the attention of one typical head
/// (the median oracle density at recall 0.95) beside the skeleton's estimate and kept tiles.
enum MaskEvalPlots {
    /// Writes both pictures; returns one line per file saying what it shows.
    static func write(folder: String, summary: FrontierSummary, frontier f: FrontierRunner, source: LayerSource,
                      tile: Int, skeleton: SkeletonEstimator) throws -> [String] {
        try DataDirectory.createFolder(folder)
        let curve = folder + "/frontier.png"
        try FrontierPlot.write(summary, curveRecalls: f.curveRecalls, title: "density needed for mean recall, every estimator", path: curve)
        var lines = ["picture: \(curve) (density needed against mean recall, one line per estimator; lower is better)"]
        guard let pick = f.medianHead(estimator: FrontierSummary.oracle) ?? f.medianHead(estimator: FrontierSummary.skeleton) else { return lines }
        let path = folder + "/attention_\(pick.layer)_head\(pick.head).png"
        try AttentionPlot.write(inputs: try source.load(pick.layer).inputs, head: pick.head, tile: tile, skeleton: skeleton, path: path)
        lines.append("picture: \(path) (\(pick.layer) head \(pick.head), the median head by \(pick.estimator) density \(String(format: "%.3f", pick.density95)) at recall 0.95: true attention | skeleton estimate | kept tiles at ε = 0.05, green kept, red missed)")
        return lines
    }
}

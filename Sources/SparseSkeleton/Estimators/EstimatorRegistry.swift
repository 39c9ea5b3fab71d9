/// Every CPU mask estimator by name, with the one-line help the command line shows. Adding an
/// estimator is its file plus one line in `entries`.
public enum EstimatorRegistry {
    public struct Entry: Sendable {
        /// The estimator with its default settings; its `name` is the entry's name.
        public let make: @Sendable () -> any MaskEstimator
        public let help: String
        public var name: String { make().name }
    }

    public static let entries: [Entry] = [
        Entry(make: { SkeletonEstimator() }, help: "ours: A ≈ h·v·s fitted on exact probe rows, calibrated ε"),
        Entry(make: { MInferenceEstimator() }, help: "MInference: top columns and diagonals of the last 64 rows"),
        Entry(make: { FlexPrefillEstimator() }, help: "FlexPrefill: mean-pooled block scores, cumulative threshold"),
        Entry(make: { XAttentionEstimator() }, help: "XAttention: antidiagonal block scores, cumulative threshold"),
        Entry(make: { OracleEstimator() }, help: "exact tile masses (a dense pass): the lower bound on density"),
    ]

    /// Registered names, in registry order.
    public static var names: [String] { entries.map(\.name) }

    /// One estimator of each kind, default settings, in registry order.
    public static var all: [any MaskEstimator] { entries.map { $0.make() } }

    /// The estimator called `name`; an unknown name throws one error listing the known names.
    public static func named(_ name: String) throws -> any MaskEstimator {
        for e in entries {
            let estimator = e.make()
            if estimator.name == name { return estimator }
        }
        throw SkeletonError.invalidArgument("unknown estimator '\(name)'; known estimators: \(names.joined(separator: ", "))")
    }

    /// "skeleton | minference | …", for option help.
    public static var choices: String { names.joined(separator: " | ") }

    /// One line per estimator, "  name  help", names padded to one width (each help fits an
    /// 80-column terminal line).
    public static var helpText: String {
        let width = names.map(\.count).max() ?? 0
        return entries.map { e in
            let n = e.name
            return "  " + n + String(repeating: " ", count: width - n.count) + "  " + e.help
        }.joined(separator: "\n")
    }
}

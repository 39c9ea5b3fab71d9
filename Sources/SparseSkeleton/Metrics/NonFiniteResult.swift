/// A result that came out NaN or infinite (a perplexity, an output error): the run fails with
/// this instead of printing the number and exiting 0.
public struct NonFiniteResult: Error, Equatable, CustomStringConvertible, Sendable {
    public let what: String
    public let value: Double

    public init(what: String, value: Double) { self.what = what; self.value = value }

    public var description: String {
        "\(what) is \(value), not a finite number: the run's result is not valid (non-finite inputs or an overflow)"
    }

    /// Throws for the first named value that is not finite.
    public static func check(_ values: [(what: String, value: Double?)]) throws {
        if let bad = values.first(where: { $0.value.map { !$0.isFinite } ?? false }) {
            throw NonFiniteResult(what: bad.what, value: bad.value!)
        }
    }
}

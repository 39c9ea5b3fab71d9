import Foundation

/// The one place command-line numbers are checked: integers are whole numbers written as such
/// ("4.9", "nan", "1e30" are errors, never 4 or a trap), reals are finite, and both lie in their
/// option's range. Errors name the option, the value and the range.
public enum OptionValues {
    /// The largest sequence length any command accepts (2^24 tokens); a model's own context is checked on top.
    public static let maxTokens = 1 << 24

    /// A range of reals with open or closed ends, e.g. (0, 1) for ε or (0, 1] for a density.
    public struct Interval: Sendable, CustomStringConvertible {
        public let lower: Double, upper: Double
        public let lowerOpen: Bool, upperOpen: Bool
        public init(_ lower: Double, _ upper: Double, lowerOpen: Bool, upperOpen: Bool) {
            self.lower = lower; self.upper = upper; self.lowerOpen = lowerOpen; self.upperOpen = upperOpen
        }
        public func contains(_ x: Double) -> Bool {
            x.isFinite && (lowerOpen ? x > lower : x >= lower) && (upperOpen ? x < upper : x <= upper)
        }
        public var description: String {
            func num(_ x: Double) -> String { x.isInfinite ? (x > 0 ? "∞" : "-∞") : (x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)") }
            return (lowerOpen ? "(" : "[") + num(lower) + ", " + num(upper) + (upperOpen ? ")" : "]")
        }
        /// ε of an error bound.
        public static let epsilon = Interval(0, 1, lowerOpen: true, upperOpen: true)
        /// A fraction of tiles kept.
        public static let density = Interval(0, 1, lowerOpen: true, upperOpen: false)
        public static let unit = Interval(0, 1, lowerOpen: false, upperOpen: false)
        public static let positive = Interval(0, .infinity, lowerOpen: true, upperOpen: true)
        public static let nonNegative = Interval(0, .infinity, lowerOpen: false, upperOpen: true)
        /// z of a one-sided confidence bound.
        public static let confidenceZ = Interval(0, 10, lowerOpen: true, upperOpen: false)
    }

    /// One already-parsed option and where it must lie (nil: not given, nothing to check).
    public enum Requirement {
        case integer(Int?, String, ClosedRange<Int>)
        case real(Double?, String, Interval)
    }

    /// Checks every requirement; the first one broken is the error.
    public static func require(_ requirements: Requirement...) throws {
        for r in requirements {
            switch r {
            case .integer(let v?, let name, let range) where !range.contains(v):
                throw SkeletonError.invalidArgument("\(name) must be an integer in \(describe(range)), got \(v)")
            case .real(let v?, let name, let interval) where !interval.contains(v):
                throw SkeletonError.invalidArgument("\(name) must be a finite number in \(interval), got \(v)")
            default: continue
            }
        }
    }

    /// The largest tensor (elements) options may ask a command to allocate: 2^30 (4 GiB of float32).
    public static let maxElements = 1 << 30

    /// The product of sizes (e.g. tokens × heads × head dim, named `what`) must not overflow nor pass `limit`.
    public static func requireProduct(_ sizes: [Int], _ what: String, limit: Int = maxElements) throws {
        var p = 1
        for s in sizes {
            let (next, overflow) = p.multipliedReportingOverflow(by: s)
            guard !overflow, next <= limit else { throw SkeletonError.invalidArgument("\(what) = \(sizes.map(String.init).joined(separator: " × ")) is more than \(limit) elements") }
            p = next
        }
    }

    /// A whole number in `range`; a K or M suffix (×1024, ×1024²) when `suffixes`.
    public static func integer(_ text: String, _ name: String, in range: ClosedRange<Int>, suffixes: Bool = false) throws -> Int {
        let t = text.trimmingCharacters(in: .whitespaces)
        var digits = Substring(t), scale = 1
        if suffixes, let last = t.uppercased().last, last == "K" || last == "M" {
            digits = digits.dropLast(); scale = last == "K" ? 1024 : 1024 * 1024
        }
        guard let v = Int(digits) else { throw SkeletonError.invalidArgument("\(name): '\(text)' is not an integer") }
        let (scaled, overflow) = v.multipliedReportingOverflow(by: scale)
        guard !overflow, range.contains(scaled) else {
            throw SkeletonError.invalidArgument("\(name) must be an integer in \(describe(range)), got \(text)")
        }
        return scaled
    }

    /// A finite number in `interval`.
    public static func real(_ text: String, _ name: String, _ interval: Interval) throws -> Double {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard let v = Double(t) else { throw SkeletonError.invalidArgument("\(name): '\(text)' is not a number") }
        try require(.real(v, name, interval))
        return v
    }

    /// A comma-separated list of integers; see `integer`.
    public static func integers(_ list: String, _ name: String, in range: ClosedRange<Int>, suffixes: Bool = false) throws -> [Int] {
        try items(list, name).map { try integer($0, name, in: range, suffixes: suffixes) }
    }

    /// A comma-separated list of reals; see `real`.
    public static func reals(_ list: String, _ name: String, _ interval: Interval) throws -> [Double] {
        try items(list, name).map { try real($0, name, interval) }
    }

    /// The items of a comma-separated list; an empty list has none, an empty item is an error.
    private static func items(_ list: String, _ name: String) throws -> [String] {
        if list.trimmingCharacters(in: .whitespaces).isEmpty { return [] }
        let parts = list.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !parts.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
            throw SkeletonError.invalidArgument("\(name): '\(list)' is not a comma-separated list of values")
        }
        return parts
    }

    static func describe(_ r: ClosedRange<Int>) -> String {
        r.upperBound == Int.max ? "\(r.lowerBound)..." : "\(r.lowerBound)...\(r.upperBound)"
    }
}

/// Integer arithmetic on sizes, counts and offsets taken from a file: nil on overflow, in every
/// build configuration (the wrapped value of an unchecked product would index past a buffer).
public enum CheckedMath {
    public static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (r, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : r
    }

    public static func add(_ a: Int, _ b: Int) -> Int? {
        let (r, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : r
    }

    /// The product of non-negative factors; nil if one is negative or the product overflows.
    public static func product<S: Sequence>(_ factors: S) -> Int? where S.Element == Int {
        var p = 1
        for f in factors {
            guard f >= 0, let next = multiply(p, f) else { return nil }
            p = next
        }
        return p
    }
}

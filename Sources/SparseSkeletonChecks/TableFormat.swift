import SparseSkeletonCUDA

extension Double {
    func f(_ digits: Int) -> String { fixed(self, digits) }
    /// Scientific notation with 2 significant decimals ("3.14e-03").
    var sci: String {
        guard self.isFinite, self != 0 else { return self == 0 ? "0" : "\(self)" }
        var e = 0, m = abs(self)
        while m >= 10 { m /= 10; e += 1 }
        while m < 1 { m *= 10; e -= 1 }
        let es = e < 0 ? "-" + (abs(e) < 10 ? "0" : "") + "\(abs(e))" : "+" + (e < 10 ? "0" : "") + "\(e)"
        return (self < 0 ? "-" : "") + fixed(m, 2) + "e" + es
    }
}

/// Passed / total of a check matrix's run (one row per check).
public struct CheckSummary: Sendable {
    public var ran = 0
    public var failed = 0
    public var passed: Int { ran - failed }
    public init() {}

    /// Counts and logs the rows one case's checks return (`line` of each); a case that throws
    /// counts as one failure, logged as `errorLine` of its error.
    mutating func tally<Row>(_ rows: () throws -> [Row], ok: (Row) -> Bool, line: (Row) -> String,
                             errorLine: (Error) -> String, log: (String) -> Void) {
        do {
            for r in try rows() {
                ran += 1
                if !ok(r) { failed += 1 }
                log(line(r))
            }
        } catch {
            ran += 1; failed += 1
            log(errorLine(error))
        }
    }
}

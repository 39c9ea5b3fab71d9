/// Every way the core can refuse its input. Each message names the problem and the
/// value that caused it, so the CLI can print it as one line and exit non-zero.
public enum SkeletonError: Error, Equatable, CustomStringConvertible, Sendable {
    case shapeMismatch(String)
    case headsNotDivisible(queryHeads: Int, kvHeads: Int)
    case unsupportedHeadDim(Int)
    case unsupportedDType(String)
    case unsupportedTileSize(Int)
    case emptySequence(String)
    case nonContiguous(tensor: String, strides: [Int], expected: [Int])
    case nonFinite(tensor: String, token: Int, head: Int, dim: Int, value: Float)
    case epsilonOutOfRange(Double)
    case budgetOutOfRange(Double)
    case invalidArgument(String)
    case fileUnreadable(path: String, reason: String)
    case fileTruncated(path: String, expectedBytes: Int, actualBytes: Int)
    case invalidFileFormat(path: String, reason: String)
    case tensorNotFound(path: String, name: String, available: [String])
    /// No data directory was found (`DataDirectory`); `searched` says where it looked.
    case noDataDirectory(searched: String)

    public static let supportedHeadDims = [64, 128, 256]
    public static let supportedTileSizes = [64, 128]

    public var description: String {
        switch self {
        case .shapeMismatch(let what): return "shape mismatch: \(what)"
        case .headsNotDivisible(let q, let kv):
            return "query heads (\(q)) must be a positive multiple of KV heads (\(kv))"
        case .unsupportedHeadDim(let d):
            return "unsupported head dim \(d); supported: \(Self.supportedHeadDims.map(String.init).joined(separator: ", "))"
        case .unsupportedDType(let t): return "unsupported dtype '\(t)'; supported: f32, f16, bf16"
        case .unsupportedTileSize(let t):
            return "unsupported tile size \(t); supported: \(Self.supportedTileSizes.map(String.init).joined(separator: ", "))"
        case .emptySequence(let what): return "\(what) has N = 0 tokens; attention needs at least one"
        case .nonContiguous(let t, let s, let e):
            return "tensor \(t) is not contiguous [N, heads, headDim]: strides \(s), expected \(e)"
        case .nonFinite(let t, let n, let h, let d, let v):
            return "tensor \(t) holds a non-finite value \(v) at token \(n), head \(h), dim \(d)"
        case .epsilonOutOfRange(let e): return "epsilon \(e) is outside (0, 1)"
        case .budgetOutOfRange(let b): return "budget density \(b) is outside (0, 1]"
        case .invalidArgument(let what): return "invalid argument: \(what)"
        case .fileUnreadable(let p, let r): return "cannot read '\(p)': \(r)"
        case .noDataDirectory(let searched):
            return "no data directory (looked in \(searched)): run `bash scripts/setup.sh` in the SparseSkeleton checkout, or set SKELETON_DATA"
        case .fileTruncated(let p, let e, let a):
            return "file '\(p)' is truncated: expected \(e) bytes of data, found \(a)"
        case .invalidFileFormat(let p, let r): return "'\(p)' is not a valid file: \(r)"
        case .tensorNotFound(let p, let n, let avail):
            return "'\(p)' has no tensor '\(n)'; it has: \(avail.joined(separator: ", "))"
        }
    }
}

import Foundation

/// The hopper kernel's work order over (query block, head) items: longest rows first, in L2 sections of
/// whole KV groups, so that the CTAs in flight read the K/V of few heads while those stay in L2
/// (bench/NOTES.md, v5.5). With every head's K and V in L2 at once there is one section (the flat order:
/// query block outermost, head fastest).
public struct AttentionWorkOrder: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        /// One section of every head, whatever N (the order before v5.5).
        case flat
        /// L2 sections; a dense walk keeps the static snake over CTAs.
        case sections
        /// L2 sections; a dense walk takes its items from the work queue too, so a section's boundary
        /// (long rows after short ones) cannot unbalance the CTAs.
        case sectionsQueued = "sections-queue"
    }
    public var mode: Mode
    /// Forced query heads per section (a multiple of the group size dividing the heads; tests).
    public var forcedHeads: Int?

    public init(mode: Mode = .sectionsQueued, forcedHeads: Int? = nil) {
        self.mode = mode
        self.forcedHeads = forcedHeads
    }

    /// `SK_WORK_ORDER` (flat | sections | sections-queue) overrides the default and `SK_SECTION_HEADS` forces the
    /// query heads per section, for side-by-side timing.
    public static func fromEnvironment() -> AttentionWorkOrder {
        let env = ProcessInfo.processInfo.environment
        var order = AttentionWorkOrder()
        if let raw = env["SK_WORK_ORDER"], let mode = Mode(rawValue: raw) { order.mode = mode }
        if let raw = env["SK_SECTION_HEADS"], let heads = Int(raw), heads > 0 { order.forcedHeads = heads }
        return order
    }

    /// Query heads per section for the kernel's `headSection` (0: one section of all heads): as many whole
    /// KV groups as divide the KV heads and whose K and V (2 · N · d elements each) fit in `l2Bytes`, at least one.
    public func headSection(tokens: Int, queryHeads: Int, kvHeads: Int, headDim: Int, elementBytes: Int, l2Bytes: Int) -> Int {
        guard kvHeads > 0, queryHeads % kvHeads == 0 else { return 0 }
        let group = queryHeads / kvHeads
        if let f = forcedHeads {
            return f > 0 && f < queryHeads && f % group == 0 && queryHeads % f == 0 ? f : 0
        }
        if mode == .flat || kvHeads == 1 { return 0 }
        let perKVHead = 2 * tokens * headDim * elementBytes
        guard perKVHead > 0, kvHeads * perKVHead > l2Bytes else { return 0 }
        var fit = max(1, min(kvHeads, l2Bytes / perKVHead))
        while kvHeads % fit != 0 { fit -= 1 }
        return fit == kvHeads ? 0 : fit * group
    }

    /// Whether a dense walk with `headSection` sections takes its items from the work queue.
    public func queuesDense(headSection: Int) -> Bool { headSection > 0 && (mode == .sectionsQueued || forcedHeads != nil) }
}

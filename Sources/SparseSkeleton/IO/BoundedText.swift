/// Text from a file (a tensor name, a key, a path) cut to a length an error message can carry:
/// a corrupted length field can make a "name" of many megabytes.
public enum BoundedText {
    public static let defaultLimit = 120

    /// `text` itself when short; else its first `limit` Unicode scalars and how long it was.
    /// (Scalars, not characters: one grapheme cluster can be as long as the whole text.)
    public static func cut(_ text: String, limit: Int = defaultLimit) -> String {
        var it = text.unicodeScalars.makeIterator()
        var head = String.UnicodeScalarView()
        for _ in 0..<limit {
            guard let c = it.next() else { return text }
            head.append(c)
        }
        guard it.next() != nil else { return text }
        return String(head) + "… (\(text.utf8.count) bytes)"
    }

    public static func path(_ path: String) -> String { cut(path, limit: 400) }

    /// The first `limit` items of a list for a message, then how many more there are.
    public static func list(_ items: [String], limit: Int = 20) -> [String] {
        let head = items.prefix(limit).map { cut($0) }
        return items.count > limit ? head + ["… and \(items.count - limit) more"] : head
    }
}

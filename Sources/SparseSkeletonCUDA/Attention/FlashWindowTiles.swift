import SparseSkeleton

/// The attention kernel's sliding window at tile granularity, the same arithmetic as the
/// `window_*` helpers of Kernels/sparse_flash_attention.cu (kept here so it is tested on the host):
/// which key tiles a query block walks and which of them take the per-element window mask.
/// `window` is the kernel's parameter: query i sees keys j ≥ i − window + 1; 0 = no window.
public struct FlashWindowTiles: Hashable, Sendable {
    public let blockM: Int
    public let blockN: Int
    public let window: Int

    public init(blockM: Int, blockN: Int, window: Int) {
        self.blockM = blockM; self.blockN = blockN; self.window = window
    }

    /// The first key block a row of query block `qb` reaches (its first row qb·blockM sees keys
    /// from qb·blockM − window + 1 on; later rows start later). Tiles before it are skipped.
    public func firstKeyBlock(queryBlock qb: Int) -> Int {
        window > 0 ? max(0, qb * blockM - window + 1) / blockN : 0
    }

    /// True when key block `kb` holds a key some row of query block `qb` must not see through
    /// the window (the block's last row qb·blockM + blockM − 1 drops keys j ≤ that row − window):
    /// only these tiles pay the per-element window test.
    public func isEdge(keyBlock kb: Int, queryBlock qb: Int) -> Bool {
        window > 0 && kb * blockN <= qb * blockM + blockM - 1 - window
    }

    /// The kernel's window for `spec` over `tokens` tokens: 0 without a window or when the window
    /// hides no key (window ≥ tokens), so such specs run the unwindowed path.
    public static func kernelWindow(_ spec: AttentionSpec, tokens: Int) -> Int32 {
        guard let w = spec.window, w < tokens else { return 0 }
        return Int32(w)
    }
}

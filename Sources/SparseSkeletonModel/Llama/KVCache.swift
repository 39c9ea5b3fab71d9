/// Post-RoPE K and V of every layer, [capacity, Hkv, d] each, filled by prefill and extended
/// one token at a time by `GreedyDecoder`.
public struct KVCache: Sendable {
    public let kvWidth: Int
    public let capacity: Int
    public private(set) var count = 0
    var k: [[Float]]
    var v: [[Float]]

    public init(config: LlamaConfig, capacity: Int) {
        self.init(layers: config.layers, kvWidth: config.kvHeads * config.headDim, capacity: capacity)
    }

    public init(layers: Int, kvWidth: Int, capacity: Int) {
        self.kvWidth = kvWidth
        self.capacity = capacity
        k = Array(repeating: [], count: layers)
        v = Array(repeating: [], count: layers)
    }

    /// Appends `tokens` rows to one layer; `count` follows layer 0 (all layers get the same rows).
    mutating func append(layer: Int, k rowsK: [Float], v rowsV: [Float], tokens: Int) {
        k[layer].append(contentsOf: rowsK)
        v[layer].append(contentsOf: rowsV)
        if layer == 0 { count += tokens }
    }
}

import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel

/// A Llama model's weights resident on the GPU, uploaded once: matrices as bf16 (the operands of
/// cuBLAS's bf16 × bf16 → fp32 products), norms and the embedding table (gathered, not
/// multiplied) as fp32. Q, K and V are fused into one [(H + 2·Hkv)·d, E] matrix and gate and up
/// into one [2F, E] matrix, so each needs one product per layer.
public final class GPULlamaWeights: @unchecked Sendable {
    public struct Layer {
        let attentionNorm: DeviceBuffer   // fp32 [E]
        let qkv: DeviceBuffer             // bf16 [(H + 2Hkv)d, E], rows in half-split RoPE order
        let output: DeviceBuffer          // bf16 [E, H·d]
        let ffnNorm: DeviceBuffer         // fp32 [E]
        let gateUp: DeviceBuffer          // bf16 [2F, E]
        let down: DeviceBuffer            // bf16 [E, F]
    }

    public let config: LlamaConfig
    let embedding: DeviceBuffer           // fp32 [V, E]
    let outputNorm: DeviceBuffer          // fp32 [E]
    let vocabulary: DeviceBuffer          // bf16 [V, E]
    let layers: [Layer]
    /// Bytes on the device.
    public let byteCount: Int

    public init(device: GPUDevice, weights: LlamaWeights) throws {
        config = weights.config
        var up = GPUWeightUpload(device: device)
        embedding = try up.f32(weights.tokenEmbedding)
        outputNorm = try up.f32(weights.outputNorm)
        vocabulary = try up.bf16(weights.output)
        layers = try weights.layers.map { w in
            Layer(attentionNorm: try up.f32(w.attentionNorm), qkv: try up.bf16(w.wq, w.wk, w.wv), output: try up.bf16(w.wo),
                  ffnNorm: try up.f32(w.ffnNorm), gateUp: try up.bf16(w.gate, w.up), down: try up.bf16(w.down))
        }
        byteCount = up.byteCount
    }
}

/// SmolLM2 / Llama-family prefill on the GPU: weights from the GGUF, matrix products and attention on the device.
public enum SparseSkeletonModelCUDA {}

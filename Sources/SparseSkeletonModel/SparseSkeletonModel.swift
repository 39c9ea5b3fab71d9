/// Real-model path: GGUF reader, BPE tokenizer, Llama-family prefill with pluggable attention.
public enum SparseSkeletonModel {}

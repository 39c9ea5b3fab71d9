"""A slow torch model of FlashInfer's BlockSparseAttentionWrapper semantics (fa2/fa3 path, flashinfer/sparse.py
0.7.2): block row b is one prefill request of query rows [b·R, min((b+1)·R, M)), its keys the concatenation
of the kept C-column blocks in index order, and causal=True masks key position j of that gathered list for
query i when j > kv_len − qo_len + i (bottom-right aligned, as FlashInfer's paged prefill does).
Used only by `flashinfer_peer.py --device cpu` (flashinfer_peer_selftest.py) to check our mask conversions
without a GPU; it is not FlashInfer and times nothing of interest."""
import math

import torch

__version__ = "stand-in"


class BlockSparseAttentionWrapper:
    def __init__(self, float_workspace_buffer, backend="auto"):
        self.backend = backend

    def reset_workspace_buffer(self, float_workspace_buffer, int_workspace_buffer):
        pass

    def plan(self, indptr, indices, M, N, R, C, num_qo_heads, num_kv_heads, head_dim, causal=False,
             q_data_type=None, kv_data_type=None, o_data_type=None, **_):
        if N % C:
            raise ValueError("N must be divisible by C")
        self.indptr, self.indices = indptr.long().cpu(), indices.long().cpu()
        self.M, self.N, self.R, self.C, self.causal = M, N, R, C, causal
        self.hq, self.hk = num_qo_heads, num_kv_heads

    def run(self, q, k, v, out=None):
        out = torch.empty_like(q) if out is None else out
        group = self.hq // self.hk
        for b in range(len(self.indptr) - 1):
            r0, r1 = b * self.R, min((b + 1) * self.R, self.M)
            blocks = self.indices[self.indptr[b]:self.indptr[b + 1]]
            cols = (blocks[:, None] * self.C + torch.arange(self.C)[None, :]).reshape(-1)
            qo, kv = r1 - r0, cols.numel()
            for h in range(self.hq):
                g = h // group
                s = q[r0:r1, h].float() @ k[cols, g].float().T / math.sqrt(q.shape[-1])
                if self.causal:
                    i = torch.arange(qo)[:, None]
                    j = torch.arange(kv)[None, :]
                    s = s.masked_fill(j > kv - qo + i, float("-inf"))
                p = torch.nan_to_num(torch.softmax(s, dim=-1), nan=0.0)
                out[r0:r1, h] = (p @ v[cols, g].float()).to(out.dtype)
        return out

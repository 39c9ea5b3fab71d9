"""The tile geometry of a problem, in pure Python (no library, no torch): the per-sequence mask
layout of sparse_skeleton.h, so shapes are known without calling the library (torch.compile's
fake tensors, argument checks)."""


def query_blocks(n, query_tile):
    return (n + query_tile - 1) // query_tile


def causal_tiles(n, query_tile, key_tile=64):
    """Tiles of one head holding at least one causal (i, j): per query block, the last row's key block + 1."""
    total = 0
    for i in range(query_blocks(n, query_tile)):
        last_row = min((i + 1) * query_tile, n) - 1
        total += last_row // key_tile + 1
    return total


def mask_counts(lengths, q_heads, query_tile):
    """(rowOffsets, keyBlocks) element counts of the masks of sequences `lengths`."""
    ro = sum(q_heads * query_blocks(n, query_tile) + 1 for n in lengths)
    kb = sum(q_heads * causal_tiles(n, query_tile) for n in lengths)
    return ro, kb


def sequence_lengths(batch=None, tokens=None, cu_seqlens=None):
    if cu_seqlens is not None:
        return tuple(cu_seqlens[i + 1] - cu_seqlens[i] for i in range(len(cu_seqlens) - 1))
    return (int(tokens),) * int(batch)

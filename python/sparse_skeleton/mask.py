"""A block mask that owns its tensors."""
import torch

from .geometry import causal_tiles, query_blocks


class Mask:
    """Block masks of one problem in CSR form, as torch int32 tensors on the GPU it was estimated
    on (sparse_skeleton.h, "mask"): per sequence s, `row_offsets` holds Hq · ceil(n_s / query_tile) + 1
    offsets (from 0, into the sequence's own key blocks) and `key_blocks` Hq · causal_tiles(n_s)
    slots of ascending 64-key block indices, row r = head · query_blocks + I; the sequences'
    arrays follow one another.

    It is valid for as long as it lives, for inputs of exactly the geometry it was made for
    (`lengths`, `q_heads`, `query_tile`, `device`); another geometry is refused with ValueError."""

    def __init__(self, row_offsets, key_blocks, lengths, q_heads, query_tile, estimator="", target=None):
        self.row_offsets = row_offsets
        self.key_blocks = key_blocks
        self.lengths = tuple(int(n) for n in lengths)
        self.q_heads = int(q_heads)
        self.query_tile = int(query_tile)
        self.key_tile = 64
        self.estimator = estimator
        self.target = target

    @property
    def device(self):
        return self.row_offsets.device

    def check_fits(self, q_heads, lengths, device):
        """Raises ValueError naming the difference when this mask was made for other inputs."""
        if device != self.device:
            raise ValueError(f"{self} is on {self.device}, the inputs are on {device}")
        if q_heads != self.q_heads or tuple(lengths) != self.lengths:
            raise ValueError(f"{self} was made for {self.q_heads} query heads and sequence lengths {_short(self.lengths)}, "
                             f"the inputs have {q_heads} heads and lengths {_short(tuple(lengths))}: estimate a mask for these inputs")

    def _sequence_views(self):
        ro_at = kb_at = 0
        for n in self.lengths:
            rows = self.q_heads * query_blocks(n, self.query_tile)
            tiles = self.q_heads * causal_tiles(n, self.query_tile)
            yield n, rows, self.row_offsets[ro_at:ro_at + rows + 1], self.key_blocks[kb_at:kb_at + tiles], tiles
            ro_at += rows + 1
            kb_at += tiles

    def kept_tiles(self):
        """Kept tiles per sequence (reads the offsets back: synchronises)."""
        return [int(ro[-1].item()) for _, _, ro, _, _ in self._sequence_views()]

    def density(self):
        """Kept tiles / causal tiles over every head and sequence (synchronises)."""
        kept = sum(self.kept_tiles())
        causal = sum(tiles for _, _, _, _, tiles in self._sequence_views())
        return kept / causal

    def dense_block_masks(self):
        """Per sequence a [Hq, query_blocks, key_blocks] bool tensor on the GPU (references, plots)."""
        out = []
        for n, rows, ro, kb, _ in self._sequence_views():
            kblocks = (n + 63) // 64
            ro = ro.long()
            count = int(ro[-1].item())
            lengths = ro[1:] - ro[:-1]
            dense = torch.zeros(rows, kblocks, dtype=torch.bool, device=self.device)
            if count:
                row_ids = torch.repeat_interleave(torch.arange(rows, device=self.device), lengths)
                dense[row_ids, kb[:count].long()] = True
            out.append(dense.view(self.q_heads, rows // self.q_heads, kblocks))
        return out

    def __repr__(self):
        return (f"Mask({len(self.lengths)} sequence(s) of {_short(self.lengths)} tokens, {self.q_heads} heads, "
                f"tiles {self.query_tile}x64, {self.device}{', ' + self.estimator if self.estimator else ''})")


def _short(lengths):
    if len(set(lengths)) == 1:
        return f"{len(lengths)}×{lengths[0]}"
    return str(list(lengths[:6])) + ("…" if len(lengths) > 6 else "")

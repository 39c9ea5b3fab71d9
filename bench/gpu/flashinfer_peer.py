#!/usr/bin/env python3
"""FlashInfer's block-sparse prefill (BlockSparseAttentionWrapper) on exactly the masks `skeleton gpu-bench --dump`
timed: the same Q/K/V, the same per-head CSR masks, beside our kernel's time from that run.

FlashInfer's BSR mask is one matrix for all heads of a launch; ours differ per query head. Three ways to run them:
  one    — heads flattened into rows: query row (h, i) is BSR row h·N + i, key (g, j) is column g·N + j (g = h's KV
           head), one launch with qo/kv heads 1. causal=True is FlashInfer's causal for a block row: bottom-right
           aligned in the row's *gathered* key list, which equals true causality only where a query tile keeps the
           key tiles of its own positions (both 64-key halves of a 128-row tile); elsewhere its top rows lose part of
           the last kept tile before the diagonal. Timed as is; checked only on the tiles where it is exact.
  exact  — the same work cut so FlashInfer's causal is exact everywhere: query tiles keeping both diagonal halves
           (or neither) are 128-row requests, the rest two 64-row halves, each launched causal or non-causal as
           its key list ends at its own positions or not (up to four launches, Q gathered per launch beforehand).
  loop   — one launch per query head (32), the head's own BSR, FlashInfer's documented per-head use.
Timing: CUDA events around the launches only (plans, Q gathers and head-major copies are made before);
median of repeats. Correctness on the dump's sampled rows against a float32 reference of our semantics
(kept tile and key ≤ query): our output, FlashInfer's, and FlashInfer vs ours."""
import argparse, glob, json, math, os, sys, time, traceback

import numpy as np
import torch

DEV = "cuda"  # --device cpu runs the conversions and checks against a stand-in (bench/gpu/flashinfer_standin.py)


def time_ms(fn, seconds):
    if DEV == "cpu":
        def once():
            t0 = time.perf_counter(); fn(); return (time.perf_counter() - t0) * 1000
    else:
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def once():
            start.record(); fn(); stop.record(); stop.synchronize()
            return start.elapsed_time(stop)

    first = once()  # warm-up
    reps = max(3, min(50, int(seconds * 1000 / max(first, 1e-3))))
    t = sorted(once() for _ in range(reps))
    return t[len(t) // 2], t[0], reps


class Inputs:
    """One dumped input set on the GPU: [N, H, d] bf16 as dumped, and head-major copies for the flattened launches."""

    def __init__(self, folder, rec):
        n, h, hk, d = rec["tokens"], rec["heads"], rec["kvHeads"], rec["headDim"]
        dt = {"bf16": torch.bfloat16, "f16": torch.float16}[rec["dtype"]]

        def load(part, heads):
            raw = np.fromfile(f"{folder}/{rec['inputs']}.{part}.u16", dtype="<u2")
            if raw.size != n * heads * d:
                raise ValueError(f"{rec['inputs']}.{part}.u16 holds {raw.size} elements, expected {n}×{heads}×{d}")
            return torch.from_numpy(raw.view(np.int16)).to(DEV).view(dt).view(n, heads, d)

        self.name, self.n, self.h, self.hk, self.d, self.dtype = rec["inputs"], n, h, hk, d, dt
        self.q, self.k, self.v = load("q", h), load("k", hk), load("v", hk)
        self.qs = self.q.permute(1, 0, 2).contiguous()  # [H, N, d]
        self.ks = self.k.permute(1, 0, 2).contiguous()  # [Hkv, N, d]
        self.vs = self.v.permute(1, 0, 2).contiguous()


class Mask:
    """A dumped CSR mask (row r = head · queryBlocks + I, key tiles ascending) as per-row tensors."""

    def __init__(self, folder, rec):
        self.rec = rec
        self.R, self.C = rec["queryTile"], rec["keyTile"]
        n, h = rec["tokens"], rec["heads"]
        self.qb, self.kb = (n + self.R - 1) // self.R, (n + self.C - 1) // self.C
        off = np.fromfile(f"{folder}/{rec['mask']}.offsets.i32", dtype="<i4").astype(np.int64)
        blocks = np.fromfile(f"{folder}/{rec['mask']}.blocks.i32", dtype="<i4").astype(np.int64)
        if off.size != h * self.qb + 1 or off[0] != 0 or off[-1] != blocks.size or np.any(np.diff(off) < 0):
            raise ValueError(f"{rec['mask']}: CSR offsets do not fit {h} heads × {self.qb} query tiles and {blocks.size} indices")
        rows = np.repeat(np.arange(h * self.qb), np.diff(off))
        last = (np.minimum((rows % self.qb + 1) * self.R, n) - 1) // self.C
        if blocks.size and (blocks.min() < 0 or np.any(blocks > last)):
            raise ValueError(f"{rec['mask']}: a key tile lies after its query tile's last causal tile")
        order = np.lexsort((blocks, rows))  # ascending within rows (FlashInfer's causal needs the diagonal last)
        self.off, self.blocks, self.rows = off, blocks[order], rows[order]
        self.rows_t = torch.from_numpy(rows[order]).to(DEV)
        self.blocks_t = torch.from_numpy(blocks[order]).to(DEV)

    def dense_tiles(self, head):
        """Kept tiles of one head as a [queryBlocks, keyBlocks] bool tensor."""
        sel = (self.rows_t // self.qb) == head
        t = torch.zeros(self.qb, self.kb, dtype=torch.bool, device=DEV)
        t[self.rows_t[sel] % self.qb, self.blocks_t[sel]] = True
        return t


def flat_bsr(mask, inp):
    """The flattened single-matrix BSR: indptr = our offsets, column = kv head · keyBlocks + key tile."""
    group = inp.h // inp.hk
    head = mask.rows // mask.qb
    cols = mask.blocks + (head // group) * mask.kb
    return torch.from_numpy(mask.off.astype(np.int32)), torch.from_numpy(cols.astype(np.int32))


def exact_requests(mask, inp):
    """Requests on which FlashInfer's bottom-right causal equals true causality, grouped by (rows, causal):
    {(rows, causal): (query row starts in the flattened [H·N] order, list of key-column arrays)}."""
    if mask.R not in (mask.C, 2 * mask.C):
        raise ValueError(f"exact split needs a query tile of 1 or 2 key tiles (got {mask.R}×{mask.C})")
    group, n = inp.h // inp.hk, inp.n
    groups = {}
    off, blocks = mask.off, mask.blocks
    for r in range(inp.h * mask.qb):
        h, i = divmod(r, mask.qb)
        lst = blocks[off[r]:off[r + 1]] + (h // group) * mask.kb
        local = blocks[off[r]:off[r + 1]]
        base = h * n + i * mask.R
        if mask.R == mask.C:
            groups.setdefault((mask.R, bool(local.size and local[-1] == i)), ([], []))
            g = groups[(mask.R, bool(local.size and local[-1] == i))]
            g[0].append(base); g[1].append(lst)
            continue
        top, bottom = 2 * i, 2 * i + 1
        has_top, has_bottom = bool(np.any(local == top)), bool(np.any(local == bottom))
        if has_top == has_bottom:  # both diagonal halves (causal) or neither (all keys before the tile)
            key = (mask.R, has_top)
            groups.setdefault(key, ([], [])); groups[key][0].append(base); groups[key][1].append(lst)
            continue
        half = mask.C
        top_list = lst[local < bottom]  # the top half never sees the bottom key tile
        for start, keys, causal in ((base, top_list, has_top), (base + half, lst, has_bottom)):
            if keys.size == 0:
                continue  # a half with no key at or before its rows: nothing to compute (its rows are left out of the checks)
            groups.setdefault((half, causal), ([], [])); groups[(half, causal)][0].append(start); groups[(half, causal)][1].append(keys)
    return groups


class Peer:
    def __init__(self, flashinfer, backend):
        self.fi, self.backend = flashinfer, backend
        self.fw = torch.empty(512 * 1024 * 1024, dtype=torch.uint8, device=DEV)

    def wrapper(self, big=True):
        w = self.fi.BlockSparseAttentionWrapper(self.fw, backend=self.backend)
        if big:  # the flattened launches plan up to 32K requests; FlashInfer's default int workspace is 8 MiB
            w.reset_workspace_buffer(self.fw, torch.empty(64 * 1024 * 1024, dtype=torch.uint8, device=DEV))
        return w

    def plan(self, w, indptr, indices, m, ncols, r, c, d, causal, dtype):
        w.plan(indptr.to(DEV), indices.to(DEV), m, ncols, r, c, 1, 1, d, causal=causal, q_data_type=dtype, kv_data_type=dtype,
               o_data_type=dtype)
        return w


def run_one(peer, mask, inp):
    """The flattened single launch: returns (run function, output [H·N, 1, d])."""
    indptr, cols = flat_bsr(mask, inp)
    w = peer.plan(peer.wrapper(), indptr, cols, inp.h * inp.n, inp.hk * inp.n, mask.R, mask.C, inp.d, True, inp.dtype)
    q = inp.qs.view(inp.h * inp.n, 1, inp.d)
    k, v = inp.ks.view(inp.hk * inp.n, 1, inp.d), inp.vs.view(inp.hk * inp.n, 1, inp.d)
    out = torch.empty_like(q)
    return (lambda: w.run(q, k, v, out=out)), out


def run_exact(peer, mask, inp):
    """Up to four launches on gathered query rows; returns (run function, scatter-back function)."""
    k, v = inp.ks.view(inp.hk * inp.n, 1, inp.d), inp.vs.view(inp.hk * inp.n, 1, inp.d)
    qflat = inp.qs.view(inp.h * inp.n, inp.d)
    launches = []
    for (rows, causal), (starts, lists) in sorted(exact_requests(mask, inp).items()):
        idx = (torch.tensor(starts, dtype=torch.int64)[:, None] + torch.arange(rows)[None, :]).reshape(-1).to(DEV)
        qg = qflat.index_select(0, idx).view(-1, 1, inp.d).contiguous()
        indptr = torch.from_numpy(np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int32))
        cols = torch.from_numpy(np.concatenate(lists).astype(np.int32))
        w = peer.plan(peer.wrapper(), indptr, cols, qg.shape[0], inp.hk * inp.n, rows, mask.C, inp.d, causal, inp.dtype)
        launches.append((w, qg, torch.empty_like(qg), idx, rows, causal, len(starts)))

    def run():
        for w, qg, og, *_ in launches:
            w.run(qg, k, v, out=og)

    def gathered():
        out = torch.zeros(inp.h * inp.n, inp.d, dtype=inp.dtype, device=DEV)
        for _, _, og, idx, *_ in launches:
            out.index_copy_(0, idx, og.view(-1, inp.d))
        return out.view(inp.h, inp.n, inp.d)

    shape = ", ".join(f"{c} {'causal' if z else 'non-causal'} × {r} rows" for *_, r, z, c in launches)
    return run, gathered, shape


def run_loop(peer, mask, inp):
    """One launch per query head with that head's BSR."""
    group = inp.h // inp.hk
    launches = []
    for h in range(inp.h):
        lo, hi = h * mask.qb, (h + 1) * mask.qb
        indptr = torch.from_numpy((mask.off[lo:hi + 1] - mask.off[lo]).astype(np.int32))
        cols = torch.from_numpy(mask.blocks[mask.off[lo]:mask.off[hi]].astype(np.int32))
        w = peer.plan(peer.wrapper(big=False), indptr, cols, inp.n, inp.n, mask.R, mask.C, inp.d, True, inp.dtype)
        g = h // group
        q = inp.qs[h].view(inp.n, 1, inp.d)
        launches.append((w, q, inp.ks[g].view(inp.n, 1, inp.d), inp.vs[g].view(inp.n, 1, inp.d), torch.empty_like(q)))

    def run():
        for w, q, k, v, o in launches:
            w.run(q, k, v, out=o)

    return run, lambda: torch.stack([o.view(inp.n, inp.d) for *_, o in launches])


def reference_rows(mask, inp, rows):
    """float32 attention of our semantics (kept tile, key ≤ query) on `rows` (cuda int64), [H, rows, d]."""
    n, d = inp.n, inp.d
    group, scale = inp.h // inp.hk, 1.0 / math.sqrt(d)
    keys = torch.arange(n, device=DEV)
    out = torch.empty(inp.h, rows.numel(), d, dtype=torch.float32, device=DEV)
    for h in range(inp.h):
        tiles = mask.dense_tiles(h)
        kf, vf = inp.ks[h // group].float(), inp.vs[h // group].float()
        for s in range(0, rows.numel(), 256):
            rr = rows[s:s + 256]
            allowed = tiles[rr // mask.R][:, keys // mask.C] & (keys[None, :] <= rr[:, None])
            sc = (inp.qs[h, rr].float() @ kf.T) * scale
            sc.masked_fill_(~allowed, float("-inf"))
            out[h, s:s + 256] = torch.nan_to_num(torch.softmax(sc, dim=-1), nan=0.0) @ vf  # a row with no key: 0
    return out


def rel(a, b):
    return (torch.linalg.vector_norm((a.float() - b.float()).reshape(-1)) / torch.linalg.vector_norm(b.float().reshape(-1))).item()


def exact_row_flags(mask, inp, rows):
    """[H, rows] bool: rows where the single launch's bottom-right causal equals ours: the query tile keeps both
    diagonal key tiles, or the row is in the bottom half and only the bottom diagonal tile is kept."""
    flags = torch.empty(inp.h, rows.numel(), dtype=torch.bool, device=DEV)
    for h in range(inp.h):
        t = mask.dense_tiles(h)
        qt = rows // mask.R
        if mask.R == mask.C:
            flags[h] = t[qt, qt]
            continue
        top, bottom = t[qt, 2 * qt], t[qt, (2 * qt + 1).clamp(max=mask.kb - 1)]
        in_bottom = (rows % mask.R) >= mask.C
        flags[h] = (top & bottom) | (in_bottom & bottom & ~top)
    return flags


def empty_rows(mask, inp, rows):
    """[H, rows] bool: rows with no kept key at or before them (our kernel computes nothing there)."""
    out = torch.empty(inp.h, rows.numel(), dtype=torch.bool, device=DEV)
    for h in range(inp.h):
        t = mask.dense_tiles(h)[rows // mask.R]  # [rows, keyBlocks]
        first = torch.where(t.any(1), t.float().argmax(1), torch.full_like(rows, mask.kb))
        out[h] = first * mask.C > rows
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dump", nargs="?", help="folder written by skeleton gpu-bench --dump")
    ap.add_argument("--table", help="only print the tables of a --json file written before")
    ap.add_argument("--backends", default="fa3,fa2", help="FlashInfer backends to time (fa3 = its Hopper kernel)")
    ap.add_argument("--ways", default="one,exact,loop")
    ap.add_argument("--seconds", type=float, default=0.3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--build-only", action="store_true", help="JIT-build the backends' modules on a tiny mask and exit")
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    global DEV
    DEV = a.device
    if a.table:
        print_table(json.load(open(a.table)))
        return
    try:
        if DEV == "cpu":
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            import flashinfer_standin as flashinfer
        else:
            import flashinfer
    except Exception as e:
        print(f"flashinfer import failed: {type(e).__name__}: {e}")
        traceback.print_exc()
        sys.exit(2)
    gpu = torch.cuda.get_device_name(0) if DEV == "cuda" else "CPU (stand-in, no FlashInfer)"
    print(f"flashinfer {flashinfer.__version__}, torch {torch.__version__}, {gpu}", flush=True)
    backends = [b for b in a.backends.split(",") if b]
    peers = {}
    for b in backends:  # build (JIT) and smoke-test each backend on a one-tile problem
        t0 = time.time()
        try:
            p = Peer(flashinfer, b)
            q = torch.randn(128, 1, 128, dtype=torch.bfloat16, device=DEV)
            kv = torch.randn(128, 1, 128, dtype=torch.bfloat16, device=DEV)
            w = p.plan(p.wrapper(), torch.tensor([0, 2], dtype=torch.int32), torch.tensor([0, 1], dtype=torch.int32), 128, 128, 128, 64,
                       128, True, torch.bfloat16)
            o = w.run(q, kv, kv)
            ref = torch.nn.functional.scaled_dot_product_attention(q.transpose(0, 1).float(), kv.transpose(0, 1).float(),
                                                                   kv.transpose(0, 1).float(), is_causal=True).transpose(0, 1)
            if DEV == "cuda":
                torch.cuda.synchronize()
            print(f"backend {b}: built and ran in {time.time() - t0:.0f} s; one-tile causal check rel err {rel(o, ref):.2e}", flush=True)
            peers[b] = p
        except Exception as e:
            print(f"backend {b}: FAILED after {time.time() - t0:.0f} s: {type(e).__name__}: {str(e)[:2000]}", flush=True)
            traceback.print_exc()
    if a.build_only or not peers:
        sys.exit(0 if peers else 3)
    if not a.dump:
        ap.error("the dump folder is needed")
    recs = sorted((json.load(open(f)) for f in glob.glob(f"{a.dump}/*.json")), key=lambda r: (r["mode"] != "estimated", r["tokens"], r["inputs"], r["mode"], r["density"]))  # the estimator's first
    if not recs:
        print(f"no mask records in {a.dump}"); sys.exit(4)
    ways = a.ways.split(",")
    results, inp = [], None
    for rec in recs:
        tag = f"N={rec['tokens']} {rec['mode']}: {rec['label']}"
        try:
            if inp is None or inp.name != rec["inputs"]:
                inp = None
                if DEV == "cuda":
                    torch.cuda.empty_cache()
                inp = Inputs(a.dump, rec)
            mask = Mask(a.dump, rec)
            rows = torch.from_numpy(np.fromfile(f"{a.dump}/{rec['mask']}.rows.i32", dtype="<i4").astype(np.int64)).to(DEV)
            ours = torch.from_numpy(np.fromfile(f"{a.dump}/{rec['mask']}.out.u16", dtype="<u2").view(np.int16)).to(DEV) \
                .view(inp.dtype).view(rows.numel(), inp.h, inp.d).permute(1, 0, 2)
            ref = reference_rows(mask, inp, rows)
            live = ~empty_rows(mask, inp, rows)  # rows with something to attend to: the ones compared
            flags = exact_row_flags(mask, inp, rows) & live
            res = dict(rec, oursRelErr=rel(ours[live], ref[live]), exactRowsFraction=flags.float().mean().item(),
                       emptyRows=int((~live).sum().item()), oursNaN=int(torch.isnan(ours).sum().item()), fi={})
            for b, peer in peers.items():
                for way in ways:
                    key = f"{b}/{way}"
                    try:
                        if way == "one":
                            fn, out = run_one(peer, mask, inp)
                            get, note = (lambda out=out: out.view(inp.h, inp.n, inp.d)), "1 launch"
                        elif way == "exact":
                            fn, get, note = run_exact(peer, mask, inp)
                        else:
                            fn, get = run_loop(peer, mask, inp)
                            note = f"{inp.h} launches"
                        med, mn, reps = time_ms(fn, a.seconds)
                        o = get()[:, rows]
                        e = dict(ms=med, msMin=mn, reps=reps, note=note, nan=int(torch.isnan(o[live]).sum().item()),
                                 relErrVsRef=rel(o[live], ref[live]), relErrVsOurs=rel(o[live], ours[live]))
                        if way != "exact":  # exact only where its causal is ours
                            other = live & ~flags
                            e["relErrVsRefExactRows"] = rel(o[flags], ref[flags]) if flags.any() else float("nan")
                            e["relErrVsRefOtherRows"] = rel(o[other], ref[other]) if other.any() else float("nan")
                        res["fi"][key] = e
                        print(f"{tag} {key}: {med:.3f} ms (ours {rec['oursMsMedian']:.3f}) rel err vs ref {e['relErrVsRef']:.2e} [{note}]", flush=True)
                    except Exception as ex:
                        res["fi"][key] = dict(error=f"{type(ex).__name__}: {str(ex)[:500]}")
                        print(f"{tag} {key}: FAILED {type(ex).__name__}: {str(ex)[:1000]}", flush=True)
                        traceback.print_exc()
                    if DEV == "cuda":
                        torch.cuda.empty_cache()
            results.append(res)
        except Exception as ex:
            print(f"{tag}: FAILED {type(ex).__name__}: {str(ex)[:1000]}", flush=True)
            traceback.print_exc()
        if a.json:
            json.dump(results, open(a.json, "w"), indent=1)
    print_table(results)


def print_table(results):
    print("\n| N | mask | density | ours ms | FlashInfer best ms (way) | FI ms ÷ ours ms | ours err | FI err (exact way) | FI one-launch err, exact rows / other rows | exact rows |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ok = {k: v for k, v in r["fi"].items() if "ms" in v}
        best = min(ok.items(), key=lambda kv: kv[1]["ms"]) if ok else None
        ex = next((v for k, v in ok.items() if k.endswith("/exact")), None)
        one = next((v for k, v in ok.items() if k.endswith("/one")), None)
        bs = f"{best[1]['ms']:.3f} ({best[0]})" if best else "failed"
        ratio = f"{best[1]['ms'] / r['oursMsMedian']:.2f}×" if best else "-"
        exs = f"{ex['relErrVsRef']:.1e}" if ex else "-"
        ones = f"{one['relErrVsRefExactRows']:.1e} / {one['relErrVsRefOtherRows']:.1e}" if one else "-"
        print(f"| {r['tokens'] // 1024}K | {r['mode']}: {r['label']} | {r['density']:.3f} | {r['oursMsMedian']:.3f} | {bs} | {ratio} | "
              f"{r['oursRelErr']:.1e} | {exs} | {ones} | {r['exactRowsFraction'] * 100:.0f}% |")
    ways = sorted({k for r in results for k in r["fi"]})
    if ways:
        print("\nper way, ms (FI ÷ ours):")
        print("| N | mask | ours | " + " | ".join(ways) + " |")
        print("|---|---|---|" + "---|" * len(ways))
        for r in results:
            cells = []
            for k in ways:
                v = r["fi"].get(k, {})
                cells.append(f"{v['ms']:.3f} ({v['ms'] / r['oursMsMedian']:.2f}×)" if "ms" in v else ("failed" if v else "-"))
            print(f"| {r['tokens'] // 1024}K | {r['mode']}: {r['label']} | {r['oursMsMedian']:.3f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

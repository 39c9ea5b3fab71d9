#!/usr/bin/env python3
"""CPU check of flashinfer_peer.py's mask conversions, no GPU: writes a small dump in MaskDump's format (random
bf16 Q/K/V, per-head CSR masks mixing every diagonal case of a 128×64 query tile — both diagonal key tiles kept,
only the bottom one, only the top one, neither, and a first tile whose top half has no key at all), with "our"
output from an independent float64 reference, runs the peer against flashinfer_standin.py and checks:
the exact way and the per-head loop / flattened launch on their exact rows match the reference (bf16 level),
and the flattened launch does differ on the other rows (so the split into exact rows means something).
    python3 bench/gpu/flashinfer_peer_selftest.py       (prints 'N passed, M failed')"""
import json, math, os, subprocess, sys, tempfile

import numpy as np
import torch

N, H, HK, D, R, C = 512, 4, 2, 32, 128, 64


def write_dump(folder):
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(N, h, D, generator=g).to(torch.bfloat16) for h in (H, HK, HK))
    for name, t in (("q", q), ("k", k), ("v", v)):
        t.view(torch.int16).numpy().astype("<i2").tofile(f"{folder}/in.{name}.u16")
    rng = np.random.default_rng(5)
    qb, kb = N // R, N // C
    offsets, blocks = [0], []
    for h in range(H):
        for i in range(qb):
            earlier = [b for b in range(2 * i) if rng.random() < 0.4]
            case = (h + i) % 4 if i else 1  # tile 0: only its bottom key tile (its top half sees nothing)
            diag = [[2 * i, 2 * i + 1], [2 * i + 1], [2 * i], []][case]
            if not earlier and not diag:
                diag = [2 * i + 1]
            row = sorted(earlier + diag)[::-1] if h == 1 else sorted(earlier + diag)  # head 1 unsorted: the peer sorts
            blocks += row
            offsets.append(len(blocks))
    off, blk = np.array(offsets, "<i4"), np.array(blocks, "<i4")
    off.tofile(f"{folder}/m.offsets.i32"); blk.tofile(f"{folder}/m.blocks.i32")
    rows = np.array(sorted(set(list(range(0, N, 7)) + [N - 1])), "<i4")
    rows.tofile(f"{folder}/m.rows.i32")
    # our output: float64 attention over kept tiles, key ≤ query
    ref = np.zeros((rows.size, H, D))
    qd, kd, vd = q.double(), k.double(), v.double()
    for h in range(H):
        tiles = np.zeros((qb, kb), bool)
        for i in range(qb):
            tiles[i, blk[off[h * qb + i]:off[h * qb + i + 1]]] = True
        for n, r in enumerate(rows):
            keys = [j for j in range(r + 1) if tiles[r // R, j // C]]
            if not keys:
                continue
            s = (qd[r, h] @ kd[keys, h // (H // HK)].T) / math.sqrt(D)
            p = torch.softmax(s, 0)
            ref[n, h] = (p @ vd[keys, h // (H // HK)]).numpy()
    torch.from_numpy(ref).to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tofile(f"{folder}/m.out.u16")
    rec = dict(inputs="in", mask="m", mode="estimated", label="selftest", dtype="bf16", variant="-", tokens=N, heads=H,
               kvHeads=HK, headDim=D, queryTile=R, keyTile=C, density=0.5, computedPairs=0, keptTiles=int(blk.size),
               oursMsMedian=1.0, oursMsMin=1.0, oursReps=1)
    json.dump(rec, open(f"{folder}/m.json", "w"))


def main():
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        print(("ok    " if ok else "FAIL  ") + what)
        passed += ok; failed += not ok

    with tempfile.TemporaryDirectory() as d:
        write_dump(d)
        out = f"{d}/peer.json"
        peer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flashinfer_peer.py")
        p = subprocess.run([sys.executable, peer, d, "--device", "cpu", "--backends", "fa3", "--seconds", "0.001", "--json", out],
                           capture_output=True, text=True)
        print(p.stdout[-3000:], p.stderr[-3000:])
        check(p.returncode == 0, f"peer exits 0 (got {p.returncode})")
        res = json.load(open(out))[0] if os.path.exists(out) else {"fi": {}}
        fi = res["fi"]
        tol = 2e-2
        check(res.get("oursRelErr", 1) < tol, f"our dumped output matches the peer's reference ({res.get('oursRelErr')})")
        check(res.get("emptyRows", 0) > 0, f"rows with no key are found and left out ({res.get('emptyRows')})")
        ex = fi.get("fa3/exact", {})
        check(ex.get("relErrVsRef", 1) < tol, f"exact way equals the reference ({ex.get('relErrVsRef')}) [{ex.get('note')}]")
        check(ex.get("note", "").count("×") == 4, f"exact way uses the four launch kinds ({ex.get('note')})")
        for way in ("one", "loop"):
            e = fi.get(f"fa3/{way}", {})
            check(e.get("relErrVsRefExactRows", 1) < tol, f"{way}: exact rows equal the reference ({e.get('relErrVsRefExactRows')})")
            check(e.get("relErrVsRefOtherRows", 0) > 10 * tol, f"{way}: the other rows differ ({e.get('relErrVsRefOtherRows')})")
        frac = res.get("exactRowsFraction", 0)
        check(0.1 < frac < 0.9, f"exact-row fraction is neither none nor all ({frac})")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

"""Compare two Q/K/V capture folders (e.g. `skeleton capture` output against data/qk/ from dump_qk.py).

For every layer<LL>_{q,k,v}.npy present in both, prints the relative error ||a - b||_F / ||b||_F and the
max abs difference, checks shapes and (when both meta.json have them) that the token ids agree.
A candidate with fewer tokens than the reference is compared with the reference's first rows: in a
causal model the Q/K/V of position i depend only on tokens 0..i, so a 1K capture must equal the
first 1K rows of a 4K dump of the same window.
Exit status 1 when any relative error exceeds --tolerance (default 1e-3: both sides use the same
quantised weights, so only float rounding should differ).

Usage: python3 compare_qk.py <candidate dir> <reference dir> [--tolerance 1e-3]
"""

import argparse
import glob
import json
import os
import sys

import numpy as np


def load_meta(folder):
    path = os.path.join(folder, "meta.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidate")
    parser.add_argument("reference")
    parser.add_argument("--tolerance", type=float, default=1e-3)
    args = parser.parse_args()

    ids_a, ids_b = load_meta(args.candidate).get("token_ids"), load_meta(args.reference).get("token_ids")
    if ids_a is not None and ids_b is not None:
        n = min(len(ids_a), len(ids_b))
        first = next((i for i in range(n) if ids_a[i] != ids_b[i]), None)
        print(f"token ids: {'identical' if first is None else f'differ (first at {first})'} over the first {n}")

    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(args.candidate, "layer*_*.npy")))
    worst, compared = 0.0, 0
    for name in names:
        ref_path = os.path.join(args.reference, name)
        if not os.path.exists(ref_path):
            continue
        a, b = np.load(os.path.join(args.candidate, name)), np.load(ref_path)
        if a.shape[1:] == b.shape[1:] and a.shape[0] < b.shape[0]:
            b = b[: a.shape[0]]  # causal prefix
        if a.shape != b.shape:
            print(f"{name}: shape {a.shape} vs reference {b.shape}")
            worst = float("inf")
            continue
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        rel = np.linalg.norm(a64 - b64) / max(np.linalg.norm(b64), 1e-30)
        print(f"{name}: relative error {rel:.2e}, max |diff| {np.abs(a64 - b64).max():.2e}")
        worst, compared = max(worst, rel), compared + 1
    if compared == 0:
        sys.exit("error: no common layer<LL>_{q,k,v}.npy files to compare")
    print(f"{compared} arrays compared, worst relative error {worst:.2e} (tolerance {args.tolerance:g})")
    sys.exit(0 if worst <= args.tolerance else 1)


if __name__ == "__main__":
    main()

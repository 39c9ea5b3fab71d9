"""Compare `skeleton capture` output with the numpy reference's dump (scripts/reference/dump_qk.py).

Usage: python3 bench/model/compare_capture.py OURS_DIR REFERENCE_DIR [layers, default 0,15,29]
Prints, per layer and tensor, the relative Frobenius error and the max absolute difference, and
whether the token ids in the two meta.json files agree. Exit status 1 if any relative error > 1e-4.
"""
import json
import sys

import numpy as np


def main():
    ours, ref = sys.argv[1], sys.argv[2]
    layers = [int(x) for x in (sys.argv[3] if len(sys.argv) > 3 else "0,15,29").split(",")]
    ids_ok = json.load(open(f"{ours}/meta.json"))["token_ids"] == json.load(open(f"{ref}/meta.json"))["token_ids"]
    print(f"token ids equal: {ids_ok}")
    worst = 0.0
    for layer in layers:
        for name in "qkv":
            a = np.load(f"{ours}/layer{layer:02d}_{name}.npy").astype(np.float64)
            b = np.load(f"{ref}/layer{layer:02d}_{name}.npy").astype(np.float64)
            if a.shape != b.shape:
                print(f"layer {layer} {name}: shape {a.shape} vs {b.shape}")
                sys.exit(1)
            rel = np.linalg.norm(a - b) / np.linalg.norm(b)
            worst = max(worst, rel)
            print(f"layer {layer:2d} {name}: shape {a.shape}, relative error {rel:.2e}, max |diff| {np.abs(a - b).max():.2e}")
    sys.exit(0 if ids_ok and worst <= 1e-4 else 1)


if __name__ == "__main__":
    main()

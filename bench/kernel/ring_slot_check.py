#!/usr/bin/env python3
"""CPU check of skeleton_probes.cu's pass-2 diagonal ring indexing, as the kernel indexes it:
1. RingRow (the two-mask slot of δ = base − k, rowShift ≥ 5) equals ring_slot for every element;
2. within one ring phase (one key half at stride 32, the whole tile above) every live element of
   a strided group has its own slot — across threads (no two writers) and within a thread (so its
   loads may all be issued before its stores).
usage: ring_slot_check.py   (prints the counts; exits non-zero on a mismatch)"""
import sys

BN, NT = 64, 4

def ring_slot(delta, window, rs):
    g = delta & (window - 1)
    return g ^ ((((g >> rs) & 3) << 3) | ((g >> (rs + 2)) & 1))

def ring_xor(b):
    return ((b & 3) << 3) | ((b >> 2) & 1)

def ring_row_slot(base, k, window, rs):
    hi = base >> 5
    mask = ring_xor((hi >> (rs - 5)) & 7) if k <= (base & 31) else ring_xor(((hi - 1) >> (rs - 5)) & 7)
    return ((base - k) & (window - 1)) ^ mask

def ring(stride):
    w = 128
    while w < 63 * stride + 128: w *= 2
    return w

def main():
    elements = formula_bad = races = 0
    for stride in (32, 64, 128, 256):
        rs = stride.bit_length() - 1
        # 256 at stride 32: the formula at a one-row tail group's ring (too small for a strided group's rows)
        windows = (ring(stride), 256) if stride == 32 else (ring(stride),)
        for window in windows:
            for g0 in (0, 1, 5):
                rows = [stride // 2 + stride * (g0 * 64 + i) for i in range(64)]
                for kb in list(range(0, 24)) + list(range(200, 210)):
                    phases = [[0], [1]] if stride < 64 else [[0, 1]]
                    for phase in phases:
                        owner = {}
                        for warp in range(8):
                            key_part, row_block = warp // 4, warp % 4
                            nt_base = key_part * NT
                            for lane in range(32):
                                r0 = row_block * 16 + lane // 4
                                row = [rows[r0], rows[r0 + 8]]
                                base = kb * BN + nt_base * 8 + (lane % 4) * 2
                                mine = set()
                                for nt in range(NT):
                                    for e in range(4):
                                        j = kb * BN + (nt_base + nt) * 8 + (lane % 4) * 2 + (e & 1)
                                        r = row[e // 2]
                                        slot = ring_slot(r - j, window, rs)
                                        elements += 1
                                        if ring_row_slot(r - base, nt * 8 + (e & 1), window, rs) != slot: formula_bad += 1
                                        if window != ring(stride) or key_part not in phase or j > r: continue
                                        if slot in mine or owner.get(slot, (warp, lane)) != (warp, lane): races += 1
                                        mine.add(slot); owner[slot] = (warp, lane)
    print(f"elements {elements}: RingRow mismatches {formula_bad}, shared slots in a phase {races}")
    sys.exit(1 if formula_bad or races else 0)

main()

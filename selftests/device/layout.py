#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Check where a target put the data: compare what the device showed
(VIEW: a file holding the device's bytes) with the backing files.

  layout.py stripe VIEW CHUNK START END LEG...   chunk c on LEG[c % N] at (c / N) * CHUNK
  layout.py linear VIEW START END LEG...         LEGs concatenated (each rounded down to 4K)
  layout.py overlay VIEW BASE OVERLAY             blocks in OVERLAY's table hold VIEW's data,
                                                 all others are BASE's; prints the table's
                                                 blocks as ranges ("0-2047,3072-3171")

Only device bytes [START, END) are compared. Exit 1 with the first
misplaced byte range on stderr."""
import sys


def read_at(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def pieces_stripe(chunk, legs, start, end):
    off = start
    while off < end:
        c, within = divmod(off, chunk)
        take = min(chunk - within, end - off)
        yield off, legs[c % len(legs)], (c // len(legs)) * chunk + within, take
        off += take


def pieces_linear(legs, start, end):
    import os
    base = 0
    for leg in legs:
        size = os.path.getsize(leg) & ~4095
        lo, hi = max(start, base), min(end, base + size)
        if lo < hi:
            yield lo, leg, lo - base, hi - lo
        base += size
    if end > base:
        sys.exit(f"range ends at {end}, past the concatenation's {base} bytes")


def overlay(view, base, ovl):
    block, table_bytes = 4096, 1 << 20
    with open(ovl, "rb") as f:
        table = f.read(table_bytes)
    owner = {}
    for slot in range(len(table) // 8):
        entry = int.from_bytes(table[slot * 8:slot * 8 + 8], "little")
        if not entry:
            continue
        b = entry - 1
        if b in owner:
            sys.exit(f"block {b} is in slots {owner[b]} and {slot}")
        owner[b] = slot
    with open(view, "rb") as v:
        nblocks = (v.seek(0, 2)) // block
    for b in range(nblocks):
        want = read_at(view, b * block, block)
        if b in owner:
            got, where = read_at(ovl, table_bytes + owner[b] * block, block), f"overlay slot {owner[b]}"
        else:
            got, where = read_at(base, b * block, block), "base"
        if got != want:
            sys.exit(f"device block {b} is not what {where} holds")
    ranges, start, prev = [], None, None
    for b in sorted(owner):
        if start is None:
            start = b
        elif b != prev + 1:
            ranges.append(f"{start}-{prev}")
            start = b
        prev = b
    if start is not None:
        ranges.append(f"{start}-{prev}")
    print(",".join(ranges))


def main():
    kind, view = sys.argv[1], sys.argv[2]
    if kind == "overlay":
        overlay(view, sys.argv[3], sys.argv[4])
        return
    if kind == "stripe":
        chunk, start, end = (int(x, 0) for x in sys.argv[3:6])
        pieces = pieces_stripe(chunk, sys.argv[6:], start, end)
    elif kind == "linear":
        start, end = (int(x, 0) for x in sys.argv[3:5])
        pieces = pieces_linear(sys.argv[5:], start, end)
    else:
        sys.exit(f"unknown layout {kind}")
    n = 0
    for dev_off, leg, leg_off, length in pieces:
        if read_at(view, dev_off, length) != read_at(leg, leg_off, length):
            sys.exit(f"device bytes {dev_off}+{length} are not in {leg} at {leg_off}")
        n += 1
    print(n)


main()

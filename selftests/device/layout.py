#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Check where a target put the data: compare what the device showed
(VIEW: a file holding the device's bytes) with the backing files.

  layout.py stripe VIEW CHUNK START END LEG...   chunk c on LEG[c % N] at (c / N) * CHUNK
  layout.py linear VIEW START END LEG...         LEGs concatenated (each rounded down to 4K)

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


def main():
    kind, view = sys.argv[1], sys.argv[2]
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

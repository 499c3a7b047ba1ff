#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
t_hostile_modes' I/O for one mode of the hostile target, in one process
(every dd, cmp and python3 the shell would start costs about a second in
the TCG guest):

    hostile_io.py BUBLK ID DEV ORIG MODE REASON WANT

- reads of 4K blocks 256 and 400 (at and past 1 MiB: the hostile range)
  fail with EIO;
- a write at block 300 fails with EIO too, except in modes 5 and 8 (only
  READs are hostile there), where rewriting ORIG's own block succeeds;
- the first MiB reads back as ORIG's, a new 64K write at 512K lands and
  reads back, and ORIG is updated with it (the backing file must equal
  ORIG afterwards);
- bublk stats --json counts WANT refusals under REASON.
Exits non-zero with the reason on the first thing that is not so.
"""
import errno
import json
import mmap
import os
import subprocess
import sys

bublk, dev_id, dev, orig, mode, reason, want = sys.argv[1:8]
mode, want = int(mode), int(want)
fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, 1 << 20)	# page aligned, as O_DIRECT wants
with open(orig, "rb") as f:
    want_data = bytearray(f.read())


def fail(msg):
    sys.exit(f"mode {mode}: {msg}")


def expect_eio(what, fn):
    try:
        fn()
    except OSError as e:
        if e.errno != errno.EIO:
            fail(f"{what}: expected EIO, got {e}")
        return
    fail(f"{what} succeeded")


for blk in (256, 400):
    expect_eio(f"hostile read at block {blk}",
               lambda: os.preadv(fd, [memoryview(buf)[:4096]], blk * 4096))
if mode in (5, 8):
    buf[:4096] = want_data[300 * 4096:301 * 4096]
    if os.pwritev(fd, [memoryview(buf)[:4096]], 300 * 4096) != 4096:
        fail("short write at block 300")
else:
    buf[:4096] = bytes(4096)
    expect_eio("hostile write at block 300", lambda: os.pwritev(fd, [memoryview(buf)[:4096]], 300 * 4096))

# good requests around the bad ones: right data, and writes land
if os.preadv(fd, [buf], 0) != 1 << 20 or buf[:] != bytes(want_data[:1 << 20]):
    fail("good reads returned wrong data")
new = os.urandom(65536)
buf[:65536] = new
if os.pwritev(fd, [memoryview(buf)[:65536]], 8 * 65536) != 65536:
    fail("short good write")
buf[:65536] = bytes(65536)
if os.preadv(fd, [memoryview(buf)[:65536]], 8 * 65536) != 65536 or buf[:65536] != new:
    fail("good write did not read back")
os.close(fd)
want_data[8 * 65536:9 * 65536] = new
with open(orig, "wb") as f:
    f.write(want_data)

# the live counters (the bublk_stats map) name the reason too
st = json.loads(subprocess.run([bublk, "stats", "-n", dev_id, "--json"], check=True,
                               capture_output=True, text=True).stdout)
got = st["rejects"].get(reason, 0)
if got != want:
    fail(f"bublk stats counts {got} refusals as {reason}, expected {want}")

/* SPDX-License-Identifier: MIT */
/*
 * bublk client library: share memory with the daemon serving a device so
 * that O_DIRECT I/O from that memory is zero copy (UBLK_F_SHMEM_ZC).
 * Link with -lbublk (pkg-config bublk).
 */
#ifndef BUBLK_CLIENT_H
#define BUBLK_CLIENT_H

#ifdef __cplusplus
extern "C" {
#endif

#include <stddef.h>

/*
 * A memfd of bytes (a multiple of the page size, at most 4 GiB) ready to
 * share: created with MFD_ALLOW_SEALING and sealed against shrinking
 * (F_SEAL_SHRINK; it may still grow). mmap it MAP_SHARED for your buffers.
 * Returns the fd, or -errno.
 */
int bublk_shmem_memfd(const char *name, size_t bytes);

/*
 * Send memfd (a memfd_create() file sized with ftruncate to a multiple of
 * the page size, at most 4 GiB) to the daemon of /dev/ublkb<dev_id> over
 * /run/ublk/ublkb<dev_id>.sock. On success returns the connection (>= 0)
 * and stores the kernel's buffer index in *index. Keep the connection open
 * while you do I/O from the memory: closing it unregisters the buffer.
 *
 * The daemon reads and writes the memory itself, so it accepts only a
 * memfd that cannot shrink: this seals memfd with F_SEAL_SHRINK first
 * (from then on ftruncate can only grow it), which needs a memfd created
 * with MFD_ALLOW_SEALING (or use bublk_shmem_memfd()).
 *
 * Returns -errno on failure: the daemon's own answer when it refused
 * (-EPERM: not sealed against shrinking, or this user may not share
 * memory with it; -ENOSPC: too many buffers, see docs/shared-memory.md),
 * -EPERM when memfd cannot be sealed (no MFD_ALLOW_SEALING), -EACCES when
 * the socket is not served by root (or by this user).
 */
int bublk_shmem_share(unsigned int dev_id, int memfd, int *index);

#ifdef __cplusplus
}
#endif

#endif

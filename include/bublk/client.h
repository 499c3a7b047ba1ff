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

/*
 * Send memfd (a memfd_create() file sized with ftruncate to a multiple of
 * the page size, at most 4 GiB) to the daemon of /dev/ublkb<dev_id> over
 * /run/ublk/ublkb<dev_id>.sock. On success returns the connection (>= 0)
 * and stores the kernel's buffer index in *index. Keep the connection open
 * while you do I/O from the memory: closing it unregisters the buffer.
 * Returns -errno on failure (the daemon's own answer when it refused).
 */
int bublk_shmem_share(unsigned int dev_id, int memfd, int *index);

#ifdef __cplusplus
}
#endif

#endif

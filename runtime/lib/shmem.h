/* SPDX-License-Identifier: MIT */
/*
 * UBLK_F_SHMEM_ZC: memory shared with clients, registered with the kernel
 * (UBLK_U_CMD_REG_BUF). A client's O_DIRECT request whose pages lie in one
 * registered buffer arrives flagged, with the buffer index and offset: the
 * daemon reads into / writes from that memory directly, no copy.
 */
#ifndef BUBLK_SHMEM_H
#define BUBLK_SHMEM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "unix_listener.h"

#define BUBLK_SHMEM_MAX_BUFS	64		/* kernel indices we keep (0..63) */
#define BUBLK_SHMEM_MAX_BYTES	(4ULL << 30)	/* REG_BUF's limit */
/* what socket clients may pin through the daemon (docs/shared-memory.md) */
#define BUBLK_SHMEM_MAX_PER_CLIENT	16		/* buffers one process holds */
#define BUBLK_SHMEM_MAX_CLIENT_BYTES	(4ULL << 30)	/* all clients together */

struct bublk_dev;

struct bublk_shmem_buf {
	void		*base;		/* our mapping; NULL: slot free */
	size_t		len;
	bool		readonly;
	int		conn_fd;	/* the client connection that owns it, or -1 */
};

struct bublk_shmem {
	struct bublk_shmem_buf	bufs[BUBLK_SHMEM_MAX_BUFS];	/* by kernel index */
	pthread_mutex_t		lock;		/* registration side only */
	/* /run/ublk/ublkb<N>.sock (listener.path) */
	struct bublk_listener	listener;
};

void bublk_shmem_init(struct bublk_shmem *s);

/* map FILE (hugetlbfs or any shared file) and register it; 0 or -errno + err */
int bublk_shmem_add_file(struct bublk_dev *dev, const char *path, bool readonly,
			 char *err, size_t errlen);

/*
 * Register a mapping; returns the kernel's index or -errno. The table keeps
 * it until bublk_shmem_unregister() or bublk_shmem_release().
 */
int bublk_shmem_register(struct bublk_dev *dev, void *base, size_t len, bool readonly,
			 int conn_fd);
int bublk_shmem_unregister(struct bublk_dev *dev, int index);

/*
 * Receive one client message on conn and check it: exactly one descriptor,
 * a memfd sealed against shrinking (F_SEAL_SHRINK; else -EPERM), of a size
 * that is not zero, a multiple of the page size and at most 4 GiB; map it
 * shared. 0 with *mem and *len set, or -errno with *why. Every
 * descriptor received is closed. (Apart from registering, for the fuzzer.)
 */
int bublk_shmem_recv(int conn, void **mem, size_t *len, const char **why);

/*
 * May a client that holds client_bufs buffers add one of len bytes, when
 * all clients hold total bytes? 0, or -ENOSPC with *why.
 */
int bublk_shmem_limits(unsigned int client_bufs, unsigned long long total, size_t len,
		       const char **why);

/* the socket clients send memfds on (one per connection; answer: int32) */
int bublk_shmem_listen(struct bublk_dev *dev, char *err, size_t errlen);

/* stop listening, unregister and unmap everything */
void bublk_shmem_release(struct bublk_dev *dev);

/*
 * Queue side: where a flagged request's data is, or NULL when the index is
 * unknown or the range leaves the buffer. Lock-free: a buffer is only
 * unmapped after UNREG_BUF, which the kernel completes only once no
 * request carrying its index is in flight.
 */
static inline void *bublk_shmem_data(struct bublk_shmem *s, __u64 addr, __u32 len)
{
	__u32 idx = addr >> 32, off = (__u32)addr;
	struct bublk_shmem_buf *b;
	void *base;

	if (idx >= BUBLK_SHMEM_MAX_BUFS)
		return NULL;
	b = &s->bufs[idx];
	base = __atomic_load_n(&b->base, __ATOMIC_ACQUIRE);
	if (!base || off > b->len || len > b->len - off)
		return NULL;
	return (char *)base + off;
}

#endif

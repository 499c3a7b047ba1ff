// SPDX-License-Identifier: MIT
/*
 * A client's shared memory (UBLK_F_SHMEM_ZC, docs/shared-memory.md): a
 * request flagged UBLK_IO_F_SHMEM_ZC names a place in a buffer the client
 * registered with us, and the backend I/O goes straight to and from it,
 * with no copy either way. Flagged UBLK_IO_F_SHMEM_SG (bublk's
 * scatter/gather proposal), it is scattered over several such places,
 * listed in an iov our hook program built in the arena. Either is that
 * request's own data mode, picked at dispatch; unflagged requests keep the
 * device's.
 */
#include <errno.h>
#include <string.h>

#include <bublk/ublk_proto.h>
#include "queue.h"

int bublk_sg_decode(const void *arena, size_t slots_off, size_t slot_bytes, __u32 slot,
		    __u64 iod_addr, __u32 len, struct bublk_shmem *shm, struct iovec *out)
{
	/* the arena's real address here: under ASan it is not BUBLK_ARENA_ADDR */
	__u64 addr = (__u64)(uintptr_t)arena + slots_off + (__u64)slot * slot_bytes;
	const struct ublk_shmem_sg_iov *iov = (const void *)(uintptr_t)addr;
	__u64 total = 0;
	__u32 nr;

	if (!arena || iod_addr != addr)
		return -EINVAL;
	nr = ARENA_READ(iov->nr);
	if (!nr || nr > BUBLK_SG_MAX_PIECES ||
	    sizeof(*iov) + (size_t)nr * sizeof(iov->e[0]) > slot_bytes ||
	    ARENA_READ(iov->bytes) != len)
		return -EINVAL;
	for (__u32 i = 0; i < nr; i++) {
		const struct ublk_shmem_sg_entry *e = &iov->e[i];
		/* one read of each field: a racing target cannot change what we checked */
		__u32 buf_index = ARENA_READ(e->buf_index);
		__u32 plen = ARENA_READ(e->len);
		__u64 off = ARENA_READ(e->offset);
		void *p;

		if (!plen || off > 0xffffffffULL)
			return -EINVAL;
		p = bublk_shmem_data(shm, (__u64)buf_index << 32 | off, plen);
		if (!p)
			return -EINVAL;
		out[i] = (struct iovec){ p, plen };
		total += plen;
	}
	return total == len ? (int)nr : -EINVAL;
}

/*
 * A scattered request's data [off, off + len) as an iovec list (at most
 * BUBLK_SG_MAX_PIECES entries): the pieces it overlaps, trimmed.
 */
static int sg_range(const struct bublk_io *io, __u64 off, __u32 len, struct iovec *out)
{
	int n = 0;

	for (int i = 0; i < io->nr_sg && len; i++) {
		__u64 plen = io->sg[i].iov_len, take;

		if (off >= plen) {
			off -= plen;
			continue;
		}
		take = plen - off < len ? plen - off : len;
		out[n++] = (struct iovec){ (char *)io->sg[i].iov_base + off, take };
		len -= take;
		off = 0;
	}
	return n;
}

/* a segment of a scattered request: one readv/writev over its pieces */
static void sg_prep_rw(struct io_uring_sqe *sqe, struct bublk_queue *q, int tag, int i, int fd)
{
	struct bublk_io *io = &q->ios[tag];
	const struct bublk_seg *s = &io_segs(q, tag)[i];
	struct iovec *iov = io->seg_iov + (size_t)i * BUBLK_SG_MAX_PIECES;
	int n = sg_range(io, s->data_off, s->len, iov);

	if (s->op == BUBLK_SEG_READ)
		io_uring_prep_readv(sqe, fd, iov, n, s->backend_off);
	else
		io_uring_prep_writev(sqe, fd, iov, n, s->backend_off);
}

static int sg_zero_fill(struct bublk_queue *q, int tag, int i)
{
	struct bublk_io *io = &q->ios[tag];
	const struct bublk_seg *s = &io_segs(q, tag)[i];
	struct iovec *iov = io->seg_iov + (size_t)i * BUBLK_SG_MAX_PIECES;
	int n = sg_range(io, s->data_off, s->len, iov);

	for (int k = 0; k < n; k++)
		memset(iov[k].iov_base, 0, iov[k].iov_len);
	return 0;
}

/* requests' modes, never a queue's: bublk_shmem_request picks them */
const struct bublk_data_ops bublk_mode_shmem = {
	.name		= "shmem",
	.buf_kind	= BUBLK_BUF_SHMEM,
	.prep_rw	= bublk_flat_prep_rw,
	.zero_fill	= bublk_flat_zero_fill,
};

const struct bublk_data_ops bublk_mode_shmem_sg = {
	.name		= "shmem_sg",
	.buf_kind	= BUBLK_BUF_SHMEM,
	.prep_rw	= sg_prep_rw,
	.zero_fill	= sg_zero_fill,
};

/*
 * bublk's scatter/gather proposal (UBLK_IO_F_SHMEM_SG): iod->addr is this
 * tag's iov slot in our own arena, which the hook program filled. Trust
 * nothing in it: the slot must be this tag's, every piece inside one of
 * our registered buffers, the pieces adding up to the request.
 */
static void shmem_sg_request(struct bublk_queue *q, int tag, const struct ublksrv_io_desc *iod)
{
	struct bublk_dev *dev = q->dev;
	struct bublk_io *io = &q->ios[tag];
	int nr;

	if (!dev->sg_hook)
		goto bad;
	nr = bublk_sg_decode(dev->target.arena, dev->sg_slots_off, bublk_sg_hook_slot_bytes(),
			     (__u32)q->q_id * q->depth + tag, iod->addr, io->len, &dev->shmem,
			     io->sg);
	if (nr <= 0)
		goto bad;
	io->nr_sg = nr;
	io->data = io->sg[0].iov_base;
	io->ops = &bublk_mode_shmem_sg;
	q->stats->zc_reqs++;
	q->stats->zc_sg_reqs++;
	q->stats->zc_bytes += io->len;
	return;
bad:
	q->stats->zc_bad++;
	io->bad_buf = true;	/* execute() fails it */
}

/*
 * A data request on a SHMEM_ZC device: flagged ones point into a client's
 * registered memory (no copy either way); the others take the device's
 * normal path. A flag naming a buffer we do not have fails the request.
 */
void bublk_shmem_request(struct bublk_queue *q, int tag, const struct ublksrv_io_desc *iod)
{
	struct bublk_io *io = &q->ios[tag];
	void *p;

	if (iod->op_flags & UBLK_IO_F_SHMEM_SG) {
		shmem_sg_request(q, tag, iod);
		return;
	}
	if (!(iod->op_flags & UBLK_IO_F_SHMEM_ZC)) {
		q->stats->copy_reqs++;
		q->stats->copy_bytes += io->len;
		return;
	}
	p = bublk_shmem_data(&q->dev->shmem, iod->addr, io->len);
	if (!p) {
		q->stats->zc_bad++;
		io->bad_buf = true;	/* execute() fails it */
		return;
	}
	io->data = p;
	io->ops = &bublk_mode_shmem;
	q->stats->zc_reqs++;
	q->stats->zc_bytes += io->len;
}

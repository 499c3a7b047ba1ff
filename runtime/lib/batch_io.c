// SPDX-License-Identifier: MIT
/*
 * Batched ublk commands (UBLK_F_BATCH_IO, 7.0+): instead of one FETCH and
 * one COMMIT_AND_FETCH per tag, a queue arms all its tags with one
 * PREP_IO_CMDS, learns of new requests through one multishot
 * FETCH_IO_CMDS that writes their tags into a provided buffer, and
 * completes them in arrays with COMMIT_IO_CMDS, one per loop iteration.
 * The data path is unchanged: every data mode works under it, since an
 * element carries what a per-tag command would have (the buffer address
 * in copy mode, the registration index in zero copy), taken from the
 * mode's own fetch_addr hook.
 *
 * The driver may consume only a prefix of a COMMIT array: the rest is
 * committed again; an element it refuses outright (nothing consumed) is
 * dropped and logged, so one bad element cannot wedge the others.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue.h"

#ifndef IORING_URING_CMD_MULTISHOT
#define IORING_URING_CMD_MULTISHOT	(1U << 1)	/* Linux 6.x io_uring UAPI */
#endif

#define FETCH_BUFS	8	/* provided buffers: one per FETCH completion */
#define FETCH_TAGS	128	/* the driver posts at most 128 tags per completion */
#define FETCH_BGID	0	/* the queue's ring has this one buffer group */
#define COMMIT_BUFS	4	/* COMMIT_IO_CMDS arrays in flight at once */

struct bublk_batch_io {
	struct io_uring_buf_ring *br;	/* FETCH_BUFS entries, page-aligned */
	__u16		*fetch_buf;	/* [FETCH_BUFS][FETCH_TAGS] */
	bool		fetch_armed;	/* the multishot FETCH is in the kernel */
	bool		fetch_done;	/* ended with ABORT: the queue is going */
	__u16		flags;		/* UBLK_BATCH_F_* of PREP and COMMIT */
	__u8		elem_bytes;
	void		*prep;		/* [depth] elements */
	void		*commit[COMMIT_BUFS];	/* [depth] elements each */
	int		commit_nr[COMMIT_BUFS];	/* elements in flight; 0: free */
	/* results waiting for a COMMIT_IO_CMDS */
	__u16		*pend_tag;
	__s32		*pend_res;
	int		nr_pend;
	bool		refusal_logged;
};

/* element i of array arr: tag's header, then its buffer address in copy mode */
static void put_elem(const struct bublk_queue *q, void *arr, int i, int tag, int res)
{
	const struct bublk_batch_io *b = q->batch;
	char *e = (char *)arr + (size_t)i * b->elem_bytes;
	struct io_uring_sqe sqe = { 0 };
	struct ublksrv_io_cmd cmd = { 0 };
	struct ublk_elem_header h = { .tag = tag, .result = res };

	/* what the per-tag command would carry, from the data mode itself */
	if (q->ops->fetch_addr)
		q->ops->fetch_addr(&sqe, &cmd, q, tag);
	h.buf_index = (__u16)sqe.addr;	/* the auto_buf_reg index, bits 0-15 */
	memcpy(e, &h, sizeof(h));
	if (b->flags & UBLK_BATCH_F_HAS_BUF_ADDR)
		memcpy(e + sizeof(h), &cmd.addr, sizeof(__u64));
}

static void get_elem(const struct bublk_batch_io *b, const void *arr, int i, __u16 *tag, __s32 *res)
{
	struct ublk_elem_header h;

	memcpy(&h, (const char *)arr + (size_t)i * b->elem_bytes, sizeof(h));
	*tag = h.tag;
	*res = h.result;
}

static struct io_uring_sqe *batch_cmd(struct bublk_queue *q, __u32 op, const void *arr,
				      int nr, __u8 elem_bytes, __u16 flags, __u64 ud)
{
	struct io_uring_sqe *sqe = bublk_ublk_sqe(q, op);
	struct ublk_batch_io *cmd;

	if (!sqe)
		return NULL;
	sqe->addr = (__u64)(uintptr_t)arr;
	sqe->user_data = ud;
	cmd = (struct ublk_batch_io *)sqe->cmd;
	cmd->q_id = q->q_id;
	cmd->flags = flags;
	cmd->nr_elem = nr;
	cmd->elem_bytes = elem_bytes;
	return sqe;
}

static void arm_fetch(struct bublk_queue *q)
{
	struct io_uring_sqe *sqe = batch_cmd(q, UBLK_U_IO_FETCH_IO_CMDS, NULL, FETCH_TAGS,
					     sizeof(__u16), 0, ud_make(UD_BATCH_FETCH, 0, 0));

	if (!sqe)
		return;		/* the next loop iteration tries again */
	sqe->uring_cmd_flags = IORING_URING_CMD_MULTISHOT;
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = FETCH_BGID;
	q->batch->fetch_armed = true;
}

static void give_fetch_buf(struct bublk_batch_io *b, int bid)
{
	io_uring_buf_ring_add(b->br, b->fetch_buf + (size_t)bid * FETCH_TAGS,
			      FETCH_TAGS * sizeof(__u16), bid, io_uring_buf_ring_mask(FETCH_BUFS), 0);
	io_uring_buf_ring_advance(b->br, 1);
}

int bublk_batch_start(struct bublk_queue *q)
{
	struct bublk_batch_io *b = calloc(1, sizeof(*b));
	size_t arr_bytes;
	struct io_uring_buf_reg reg = { 0 };
	struct io_uring_cqe *cqe;
	int ret;

	if (!b)
		return -ENOMEM;
	q->batch = b;
	/* the driver's rule: a buffer address exactly when it maps the data itself */
	if (!(q->dev->info.flags & (UBLK_F_USER_COPY | UBLK_F_SUPPORT_ZERO_COPY | UBLK_F_AUTO_BUF_REG)))
		b->flags = UBLK_BATCH_F_HAS_BUF_ADDR;
	/* the per-tag commands' UBLK_AUTO_BUF_REG_FALLBACK, for the whole array */
	if (bublk_zc_fallback(q->dev))
		b->flags |= UBLK_BATCH_F_AUTO_BUF_REG_FALLBACK;
	b->elem_bytes = sizeof(struct ublk_elem_header) +
			(b->flags & UBLK_BATCH_F_HAS_BUF_ADDR ? sizeof(__u64) : 0);
	arr_bytes = (size_t)q->depth * b->elem_bytes;
	b->prep = calloc(q->depth, b->elem_bytes);
	b->pend_tag = calloc(q->depth, sizeof(*b->pend_tag));
	b->pend_res = calloc(q->depth, sizeof(*b->pend_res));
	b->fetch_buf = calloc(FETCH_BUFS * FETCH_TAGS, sizeof(__u16));
	if (!b->prep || !b->pend_tag || !b->pend_res || !b->fetch_buf)
		return -ENOMEM;
	for (int i = 0; i < COMMIT_BUFS; i++) {
		b->commit[i] = malloc(arr_bytes);
		if (!b->commit[i])
			return -ENOMEM;
	}
	/* the ring of provided buffers FETCH writes tags into */
	if (posix_memalign((void **)&b->br, BUBLK_PAGE_SIZE, FETCH_BUFS * sizeof(struct io_uring_buf))) {
		b->br = NULL;
		return -ENOMEM;
	}
	reg.ring_addr = (__u64)(uintptr_t)b->br;
	reg.ring_entries = FETCH_BUFS;
	reg.bgid = FETCH_BGID;
	ret = io_uring_register_buf_ring(&q->ring, &reg, 0);
	if (ret)
		return ret;
	io_uring_buf_ring_init(b->br);
	for (int i = 0; i < FETCH_BUFS; i++)
		give_fetch_buf(b, i);

	/* every tag armed at once, before START_DEV; nothing else is queued yet */
	for (int tag = 0; tag < q->depth; tag++)
		put_elem(q, b->prep, tag, tag, 0);
	if (!batch_cmd(q, UBLK_U_IO_PREP_IO_CMDS, b->prep, q->depth, b->elem_bytes, b->flags,
		       ud_make(UD_BATCH_PREP, 0, 0)))
		return -EBUSY;
	ret = io_uring_submit_and_wait(&q->ring, 1);
	if (ret < 0)
		return ret;
	ret = io_uring_peek_cqe(&q->ring, &cqe);
	if (ret)
		return ret;
	ret = ud_kind(cqe->user_data) == UD_BATCH_PREP ? cqe->res : -EPROTO;
	io_uring_cqe_seen(&q->ring, cqe);
	if (ret)
		return ret;
	arm_fetch(q);
	return 0;
}

void bublk_batch_commit(struct bublk_queue *q, int tag, int res)
{
	struct bublk_batch_io *b = q->batch;

	/* a tag is pending at most once: it is fetched again only after its commit */
	if (b->nr_pend < q->depth) {
		b->pend_tag[b->nr_pend] = tag;
		b->pend_res[b->nr_pend++] = res;
	}
}

void bublk_batch_flush(struct bublk_queue *q)
{
	struct bublk_batch_io *b = q->batch;

	for (int i = 0; i < COMMIT_BUFS && b->nr_pend; i++) {
		if (b->commit_nr[i])
			continue;
		for (int k = 0; k < b->nr_pend; k++)
			put_elem(q, b->commit[i], k, b->pend_tag[k], b->pend_res[k]);
		if (!batch_cmd(q, UBLK_U_IO_COMMIT_IO_CMDS, b->commit[i], b->nr_pend, b->elem_bytes,
			       b->flags, ud_make(UD_BATCH_COMMIT, i, 0)))
			return;
		b->commit_nr[i] = b->nr_pend;
		b->nr_pend = 0;
	}
	if (!b->fetch_armed && !b->fetch_done && !q->stopping)
		arm_fetch(q);
}

static void fetch_cqe(struct bublk_queue *q, const struct io_uring_cqe *cqe)
{
	struct bublk_batch_io *b = q->batch;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		const __u16 *tags;
		int n;

		if (bid >= FETCH_BUFS)
			return;
		tags = b->fetch_buf + (size_t)bid * FETCH_TAGS;
		n = cqe->res > 0 ? cqe->res / (int)sizeof(__u16) : 0;
		for (int i = 0; i < n && i < FETCH_TAGS; i++) {
			if (tags[i] < q->depth && q->nr_ready < q->depth)
				q->ready[q->nr_ready++] = tags[i];
		}
		give_fetch_buf(b, bid);
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	/* the FETCH ended: out of buffers (armed again), or the queue is going */
	b->fetch_armed = false;
	if (cqe->res == UBLK_IO_RES_ABORT || cqe->res == -ECANCELED) {
		b->fetch_done = true;
	} else if (cqe->res < 0 && cqe->res != -ENOBUFS) {
		bublk_log("dev %u queue %d: FETCH_IO_CMDS ended: %s", q->dev->info.dev_id, q->q_id,
			  strerror(-cqe->res));
	}
}

static void commit_cqe(struct bublk_queue *q, const struct io_uring_cqe *cqe)
{
	struct bublk_batch_io *b = q->batch;
	int i = ud_tag(cqe->user_data), n, done;

	if (i >= COMMIT_BUFS || !b->commit_nr[i])
		return;
	n = b->commit_nr[i];
	done = cqe->res > 0 ? cqe->res / b->elem_bytes : 0;
	if (cqe->res < 0) {
		/* nothing consumed: the first element was refused; the rest go again */
		__u16 tag;
		__s32 res;

		get_elem(b, b->commit[i], 0, &tag, &res);
		if (!b->refusal_logged && cqe->res != UBLK_IO_RES_ABORT)
			bublk_log("dev %u queue %d: COMMIT_IO_CMDS refused tag %u: %s",
				  q->dev->info.dev_id, q->q_id, tag, strerror(-cqe->res));
		b->refusal_logged = true;
		done = cqe->res == UBLK_IO_RES_ABORT ? n : 1;
	}
	for (int k = done; k < n && b->nr_pend < q->depth; k++) {
		get_elem(b, b->commit[i], k, &b->pend_tag[b->nr_pend], &b->pend_res[b->nr_pend]);
		b->nr_pend++;
	}
	b->commit_nr[i] = 0;
}

void bublk_batch_cqe(struct bublk_queue *q, const struct io_uring_cqe *cqe)
{
	switch (ud_kind(cqe->user_data)) {
	case UD_BATCH_FETCH:
		fetch_cqe(q, cqe);
		break;
	case UD_BATCH_COMMIT:
		commit_cqe(q, cqe);
		break;
	}
}

void bublk_batch_free(struct bublk_queue *q)
{
	struct bublk_batch_io *b = q->batch;

	if (!b)
		return;
	free(b->br);
	free(b->fetch_buf);
	free(b->prep);
	for (int i = 0; i < COMMIT_BUFS; i++)
		free(b->commit[i]);
	free(b->pend_tag);
	free(b->pend_res);
	free(b);
	q->batch = NULL;
}

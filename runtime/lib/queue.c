// SPDX-License-Identifier: MIT
/*
 * One queue: one thread, one io_uring. The ublk FETCH/COMMIT commands and
 * the backend I/O they lead to are SQEs on the same ring, so a request's
 * commit goes out with the next submit after its last backend completion.
 *
 * Per loop iteration: reap every CQE, collect newly fetched requests, hand
 * the whole batch to the target's BPF dispatcher in one BPF_PROG_RUN,
 * validate and execute what it decided.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ctlplane.h"
#include "dev.h"
#include "log.h"

/* user_data: kind in bits 56-63, tag in 40-55, segment in 32-39, expected result in 0-31 */
enum {
	UD_UBLK = 1,		/* FETCH / COMMIT_AND_FETCH */
	UD_BACKEND,		/* one segment on a backend */
	UD_STOP,		/* the stop eventfd fired */
	UD_UC_IN,		/* user copy: WRITE data pulled from /dev/ublkcN */
	UD_UC_OUT,		/* user copy: READ data pushed to /dev/ublkcN */
};

static inline __u64 ud_make(unsigned int kind, unsigned int tag, __u32 expect)
{
	return ((__u64)kind << 56) | ((__u64)tag << 40) | expect;
}
static inline __u64 ud_make_seg(unsigned int tag, unsigned int seg, __u32 expect)
{
	return ud_make(UD_BACKEND, tag, expect) | ((__u64)seg << 32);
}
static inline unsigned int ud_kind(__u64 ud) { return ud >> 56; }
static inline unsigned int ud_tag(__u64 ud) { return (ud >> 40) & 0xffff; }
static inline unsigned int ud_seg(__u64 ud) { return (ud >> 32) & 0xff; }
static inline __u32 ud_expect(__u64 ud) { return (__u32)ud; }

static struct io_uring_sqe *get_sqe(struct bublk_queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	if (!sqe) {
		/* ring full: push what we have to the kernel and retry */
		io_uring_submit(&q->ring);
		sqe = io_uring_get_sqe(&q->ring);
	}
	return sqe;
}

static size_t iods_offset(int q_id)
{
	size_t max = (size_t)UBLK_MAX_QUEUE_DEPTH * sizeof(struct ublksrv_io_desc);

	max = (max + BUBLK_PAGE_SIZE - 1) & ~((size_t)BUBLK_PAGE_SIZE - 1);
	return UBLKSRV_CMD_BUF_OFFSET + (size_t)q_id * max;
}

/* FETCH (first time) or COMMIT_AND_FETCH (with the previous request's result) */
static int queue_ublk_cmd(struct bublk_queue *q, int tag, bool commit, int result)
{
	struct io_uring_sqe *sqe = get_sqe(q);
	struct ublksrv_io_cmd *cmd;
	bool legacy = q->dev->ctrl.legacy;

	if (!sqe)
		return -EBUSY;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = 0;			/* registered file 0: /dev/ublkcN */
	sqe->flags = IOSQE_FIXED_FILE;
	if (commit)
		sqe->cmd_op = legacy ? UBLK_IO_COMMIT_AND_FETCH_REQ : UBLK_U_IO_COMMIT_AND_FETCH_REQ;
	else
		sqe->cmd_op = legacy ? UBLK_IO_FETCH_REQ : UBLK_U_IO_FETCH_REQ;
	sqe->user_data = ud_make(UD_UBLK, tag, 0);
	cmd = (struct ublksrv_io_cmd *)sqe->cmd;
	cmd->q_id = q->q_id;
	cmd->tag = tag;
	cmd->result = result;
	cmd->addr = q->user_copy ? 0 : (__u64)(uintptr_t)q->ios[tag].buf;
	return 0;
}

/* where (q_id, tag)'s data lives on /dev/ublkcN in user-copy mode */
static __u64 user_copy_offset(int q_id, int tag)
{
	return UBLKSRV_IO_BUF_OFFSET + ((__u64)q_id << UBLK_QID_OFF) +
	       ((__u64)tag << UBLK_TAG_OFF);
}

/* move a request's data between our buffer and the kernel's request */
static int queue_user_copy(struct bublk_queue *q, int tag, bool to_kernel)
{
	struct io_uring_sqe *sqe = get_sqe(q);
	struct bublk_io *io = &q->ios[tag];

	if (!sqe)
		return -EBUSY;
	if (to_kernel)
		io_uring_prep_write(sqe, 0, io->buf, io->len, user_copy_offset(q->q_id, tag));
	else
		io_uring_prep_read(sqe, 0, io->buf, io->len, user_copy_offset(q->q_id, tag));
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = ud_make(to_kernel ? UD_UC_OUT : UD_UC_IN, tag, io->len);
	return 0;
}

static void commit_io(struct bublk_queue *q, int tag, int err);

/* all segments done: in user-copy mode a READ's data goes to the kernel first */
static void complete_io(struct bublk_queue *q, int tag, int err)
{
	struct bublk_io *io = &q->ios[tag];

	if (!err && q->user_copy && !io->zc && io->op == BUBLK_OP_READ && io->len &&
	    !queue_user_copy(q, tag, true))
		return;
	commit_io(q, tag, err);
}

/*
 * Record the finished request in this queue's part of the trace ring: what
 * it was, what the target decided (its last round's first segments), and
 * what the client got. seq goes last, so a reader sees whole records.
 */
static void trace_io(struct bublk_queue *q, int tag, int res)
{
	const struct bublk_io *io = &q->ios[tag];
	const struct bublk_seg *segs = q->io_segs + (size_t)tag * q->dev->max_segs;
	struct bublk_trace_rec *r = &q->trace[q->trace_seq % BUBLK_TRACE_PER_QUEUE];
	int n = io->nr_segs < BUBLK_TRACE_SEGS ? io->nr_segs : BUBLK_TRACE_SEGS;

	__atomic_store_n(&r->seq, 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	r->offset = io->offset;
	r->len = io->len;
	r->result = res;
	r->q_id = q->q_id;
	r->tag = tag;
	r->op = io->op;
	r->nr_segs = io->nr_segs;
	r->rounds = io->round;
	r->action = io->action;
	for (int i = 0; i < BUBLK_TRACE_SEGS; i++) {
		struct bublk_trace_seg *t = &r->segs[i];

		if (i < n)
			*t = (struct bublk_trace_seg){ .op = segs[i].op, .stage = segs[i].stage,
				.backend = segs[i].backend, .len = segs[i].len,
				.backend_off = segs[i].backend_off };
		else
			memset(t, 0, sizeof(*t));
	}
	__atomic_store_n(&r->seq, ++q->trace_seq, __ATOMIC_RELEASE);
}

static void commit_io(struct bublk_queue *q, int tag, int err)
{
	struct bublk_io *io = &q->ios[tag];
	struct bublk_op_stats *st = &q->stats->op[io->op & (BUBLK_STATS_OPS - 1)];
	int res;

	if (err < 0) {
		res = err;
		st->errors++;
	} else if (io->op == BUBLK_OP_READ || io->op == BUBLK_OP_WRITE) {
		res = io->len;
		st->bytes += io->len;
	} else {
		res = 0;
	}
	st->reqs++;
	trace_io(q, tag, res);
	queue_ublk_cmd(q, tag, true, res);
}

/* registered-file index of backend i: 0 is the ublk char device */
static inline int backend_slot(unsigned int backend)
{
	return 1 + backend;
}

static inline struct bublk_seg *io_segs(struct bublk_queue *q, int tag)
{
	return q->io_segs + (size_t)tag * q->dev->max_segs;
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

/* queue segment i of a request on its backend (validated before) */
static int queue_seg(struct bublk_queue *q, int tag, int i)
{
	struct bublk_io *io = &q->ios[tag];
	const struct bublk_seg *s = &io_segs(q, tag)[i];
	char *data = s->flags & BUBLK_SEG_F_ARENA ?
		     (char *)q->scratch + (size_t)tag * BUBLK_SCRATCH_SIZE + s->data_off :
		     (char *)io->data + s->data_off;
	int fd = backend_slot(s->backend);
	struct io_uring_sqe *sqe;
	__u32 expect = 0;

	sqe = get_sqe(q);
	if (!sqe)
		return -EBUSY;
	if (io->nr_sg && !(s->flags & BUBLK_SEG_F_ARENA) &&
	    (s->op == BUBLK_SEG_READ || s->op == BUBLK_SEG_WRITE)) {
		/* scattered client memory: one readv/writev over the pieces */
		struct iovec *iov = io->seg_iov + (size_t)i * BUBLK_SG_MAX_PIECES;
		int n = sg_range(io, s->data_off, s->len, iov);

		if (s->op == BUBLK_SEG_READ) {
			io_uring_prep_readv(sqe, fd, iov, n, s->backend_off);
		} else {
			io_uring_prep_writev(sqe, fd, iov, n, s->backend_off);
			if (io->flags & BUBLK_REQ_F_FUA)
				sqe->rw_flags = RWF_DSYNC;
		}
		expect = s->len;
		goto queued;
	}
	switch (s->op) {
	case BUBLK_SEG_READ:
		io_uring_prep_read(sqe, fd, data, s->len, s->backend_off);
		expect = s->len;
		break;
	case BUBLK_SEG_WRITE:
		io_uring_prep_write(sqe, fd, data, s->len, s->backend_off);
		/* FUA: this write is durable when it completes */
		if (io->flags & BUBLK_REQ_F_FUA)
			sqe->rw_flags = RWF_DSYNC;
		expect = s->len;
		break;
	case BUBLK_SEG_FLUSH:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	case BUBLK_SEG_DISCARD:
		io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					s->backend_off, s->len);
		break;
	case BUBLK_SEG_WRITE_ZEROES:
		io_uring_prep_fallocate(sqe, fd,
					(__atomic_load_n(&q->dev->backends[s->backend].zero_by_punch,
							 __ATOMIC_RELAXED) ?
					 FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE,
					s->backend_off, s->len);
		break;
	case BUBLK_SEG_DELAY:
		/* execute() allows one per request: the timespec lives in io */
		io->delay.tv_sec = s->len / 1000000;
		io->delay.tv_nsec = (s->len % 1000000) * 1000LL;
		io_uring_prep_timeout(sqe, &io->delay, 0, 0);
		sqe->user_data = ud_make_seg(tag, i, 0);
		io->pending++;
		return 0;
	}
queued:
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = ud_make_seg(tag, i, expect);
	io->pending++;
	q->stats->op[io->op & (BUBLK_STATS_OPS - 1)].segs++;
	return 0;
}

/* the runtime's own C mapping: identity onto backend 0 (the loop mapping) */
static int fallback_segs(const struct bublk_req *rq, struct bublk_seg *s)
{
	memset(s, 0, sizeof(*s));
	s->backend = 0;
	s->backend_off = rq->offset;
	s->len = rq->len;
	s->op = bublk_seg_op_for(rq->op);
	return s->op ? 1 : -EOPNOTSUPP;
}

static void reject(struct bublk_queue *q, int tag, enum bublk_reject why)
{
	const struct bublk_io *io = &q->ios[tag];

	if (!q->stats->rejects[why & (BUBLK_STATS_REJECTS - 1)]++)
		bublk_log("dev %u queue %d: target answer refused (%s) for op %u at %llu+%u; failing such requests with EIO",
			  q->dev->info.dev_id, q->q_id, bublk_reject_name(why), io->op,
			  (unsigned long long)io->offset, io->len);
	complete_io(q, tag, -EIO);
}

/*
 * Every segment of the request has finished (or a stage failed): hand it
 * to the target's bublk_done when it asked for that or something failed,
 * else complete it.
 */
static void segs_finished(struct bublk_queue *q, int tag)
{
	struct bublk_io *io = &q->ios[tag];
	struct bublk_seg *segs = io_segs(q, tag);

	for (int i = io->next; i < io->nr_segs; i++)
		segs[i].result = BUBLK_SEG_NOT_RUN;
	/* each tag is on the list at most once: a round ends once */
	if (io->tgt->done_fd >= 0 && (io->notify || io->result) && q->nr_done < q->depth) {
		q->done[q->nr_done++] = tag;
		return;
	}
	complete_io(q, tag, io->result);
}

/*
 * Issue the next stage: every segment with the stage number of the first
 * one not yet issued. ZERO_FILL runs here and now; a stage made only of
 * those is finished at once and the next one follows.
 */
static void issue_stage(struct bublk_queue *q, int tag)
{
	struct bublk_io *io = &q->ios[tag];
	struct bublk_seg *segs = io_segs(q, tag);

	while (!io->pending) {
		int stage;

		if (io->result || io->next >= io->nr_segs) {
			segs_finished(q, tag);
			return;
		}
		stage = segs[io->next].stage;
		for (; io->next < io->nr_segs && segs[io->next].stage == stage; io->next++) {
			struct bublk_seg *s = &segs[io->next];

			if (s->op == BUBLK_SEG_ZERO_FILL) {
				struct iovec *iov = io->seg_iov + (size_t)io->next * BUBLK_SG_MAX_PIECES;
				int n;

				if (!io->nr_sg) {
					memset((char *)io->data + s->data_off, 0, s->len);
				} else {
					n = sg_range(io, s->data_off, s->len, iov);
					for (int k = 0; k < n; k++)
						memset(iov[k].iov_base, 0, iov[k].iov_len);
				}
				s->result = 0;
			} else if (queue_seg(q, tag, io->next)) {
				s->result = -EIO;
				if (!io->result)
					io->result = -EIO;
			}
		}
	}
}

/* what the arena may hold changes under us: one read, into a local */
#define ARENA_READ(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)

/* BUBLK_ACT_COMPLETE's result: 0 or -errno; anything else is an I/O error */
static int complete_result(__s32 result)
{
	if (result >= 0)
		return 0;
	return result >= -4095 ? result : -EIO;
}

/*
 * Act on what the target decided for one request (at dispatch, or after a
 * bublk_done round). tag is the runtime's own (from its ready or done
 * list), never read from the arena. Only action, result, nr_segs, notify
 * and the segments come from the arena, each read once into a copy that is
 * checked before use; what the request is comes from our own record, since
 * the target could have scribbled over its input slot.
 */
static void execute(struct bublk_queue *q, int tag)
{
	struct bublk_dev *dev = q->dev;
	struct bublk_io *io = &q->ios[tag];
	const struct bublk_req *arq = &q->reqs[tag];
	const struct bublk_seg *arena_segs = q->segs + (size_t)tag * dev->max_segs;
	struct bublk_seg *segs = io_segs(q, tag);
	struct bublk_req rq = {
		.tag = tag,
		.q_id = q->q_id,
		.op = io->op,
		.flags = io->flags,
		.len = io->len,
		.offset = io->offset,
		.result = ARENA_READ(arq->result),
		.nr_segs = ARENA_READ(arq->nr_segs),
		.action = ARENA_READ(arq->action),
		.notify = ARENA_READ(arq->notify),
	};
	enum bublk_reject why;
	int n;

	if (!io->round)
		io->action = rq.action;
	if (!io->data) {
		if (q->stats->zc_bad == 1)	/* counted in shmem_request(): log the first */
			bublk_log("dev %u queue %d: a request flagged SHMEM_ZC names no registered buffer of ours (addr %llx); failing it",
				  dev->info.dev_id, q->q_id, (unsigned long long)q->iods[tag].addr);
		complete_io(q, tag, -EIO);
		return;
	}
	why = bublk_answer_check(&rq, dev->max_segs);
	if (why) {
		reject(q, tag, why);
		return;
	}
	switch (rq.action) {
	case BUBLK_ACT_COMPLETE:
		complete_io(q, tag, complete_result(rq.result));
		return;
	case BUBLK_ACT_FALLBACK:
		q->stats->fallbacks++;
		n = fallback_segs(&rq, segs);
		if (n < 0) {
			complete_io(q, tag, n);
			return;
		}
		break;
	default:
		/* checked by bublk_answer_check: n <= max_segs, the room io_segs has */
		n = rq.nr_segs;
		memcpy(segs, arena_segs, n * sizeof(segs[0]));
		break;
	}
	/* validate everything (our copy, not the arena) before issuing anything */
	why = bublk_segs_check(&rq, segs, n, dev->backends, dev->nr_backends);
	if (why) {
		reject(q, tag, why);
		return;
	}
	for (int i = 0; i < n; i++)
		segs[i].result = 0;
	io->nr_segs = n;
	io->next = 0;
	io->result = 0;
	io->notify = !!rq.notify;
	/* user copy: a WRITE's data must be pulled from the kernel first */
	if (q->user_copy && !io->zc && io->op == BUBLK_OP_WRITE && io->len && !io->have_data) {
		if (queue_user_copy(q, tag, false))
			commit_io(q, tag, -EIO);
		return;
	}
	issue_stage(q, tag);
}

static struct bublk_batch queue_batch(struct bublk_queue *q, __u16 *tags, int nr)
{
	return (struct bublk_batch) {
		.reqs = (__u64)(uintptr_t)q->reqs,
		.segs = (__u64)(uintptr_t)q->segs,
		.tags = (__u64)(uintptr_t)tags,
		.scratch = (__u64)(uintptr_t)q->scratch,
		.nr = nr,
		.max_segs = q->dev->max_segs,
		.q_id = q->q_id,
		.depth = q->depth,
		.scratch_size = BUBLK_SCRATCH_SIZE,
	};
}

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
 * bublk's scatter/gather proposal (UBLK_IO_F_SHMEM_SG): iod->addr is this
 * tag's iov slot in our own arena, which the hook program filled. Trust
 * nothing in it: the slot must be this tag's, every piece inside one of
 * our registered buffers, the pieces adding up to the request.
 */
static void shmem_sg_request(struct bublk_queue *q, struct bublk_io *io, struct bublk_req *rq,
			     const struct ublksrv_io_desc *iod)
{
	struct bublk_dev *dev = q->dev;
	int tag = io - q->ios, nr;

	if (!dev->sg_hook)
		goto bad;
	nr = bublk_sg_decode(dev->target.arena, dev->sg_slots_off, bublk_sg_hook_slot_bytes(),
			     (__u32)q->q_id * q->depth + tag, iod->addr, io->len, &dev->shmem,
			     io->sg);
	if (nr <= 0)
		goto bad;
	io->nr_sg = nr;
	io->data = io->sg[0].iov_base;
	io->zc = true;
	rq->buf_kind = BUBLK_BUF_SHMEM;
	q->stats->zc_reqs++;
	q->stats->zc_sg_reqs++;
	q->stats->zc_bytes += io->len;
	return;
bad:
	q->stats->zc_bad++;
	io->data = NULL;	/* execute() fails it */
}

/*
 * A data request on a SHMEM_ZC device: flagged ones point into a client's
 * registered memory (no copy either way); the others take the device's
 * normal path. A flag naming a buffer we do not have fails the request.
 */
static void shmem_request(struct bublk_queue *q, struct bublk_io *io, struct bublk_req *rq,
			  const struct ublksrv_io_desc *iod)
{
	void *p;

	if (iod->op_flags & UBLK_IO_F_SHMEM_SG) {
		shmem_sg_request(q, io, rq, iod);
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
		io->data = NULL;	/* execute() fails it */
		return;
	}
	io->data = p;
	io->zc = true;
	rq->buf_kind = BUBLK_BUF_SHMEM;
	q->stats->zc_reqs++;
	q->stats->zc_bytes += io->len;
}

/* batch_hist bucket: 1, 2-3, 4-7, ..., 128 and more */
static int batch_bucket(int nr)
{
	int b = 31 - __builtin_clz(nr);

	return b < BUBLK_STATS_BATCH_HIST ? b : BUBLK_STATS_BATCH_HIST - 1;
}

/* describe newly fetched requests to the target, run it once, act */
static void dispatch_batch(struct bublk_queue *q)
{
	struct bublk_dev *dev = q->dev;
	/* a reload swaps this between batches */
	struct bublk_target *tgt = __atomic_load_n(&dev->current, __ATOMIC_ACQUIRE);
	struct bublk_batch batch;
	int ret;

	if (!q->nr_ready)
		return;
	for (int i = 0; i < q->nr_ready; i++) {
		int tag = q->ready[i];
		const struct ublksrv_io_desc *iod = &q->iods[tag];
		struct bublk_req *rq = &q->reqs[tag];
		struct bublk_io *io = &q->ios[tag];

		memset(rq, 0, sizeof(*rq));
		rq->tag = tag;
		rq->q_id = q->q_id;
		rq->op = ublksrv_get_op(iod);
		rq->flags = iod->op_flags & ~0xffU;
		rq->len = iod->nr_sectors << 9;
		rq->offset = iod->start_sector << 9;
		rq->buf_kind = (rq->op == BUBLK_OP_READ || rq->op == BUBLK_OP_WRITE) ?
			       (q->user_copy ? BUBLK_BUF_USER_COPY : BUBLK_BUF_COPY) :
			       BUBLK_BUF_NONE;
		io->op = rq->op;
		io->flags = rq->flags;
		io->len = rq->len;
		io->offset = rq->offset;
		io->pending = 0;
		io->result = 0;
		io->round = 0;
		io->nr_segs = 0;
		io->have_data = false;
		io->tgt = tgt;
		io->data = io->buf;
		io->zc = false;
		io->nr_sg = 0;
		if (dev->shmem_zc && (rq->op == BUBLK_OP_READ || rq->op == BUBLK_OP_WRITE))
			shmem_request(q, io, rq, iod);
	}
	/* one BPF_PROG_RUN per BUBLK_MAX_BATCH requests (depth may be 4096) */
	for (int first = 0; first < q->nr_ready; first += BUBLK_MAX_BATCH) {
		int nr = q->nr_ready - first < BUBLK_MAX_BATCH ? q->nr_ready - first : BUBLK_MAX_BATCH;

		/*
		 * The program reads the tags from the arena; we act on our own
		 * list only, so whatever it writes there touches nothing of ours.
		 */
		memcpy(q->tags, q->ready + first, nr * sizeof(q->tags[0]));
		batch = queue_batch(q, q->tags, nr);
		q->stats->batches++;
		q->stats->batch_reqs += nr;
		q->stats->batch_hist[batch_bucket(nr)]++;
		/* --dispatch=c: the target's C twin, the reference for what BPF costs */
		ret = dev->cmap.map ? bublk_cmap_dispatch(&dev->cmap, &batch) :
				      bublk_target_dispatch(tgt, &batch);
		if (ret && !q->stats->bpf_errors++)
			bublk_log("dev %u queue %d: BPF dispatch failed: %s; failing the batch with EIO",
				  dev->info.dev_id, q->q_id, strerror(ret < 0 ? -ret : EIO));
		for (int i = first; i < first + nr; i++) {
			if (ret)
				complete_io(q, q->ready[i], -EIO);
			else
				execute(q, q->ready[i]);
		}
	}
	q->nr_ready = 0;
}

/*
 * Run bublk_done over every request waiting for it: show it what ran and
 * how each segment ended, then act on its answer (finish, or a new round).
 * A request still going after BUBLK_MAX_ROUNDS fails with EIO.
 */
static void done_batch(struct bublk_queue *q)
{
	__u16 tags[UBLK_MAX_QUEUE_DEPTH];

	while (q->nr_done) {
		struct bublk_target *tgt = q->ios[q->done[0]].tgt;
		struct bublk_batch batch;
		int nr = 0, later = 0, ret;

		for (int i = 0; i < q->nr_done; i++) {
			int tag = q->done[i];
			struct bublk_io *io = &q->ios[tag];
			struct bublk_req *rq = &q->reqs[tag];

			/* after a reload: one target per run, the others next time round */
			if (io->tgt != tgt) {
				q->done[later++] = tag;
				continue;
			}
			if (++io->round > BUBLK_MAX_ROUNDS) {
				reject(q, tag, BUBLK_REJ_ROUNDS);
				continue;
			}
			rq->tag = tag;
			rq->q_id = q->q_id;
			rq->op = io->op;
			rq->flags = io->flags;
			rq->len = io->len;
			rq->offset = io->offset;
			rq->round = io->round;
			rq->result = io->result;
			rq->nr_segs = io->nr_segs;
			rq->action = BUBLK_ACT_NONE;
			rq->notify = 0;
			memcpy(q->segs + (size_t)tag * q->dev->max_segs, io_segs(q, tag),
			       io->nr_segs * sizeof(struct bublk_seg));
			tags[nr++] = tag;
		}
		q->nr_done = later;
		if (!nr)
			continue;
		/* answers may queue more bublk_done work: it goes after this list */
		for (int first = 0; first < nr; first += BUBLK_MAX_BATCH) {
			int n = nr - first < BUBLK_MAX_BATCH ? nr - first : BUBLK_MAX_BATCH;

			/* the program's copy of the tags; we act on tags[] */
			memcpy(q->done_tags, tags + first, n * sizeof(tags[0]));
			batch = queue_batch(q, q->done_tags, n);
			q->stats->done_batches++;
			ret = bublk_target_done(tgt, &batch);
			if (ret && !q->stats->bpf_errors++)
				bublk_log("dev %u queue %d: BPF bublk_done failed: %s; failing its requests with EIO",
					  q->dev->info.dev_id, q->q_id, strerror(ret < 0 ? -ret : EIO));
			for (int i = first; i < first + n; i++) {
				if (ret)
					complete_io(q, tags[i], -EIO);
				else
					execute(q, tags[i]);
			}
		}
	}
}

/*
 * A filesystem without FALLOC_FL_ZERO_RANGE: from now on WRITE_ZEROES on
 * that backend punches a hole (it reads as zeros just the same), starting
 * with this segment, queued again. true when it was.
 */
static bool zero_range_unsupported(struct bublk_queue *q, int tag, unsigned int i)
{
	const struct bublk_seg *s = &io_segs(q, tag)[i];
	struct bublk_backend *b = &q->dev->backends[s->backend];

	if (s->op != BUBLK_SEG_WRITE_ZEROES || __atomic_load_n(&b->zero_by_punch, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(&b->zero_by_punch, true, __ATOMIC_RELAXED);
	bublk_log("dev %u: %s cannot zero a range in place; write-zeroes punches holes there",
		  q->dev->info.dev_id, b->path);
	q->ios[tag].pending--;	/* this completion; queue_seg counts the new one */
	return queue_seg(q, tag, i) == 0 || (q->ios[tag].pending++, false);
}

static void handle_cqe(struct bublk_queue *q, const struct io_uring_cqe *cqe)
{
	__u64 ud = cqe->user_data;
	int tag = ud_tag(ud);
	struct bublk_io *io;

	switch (ud_kind(ud)) {
	case UD_UBLK:
		if (cqe->res == UBLK_IO_RES_OK) {
			if (tag < q->depth && q->nr_ready < q->depth)
				q->ready[q->nr_ready++] = tag;
		} else if (cqe->res < 0 && bublk_queue_cmd_gone(q, tag, cqe->res)) {
			/* bublk quiesce: counted; the queue leaves when all are back */
		} else if (cqe->res != UBLK_IO_RES_ABORT) {
			bublk_log("dev %u queue %d tag %d: ublk command failed: %s",
				  q->dev->info.dev_id, q->q_id, tag, strerror(-cqe->res));
		}
		break;
	case UD_BACKEND: {
		int res = cqe->res;

		io = &q->ios[tag];
		if (res == -ETIME && io_segs(q, tag)[ud_seg(ud)].op == BUBLK_SEG_DELAY)
			res = 0;	/* the delay ran its course */
		else if (res >= 0 && (__u32)res != ud_expect(ud))
			res = -EIO;	/* short transfer inside the backend's range */
		else if (res > 0)
			res = 0;
		if (res == -EOPNOTSUPP && zero_range_unsupported(q, tag, ud_seg(ud)))
			break;	/* queued again, as a hole punch */
		io_segs(q, tag)[ud_seg(ud)].result = res;
		if (res < 0 && !io->result)
			io->result = res;
		if (--io->pending == 0)
			issue_stage(q, tag);	/* the next stage, or the end */
		break;
	}
	case UD_UC_IN:
		if (cqe->res != (int)ud_expect(ud)) {
			commit_io(q, tag, cqe->res < 0 ? cqe->res : -EIO);
		} else {
			q->ios[tag].have_data = true;
			issue_stage(q, tag);
		}
		break;
	case UD_UC_OUT:
		commit_io(q, tag, cqe->res == (int)ud_expect(ud) ? 0 : (cqe->res < 0 ? cqe->res : -EIO));
		break;
	case UD_STOP:
		q->stopping = true;
		break;
	}
}

static int queue_setup(struct bublk_queue *q)
{
	struct bublk_dev *dev = q->dev;
	struct io_uring_params p = { 0 };
	int files[1 + BUBLK_MAX_BACKENDS];
	unsigned int entries = q->depth * 2;
	int ret;

	p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
		  IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
	p.cq_entries = entries * 4;
	ret = io_uring_queue_init_params(entries, &q->ring, &p);
	if (ret) {
		bublk_log("dev %u queue %d: io_uring setup: %s", dev->info.dev_id, q->q_id,
			  strerror(-ret));
		return ret;
	}
	q->ring_ready = true;
	files[0] = dev->cdev_fd;
	for (int i = 0; i < dev->nr_backends; i++)
		files[1 + i] = dev->backends[i].fd;
	ret = io_uring_register_files(&q->ring, files, 1 + dev->nr_backends);
	if (ret) {
		bublk_log("dev %u queue %d: registering files: %s", dev->info.dev_id, q->q_id,
			  strerror(-ret));
		return ret;
	}
	q->iods_bytes = (q->depth * sizeof(struct ublksrv_io_desc) + BUBLK_PAGE_SIZE - 1) &
			~((size_t)BUBLK_PAGE_SIZE - 1);
	q->iods = mmap(NULL, q->iods_bytes, PROT_READ, MAP_SHARED | MAP_POPULATE,
		       dev->cdev_fd, iods_offset(q->q_id));
	if (q->iods == MAP_FAILED) {
		ret = -errno;
		q->iods = NULL;
		bublk_log("dev %u queue %d: mmap of the request descriptors: %s",
			  dev->info.dev_id, q->q_id, strerror(errno));
		return ret;
	}
	/* a read on the stop eventfd completes when the device is going away */
	{
		struct io_uring_sqe *sqe = get_sqe(q);

		io_uring_prep_poll_add(sqe, q->stop_fd, POLLIN);
		sqe->user_data = ud_make(UD_STOP, 0, 0);
	}
	for (int tag = 0; tag < q->depth; tag++) {
		ret = queue_ublk_cmd(q, tag, false, -1);
		if (ret)
			return ret;
	}
	ret = io_uring_submit(&q->ring);
	return ret < 0 ? ret : 0;
}

static void *queue_thread(void *arg)
{
	struct bublk_queue *q = arg;
	struct io_uring_cqe *cqe;
	unsigned int head, n;

	if (CPU_COUNT(&q->cpus))
		pthread_setaffinity_np(pthread_self(), sizeof(q->cpus), &q->cpus);
	q->start_err = queue_setup(q);
	sem_post(&q->started);
	if (q->start_err)
		return NULL;

	while (!q->stopping) {
		int ret = io_uring_submit_and_wait(&q->ring, 1);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			bublk_log("dev %u queue %d: io_uring wait: %s", q->dev->info.dev_id,
				  q->q_id, strerror(-ret));
			break;
		}
		n = 0;
		io_uring_for_each_cqe(&q->ring, head, cqe) {
			handle_cqe(q, cqe);
			n++;
		}
		io_uring_cq_advance(&q->ring, n);
		dispatch_batch(q);
		done_batch(q);
	}
	return NULL;
}

/* free what bublk_queue_start allocated; the thread is gone (or never was) */
static void queue_release(struct bublk_queue *q)
{
	/* exiting the ring cancels the FETCH commands the kernel still holds */
	if (q->ring_ready)
		io_uring_queue_exit(&q->ring);
	q->ring_ready = false;
	if (q->iods)
		munmap(q->iods, q->iods_bytes);
	q->iods = NULL;
	if (q->ios) {
		for (int t = 0; t < q->depth; t++) {
			free(q->ios[t].buf);
			free(q->ios[t].sg);
			free(q->ios[t].seg_iov);
		}
	}
	free(q->ios);
	free(q->io_segs);
	free(q->ready);
	free(q->done);
	q->ios = NULL;
	q->io_segs = NULL;
	q->ready = NULL;
	q->done = NULL;
	if (q->stop_fd >= 0)
		close(q->stop_fd);
	q->stop_fd = -1;
}

static int queue_alloc(struct bublk_dev *dev, struct bublk_queue *q)
{
	size_t depth = q->depth;

	q->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (q->stop_fd < 0)
		return -errno;
	q->ios = calloc(depth, sizeof(*q->ios));
	q->io_segs = calloc(depth * dev->max_segs, sizeof(*q->io_segs));
	q->ready = calloc(depth, sizeof(*q->ready));
	q->done = calloc(depth, sizeof(*q->done));
	if (!q->ios || !q->io_segs || !q->ready || !q->done)
		return -ENOMEM;
	for (size_t t = 0; t < depth; t++) {
		if (posix_memalign(&q->ios[t].buf, BUBLK_PAGE_SIZE, dev->info.max_io_buf_bytes)) {
			q->ios[t].buf = NULL;
			return -ENOMEM;
		}
		if (!dev->shmem_zc)
			continue;
		/* scattered shared memory: the pieces and each segment's iovecs */
		q->ios[t].sg = calloc(BUBLK_SG_MAX_PIECES, sizeof(struct iovec));
		q->ios[t].seg_iov = calloc((size_t)dev->max_segs * BUBLK_SG_MAX_PIECES,
					   sizeof(struct iovec));
		if (!q->ios[t].sg || !q->ios[t].seg_iov)
			return -ENOMEM;
	}
	return 0;
}

int bublk_queue_start(struct bublk_dev *dev, struct bublk_queue *q, int q_id)
{
	int ret;

	q->dev = dev;
	q->q_id = q_id;
	q->depth = dev->info.queue_depth;
	q->user_copy = !!(dev->info.flags & UBLK_F_USER_COPY);
	q->thread_started = false;
	q->ring_ready = false;
	q->stop_fd = -1;
	q->nr_ready = 0;
	q->nr_done = 0;
	ret = queue_alloc(dev, q);
	if (ret)
		goto fail;
	sem_init(&q->started, 0, 0);
	ret = pthread_create(&q->thread, NULL, queue_thread, q);
	if (ret) {
		ret = -ret;
		goto fail;
	}
	sem_wait(&q->started);
	ret = q->start_err;
	if (ret) {
		/* the thread has returned already: collect it */
		pthread_join(q->thread, NULL);
		goto fail;
	}
	q->thread_started = true;
	return 0;
fail:
	queue_release(q);
	return ret;
}

void bublk_queue_stop(struct bublk_queue *q)
{
	__u64 one = 1;

	if (!q->thread_started)
		return;		/* never started, or its start undid itself */
	if (write(q->stop_fd, &one, sizeof(one)) < 0)
		bublk_log("queue %d: stop signal: %s", q->q_id, strerror(errno));
	pthread_join(q->thread, NULL);
	q->thread_started = false;
	queue_release(q);
}

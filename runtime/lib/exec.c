// SPDX-License-Identifier: MIT
/*
 * A target's answer for one request, carried out: checked (seg.c), then
 * its segments issued stage by stage as SQEs on the queue's ring, each
 * stage once the one before has completed. Where the request's data lives
 * is the data mode's business (struct bublk_data_ops); everything else
 * about a segment is the same for every mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "queue.h"

/* registered-file index of backend i: 0 is the ublk char device */
static inline int backend_slot(unsigned int backend)
{
	return 1 + backend;
}

/* queue segment i of a request on its backend (validated before) */
static int queue_seg(struct bublk_queue *q, int tag, int i)
{
	struct bublk_io *io = &q->ios[tag];
	const struct bublk_seg *s = &io_segs(q, tag)[i];
	/* a segment on the target's scratch: the same in every data mode */
	char *scratch = (char *)q->scratch + (size_t)tag * BUBLK_SCRATCH_SIZE + s->data_off;
	bool arena = s->flags & BUBLK_SEG_F_ARENA;
	int fd = backend_slot(s->backend);
	struct io_uring_sqe *sqe;
	__u32 expect = 0;

	/* an NBD export: a command on this queue's connection, not an SQE */
	if (s->op != BUBLK_SEG_DELAY && q->dev->backends[s->backend].nbd) {
		bublk_nbd_queue_seg(q, tag, i);
		return 0;
	}
	sqe = bublk_get_sqe(q);
	if (!sqe)
		return -EBUSY;
	switch (s->op) {
	case BUBLK_SEG_READ:
		if (arena)
			io_uring_prep_read(sqe, fd, scratch, s->len, s->backend_off);
		else
			io->ops->prep_rw(sqe, q, tag, i, fd);
		expect = s->len;
		break;
	case BUBLK_SEG_WRITE:
		if (arena)
			io_uring_prep_write(sqe, fd, scratch, s->len, s->backend_off);
		else
			io->ops->prep_rw(sqe, q, tag, i, fd);
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
		/* no file, but a restricted ring wants the flag on every SQE */
		if (q->restricted)
			sqe->flags |= IOSQE_FIXED_FILE;
		sqe->user_data = ud_make_seg(tag, i, 0);
		io->pending++;
		return 0;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = ud_make_seg(tag, i, expect);
	io->pending++;
	bublk_stats_seg(q, tag);
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

void bublk_reject(struct bublk_queue *q, int tag, enum bublk_reject why)
{
	const struct bublk_io *io = &q->ios[tag];

	if (!q->stats->rejects[why & (BUBLK_STATS_REJECTS - 1)]++)
		bublk_log("dev %u queue %d: target answer refused (%s) for op %u at %llu+%u; failing such requests with EIO",
			  q->dev->info.dev_id, q->q_id, bublk_reject_name(why), io->op,
			  (unsigned long long)io->offset, io->len);
	bublk_complete_io(q, tag, -EIO);
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
	bublk_complete_io(q, tag, io->result);
}

/* segment s ended with err: the request's result is its first error */
static void seg_failed(struct bublk_io *io, struct bublk_seg *s, int err)
{
	s->result = err;
	if (!io->result)
		io->result = err;
}

/*
 * Issue the next stage: every segment with the stage number of the first
 * one not yet issued. The mode zeroes a ZERO_FILL's range here and now
 * (or queues that); a stage made only of those is finished at once and the
 * next one follows.
 */
void bublk_issue_stage(struct bublk_queue *q, int tag)
{
	struct bublk_io *io = &q->ios[tag];
	struct bublk_seg *segs = io_segs(q, tag);

	while (!io->pending) {
		int stage, ret;

		if (io->result || io->next >= io->nr_segs) {
			segs_finished(q, tag);
			return;
		}
		stage = segs[io->next].stage;
		for (; io->next < io->nr_segs && segs[io->next].stage == stage; io->next++) {
			struct bublk_seg *s = &segs[io->next];

			if (s->op == BUBLK_SEG_ZERO_FILL) {
				ret = io->ops->zero_fill(q, tag, io->next);
				if (ret < 0)
					seg_failed(io, s, ret);
				else if (!ret)
					s->result = 0;
			} else if (queue_seg(q, tag, io->next)) {
				seg_failed(io, s, -EIO);
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

	/* an NBD server without WRITE_ZEROES: no hole punching to fall back on */
	if (s->op != BUBLK_SEG_WRITE_ZEROES || b->nbd ||
	    __atomic_load_n(&b->zero_by_punch, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(&b->zero_by_punch, true, __ATOMIC_RELAXED);
	bublk_log("dev %u: %s cannot zero a range in place; write-zeroes punches holes there",
		  q->dev->info.dev_id, b->path);
	/* this completion is over; queue_seg counts the new one */
	q->ios[tag].pending--;
	if (queue_seg(q, tag, i)) {
		q->ios[tag].pending++;	/* not queued: this completion stands */
		return false;
	}
	return true;
}

/* the CQE of segment i of tag: res as the CQE had it, expect from its user_data */
void bublk_seg_done(struct bublk_queue *q, int tag, unsigned int i, int res, __u32 expect)
{
	struct bublk_io *io = &q->ios[tag];
	int err;

	if (res == -ETIME && io_segs(q, tag)[i].op == BUBLK_SEG_DELAY)
		err = 0;	/* the delay ran its course */
	else
		err = cqe_err(res, expect);
	if (err == -EOPNOTSUPP && zero_range_unsupported(q, tag, i))
		return;	/* queued again, as a hole punch */
	io_segs(q, tag)[i].result = err;
	if (err < 0 && !io->result)
		io->result = err;
	if (--io->pending == 0)
		bublk_issue_stage(q, tag);	/* the next stage, or the end */
}

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
void bublk_execute(struct bublk_queue *q, int tag)
{
	struct bublk_dev *dev = q->dev;
	struct bublk_io *io = &q->ios[tag];
	const struct bublk_req *arq = &q->reqs[tag];
	const struct bublk_seg *arena_segs = q->segs + (size_t)tag * dev->max_segs;
	struct bublk_seg *segs = io_segs(q, tag);
	struct bublk_req rq;
	enum bublk_reject why;
	int n;

	bublk_req_from_io(&rq, q, tag);
	rq.result = ARENA_READ(arq->result);
	rq.nr_segs = ARENA_READ(arq->nr_segs);
	rq.action = ARENA_READ(arq->action);
	rq.notify = ARENA_READ(arq->notify);
	if (!io->round)
		io->action = rq.action;
	if (io->bad_buf) {
		if (q->stats->zc_bad == 1)	/* counted in mode_shmem.c: log the first */
			bublk_log("dev %u queue %d: a request flagged SHMEM_ZC names no registered buffer of ours (addr %llx); failing it",
				  dev->info.dev_id, q->q_id, (unsigned long long)bublk_iod(q, tag)->addr);
		bublk_complete_io(q, tag, -EIO);
		return;
	}
	why = bublk_answer_check(&rq, dev->max_segs);
	if (why) {
		bublk_reject(q, tag, why);
		return;
	}
	switch (rq.action) {
	case BUBLK_ACT_COMPLETE:
		bublk_complete_io(q, tag, complete_result(rq.result));
		return;
	case BUBLK_ACT_FALLBACK:
		q->stats->fallbacks++;
		n = fallback_segs(&rq, segs);
		if (n < 0) {
			bublk_complete_io(q, tag, n);
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
		bublk_reject(q, tag, why);
		return;
	}
	for (int i = 0; i < n; i++)
		segs[i].result = 0;
	io->nr_segs = n;
	io->next = 0;
	io->result = 0;
	io->notify = !!rq.notify;
	/* the mode may need the data first (user copy: a WRITE's, from the kernel) */
	if (!io->have_data && io->ops->before_exec) {
		int ret = io->ops->before_exec(q, tag);

		if (ret < 0) {
			bublk_commit_io(q, tag, ret);
			return;
		}
		if (ret > 0)
			return;	/* the stages follow its completion (queue.c) */
	}
	bublk_issue_stage(q, tag);
}

// SPDX-License-Identifier: MIT
/*
 * The target's programs over batches of requests: bublk_dispatch (or its
 * C twin) over the newly fetched ones, bublk_done over those whose
 * segments finished when the target asked to see them. The request slots
 * they read are written here only, from the runtime's own record.
 */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "queue.h"

/* the bits of op_flags above the op: BUBLK_REQ_F_* */
#define IOD_OP_MASK	0xffU

/*
 * Fill the arena slot the target reads for tag (rq) from the runtime's own
 * record: the only writer of a struct bublk_req on the C side. The answer
 * fields start out empty.
 */
void bublk_req_from_io(struct bublk_req *rq, const struct bublk_queue *q, int tag)
{
	const struct bublk_io *io = &q->ios[tag];

	memset(rq, 0, sizeof(*rq));
	rq->tag = tag;
	rq->q_id = q->q_id;
	rq->op = io->op;
	rq->flags = io->flags;
	rq->len = io->len;
	rq->offset = io->offset;
	rq->buf_kind = (io->op == BUBLK_OP_READ || io->op == BUBLK_OP_WRITE) ?
		       io->ops->buf_kind : BUBLK_BUF_NONE;
	rq->round = io->round;
	rq->result = io->result;
	rq->nr_segs = io->nr_segs;
}

/* a newly fetched request: our record of it, from the kernel's descriptor */
static void io_begin(struct bublk_queue *q, int tag, struct bublk_target *tgt)
{
	const struct ublksrv_io_desc *iod = bublk_iod(q, tag);
	struct bublk_io *io = &q->ios[tag];

	io->op = ublksrv_get_op(iod);
	io->flags = iod->op_flags & ~IOD_OP_MASK;
	io->len = iod->nr_sectors << 9;
	io->offset = iod->start_sector << 9;
	io->pending = 0;
	io->result = 0;
	io->round = 0;
	io->nr_segs = 0;
	io->have_data = false;
	io->bad_buf = false;
	io->tgt = tgt;
	io->data = io->buf;
	io->ops = q->ops;
	io->registered = false;
	/* the driver could not register its buffer: we do it (mode_zero_copy.c) */
	if ((iod->op_flags & UBLK_IO_F_NEED_REG_BUF) && q->ops == &bublk_mode_zero_copy)
		io->ops = &bublk_mode_zero_copy_fallback;
	io->nr_sg = 0;
	/* its data may be a client's memory instead: that request's own mode */
	if (q->dev->shmem_zc && (io->op == BUBLK_OP_READ || io->op == BUBLK_OP_WRITE))
		bublk_shmem_request(q, tag, iod);
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

int bublk_dispatch_bpf(struct bublk_dev *dev, struct bublk_target *tgt, struct bublk_batch *batch)
{
	(void)dev;
	return bublk_target_dispatch(tgt, batch);
}

/* --dispatch=c: the target's C twin, the reference for what BPF costs */
int bublk_dispatch_c(struct bublk_dev *dev, struct bublk_target *tgt, struct bublk_batch *batch)
{
	(void)tgt;
	return bublk_cmap_dispatch(&dev->cmap, batch);
}

static int run_dispatch(struct bublk_queue *q, struct bublk_target *tgt, struct bublk_batch *batch)
{
	bublk_stats_batch(q, batch->nr);
	return q->dev->dispatch(q->dev, tgt, batch);
}

static int run_done(struct bublk_queue *q, struct bublk_target *tgt, struct bublk_batch *batch)
{
	q->stats->done_batches++;
	return bublk_target_done(tgt, batch);
}

/* one of the target's programs, as run_batches runs it */
struct batch_prog {
	int		(*run)(struct bublk_queue *q, struct bublk_target *tgt,
			       struct bublk_batch *batch);
	const char	*name;		/* for the log */
	const char	*failing;	/* what a failed run fails */
};

static const struct batch_prog dispatch_prog = { run_dispatch, "dispatch", "the batch" };
static const struct batch_prog done_prog = { run_done, "bublk_done", "its requests" };

/*
 * Run prog over tags[0..nr), BUBLK_MAX_BATCH at a time (depth may be
 * 4096), then act on each answer; a failed run fails its requests with
 * EIO. The program reads its copy of the tags in the arena (arena_tags);
 * we act on our own list only, so whatever it writes there touches nothing
 * of ours.
 */
static void run_batches(struct bublk_queue *q, struct bublk_target *tgt,
			const struct batch_prog *prog, __u16 *arena_tags, const __u16 *tags, int nr)
{
	for (int first = 0; first < nr; first += BUBLK_MAX_BATCH) {
		int n = nr - first < BUBLK_MAX_BATCH ? nr - first : BUBLK_MAX_BATCH;
		struct bublk_batch batch;
		int ret;

		memcpy(arena_tags, tags + first, n * sizeof(tags[0]));
		batch = queue_batch(q, arena_tags, n);
		ret = prog->run(q, tgt, &batch);
		if (ret && !q->stats->bpf_errors++)
			bublk_log("dev %u queue %d: BPF %s failed: %s; failing %s with EIO",
				  q->dev->info.dev_id, q->q_id, prog->name,
				  strerror(ret < 0 ? -ret : EIO), prog->failing);
		for (int i = first; i < first + n; i++) {
			if (ret)
				bublk_complete_io(q, tags[i], -EIO);
			else
				bublk_execute(q, tags[i]);
		}
	}
}

/* describe newly fetched requests to the target, run it once, act */
void bublk_dispatch_batch(struct bublk_queue *q)
{
	/* a reload swaps this between batches */
	struct bublk_target *tgt = __atomic_load_n(&q->dev->current, __ATOMIC_ACQUIRE);

	if (!q->nr_ready)
		return;
	for (int i = 0; i < q->nr_ready; i++) {
		int tag = q->ready[i];

		io_begin(q, tag, tgt);
		bublk_req_from_io(&q->reqs[tag], q, tag);
	}
	run_batches(q, tgt, &dispatch_prog, q->tags, q->ready, q->nr_ready);
	q->nr_ready = 0;
}

/*
 * The kernel engine ran the target on tag's request and parked its answer
 * (engine.bpf.h): our record of the request from its descriptor, then the
 * answer checked and carried out as any other. The arena slot is left as
 * the engine wrote it.
 */
void bublk_dispatch_answered(struct bublk_queue *q, int tag)
{
	if (tag >= q->depth)
		return;
	io_begin(q, tag, __atomic_load_n(&q->dev->current, __ATOMIC_ACQUIRE));
	bublk_execute(q, tag);
}

/*
 * Run bublk_done over every request waiting for it: show it what ran and
 * how each segment ended, then act on its answer (finish, or a new round).
 * A request still going after BUBLK_MAX_ROUNDS fails with EIO.
 */
void bublk_done_batch(struct bublk_queue *q)
{
	__u16 tags[UBLK_MAX_QUEUE_DEPTH];

	while (q->nr_done) {
		struct bublk_target *tgt = q->ios[q->done[0]].tgt;
		int nr = 0, later = 0;

		for (int i = 0; i < q->nr_done; i++) {
			int tag = q->done[i];
			struct bublk_io *io = &q->ios[tag];

			/* after a reload: one target per run, the others next time round */
			if (io->tgt != tgt) {
				q->done[later++] = tag;
				continue;
			}
			if (++io->round > BUBLK_MAX_ROUNDS) {
				bublk_reject(q, tag, BUBLK_REJ_ROUNDS);
				continue;
			}
			bublk_req_from_io(&q->reqs[tag], q, tag);
			memcpy(q->segs + (size_t)tag * q->dev->max_segs, io_segs(q, tag),
			       io->nr_segs * sizeof(struct bublk_seg));
			tags[nr++] = tag;
		}
		q->nr_done = later;
		/* answers may queue more bublk_done work: it goes after this list */
		run_batches(q, tgt, &done_prog, q->done_tags, tags, nr);
	}
}

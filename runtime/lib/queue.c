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

#include "dev.h"
#include "log.h"

/* user_data: kind in bits 56-63, tag in 40-55, expected result in 0-31 */
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
static inline unsigned int ud_kind(__u64 ud) { return ud >> 56; }
static inline unsigned int ud_tag(__u64 ud) { return (ud >> 40) & 0xffff; }
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

	if (!err && q->user_copy && io->op == BUBLK_OP_READ && io->len &&
	    !queue_user_copy(q, tag, true))
		return;
	commit_io(q, tag, err);
}

static void commit_io(struct bublk_queue *q, int tag, int err)
{
	struct bublk_io *io = &q->ios[tag];
	int res;

	if (err < 0) {
		res = err;
		q->stats.errors++;
	} else if (io->op == BUBLK_OP_READ || io->op == BUBLK_OP_WRITE) {
		res = io->len;
		q->stats.bytes += io->len;
	} else {
		res = 0;
	}
	q->stats.reqs++;
	queue_ublk_cmd(q, tag, true, res);
}

/* registered-file index of backend i: 0 is the ublk char device */
static inline int backend_slot(unsigned int backend)
{
	return 1 + backend;
}

static int queue_seg(struct bublk_queue *q, int tag, __u32 req_flags,
		     const struct bublk_seg *s)
{
	struct io_uring_sqe *sqe = get_sqe(q);
	char *data = (char *)q->ios[tag].buf + s->data_off;
	int fd = backend_slot(s->backend);
	__u32 expect = 0;

	if (!sqe)
		return -EBUSY;
	switch (s->op) {
	case BUBLK_SEG_READ:
		io_uring_prep_read(sqe, fd, data, s->len, s->backend_off);
		expect = s->len;
		break;
	case BUBLK_SEG_WRITE:
		io_uring_prep_write(sqe, fd, data, s->len, s->backend_off);
		/* FUA: this write is durable when it completes */
		if (req_flags & BUBLK_REQ_F_FUA)
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
		io_uring_prep_fallocate(sqe, fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
					s->backend_off, s->len);
		break;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = ud_make(UD_BACKEND, tag, expect);
	q->ios[tag].pending++;
	q->stats.segs++;
	return 0;
}

/* the runtime's own C mapping: identity onto backend 0 (the loop mapping) */
static int fallback_segs(const struct bublk_req *rq, struct bublk_seg *s)
{
	memset(s, 0, sizeof(*s));
	s->backend = 0;
	s->backend_off = rq->offset;
	s->len = rq->len;
	switch (rq->op) {
	case BUBLK_OP_READ:		s->op = BUBLK_SEG_READ; break;
	case BUBLK_OP_WRITE:		s->op = BUBLK_SEG_WRITE; break;
	case BUBLK_OP_FLUSH:		s->op = BUBLK_SEG_FLUSH; break;
	case BUBLK_OP_DISCARD:		s->op = BUBLK_SEG_DISCARD; break;
	case BUBLK_OP_WRITE_ZEROES:	s->op = BUBLK_SEG_WRITE_ZEROES; break;
	default:			return -EOPNOTSUPP;
	}
	return 1;
}

static void reject(struct bublk_queue *q, int tag, enum bublk_reject why)
{
	const struct bublk_req *rq = &q->reqs[tag];

	if (!q->stats.rejects[why]++)
		bublk_log("dev %u queue %d: target answer refused (%s) for op %u at %llu+%u; failing such requests with EIO",
			  q->dev->info.dev_id, q->q_id, bublk_reject_name(why), rq->op,
			  (unsigned long long)rq->offset, rq->len);
	complete_io(q, tag, -EIO);
}

/* issue a request's validated segments */
static void issue_segs(struct bublk_queue *q, int tag)
{
	struct bublk_io *io = &q->ios[tag];
	const struct bublk_seg *segs = q->io_segs + (size_t)tag * q->dev->max_segs;

	io->result = 0;
	for (int i = 0; i < io->nr_segs; i++) {
		if (queue_seg(q, tag, io->flags, &segs[i])) {
			io->result = -EIO;
			if (!io->pending)
				commit_io(q, tag, -EIO);
			return;
		}
	}
}

/* act on what the target decided for one request */
static void execute(struct bublk_queue *q, int tag)
{
	struct bublk_dev *dev = q->dev;
	struct bublk_req rq = q->reqs[tag];	/* one read of the arena */
	struct bublk_seg local[BUBLK_MAX_SEGS];
	const struct bublk_seg *arena_segs = q->segs + (size_t)tag * dev->max_segs;
	enum bublk_reject why;
	int n;

	why = bublk_answer_check(&rq, dev->max_segs);
	if (why) {
		reject(q, tag, why);
		return;
	}
	switch (rq.action) {
	case BUBLK_ACT_COMPLETE:
		complete_io(q, tag, rq.result < 0 ? rq.result : 0);
		return;
	case BUBLK_ACT_FALLBACK:
		q->stats.fallbacks++;
		n = fallback_segs(&rq, local);
		if (n < 0) {
			complete_io(q, tag, n);
			return;
		}
		break;
	default:
		n = rq.nr_segs;
		memcpy(local, arena_segs, n * sizeof(local[0]));
		break;
	}
	/* validate everything before issuing anything */
	for (int i = 0; i < n; i++) {
		why = bublk_seg_check(&rq, &local[i], dev->backends, dev->nr_backends);
		if (why) {
			reject(q, tag, why);
			return;
		}
	}
	if (!n) {
		complete_io(q, tag, 0);
		return;
	}
	memcpy(q->io_segs + (size_t)tag * dev->max_segs, local, n * sizeof(local[0]));
	q->ios[tag].nr_segs = n;
	q->ios[tag].flags = rq.flags;
	/* user copy: a WRITE's data must be pulled from the kernel first */
	if (q->user_copy && rq.op == BUBLK_OP_WRITE && rq.len) {
		if (queue_user_copy(q, tag, false))
			commit_io(q, tag, -EIO);
		return;
	}
	issue_segs(q, tag);
}

/* describe newly fetched requests to the target, run it once, act */
static void dispatch_batch(struct bublk_queue *q)
{
	struct bublk_dev *dev = q->dev;
	struct bublk_batch batch = {
		.reqs = (__u64)(uintptr_t)q->reqs,
		.segs = (__u64)(uintptr_t)q->segs,
		.tags = (__u64)(uintptr_t)q->tags,
		.nr = q->nr_ready,
		.max_segs = dev->max_segs,
		.q_id = q->q_id,
		.depth = q->depth,
	};
	int ret;

	if (!q->nr_ready)
		return;
	for (int i = 0; i < q->nr_ready; i++) {
		int tag = q->tags[i];
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
		io->len = rq->len;
		io->pending = 0;
		io->result = 0;
	}
	q->stats.batches++;
	ret = dev->cmap.map ? bublk_cmap_dispatch(&dev->cmap, &batch) :
			      bublk_target_dispatch(&dev->target, &batch);
	if (ret) {
		if (!q->stats.dispatch_errors++)
			bublk_log("dev %u queue %d: BPF dispatch failed: %s; failing the batch with EIO",
				  dev->info.dev_id, q->q_id, strerror(ret < 0 ? -ret : EIO));
		for (int i = 0; i < q->nr_ready; i++)
			complete_io(q, q->tags[i], -EIO);
	} else {
		for (int i = 0; i < q->nr_ready; i++)
			execute(q, q->tags[i]);
	}
	q->nr_ready = 0;
}

static void handle_cqe(struct bublk_queue *q, const struct io_uring_cqe *cqe)
{
	__u64 ud = cqe->user_data;
	int tag = ud_tag(ud);
	struct bublk_io *io;

	switch (ud_kind(ud)) {
	case UD_UBLK:
		if (cqe->res == UBLK_IO_RES_OK) {
			if (tag < q->depth)
				q->tags[q->nr_ready++] = tag;
		} else if (cqe->res != UBLK_IO_RES_ABORT) {
			bublk_log("dev %u queue %d tag %d: ublk command failed: %s",
				  q->dev->info.dev_id, q->q_id, tag, strerror(-cqe->res));
		}
		break;
	case UD_BACKEND:
		io = &q->ios[tag];
		if (cqe->res < 0) {
			if (!io->result)
				io->result = cqe->res;
		} else if ((__u32)cqe->res != ud_expect(ud) && !io->result) {
			io->result = -EIO;	/* short transfer inside the backend's range */
		}
		if (--io->pending == 0)
			complete_io(q, tag, io->result);
		break;
	case UD_UC_IN:
		if (cqe->res != (int)ud_expect(ud))
			commit_io(q, tag, cqe->res < 0 ? cqe->res : -EIO);
		else
			issue_segs(q, tag);
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
	}
	return NULL;
}

int bublk_queue_start(struct bublk_dev *dev, struct bublk_queue *q, int q_id)
{
	size_t depth = dev->info.queue_depth;
	int ret;

	q->dev = dev;
	q->q_id = q_id;
	q->depth = depth;
	q->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (q->stop_fd < 0)
		return -errno;
	q->user_copy = !!(dev->info.flags & UBLK_F_USER_COPY);
	q->ios = calloc(depth, sizeof(*q->ios));
	q->io_segs = calloc(depth * dev->max_segs, sizeof(*q->io_segs));
	if (!q->ios || !q->io_segs)
		return -ENOMEM;
	for (size_t t = 0; t < depth; t++) {
		if (posix_memalign(&q->ios[t].buf, BUBLK_PAGE_SIZE, dev->info.max_io_buf_bytes))
			return -ENOMEM;
	}
	sem_init(&q->started, 0, 0);
	ret = pthread_create(&q->thread, NULL, queue_thread, q);
	if (ret)
		return -ret;
	sem_wait(&q->started);
	return q->start_err;
}

void bublk_queue_stop(struct bublk_queue *q)
{
	__u64 one = 1;

	if (!q->ios)
		return;
	if (q->stop_fd >= 0 && write(q->stop_fd, &one, sizeof(one)) < 0)
		bublk_log("queue %d: stop signal: %s", q->q_id, strerror(errno));
	pthread_join(q->thread, NULL);
	/* exiting the ring cancels the FETCH commands the kernel still holds */
	if (q->ring.ring_fd > 0)
		io_uring_queue_exit(&q->ring);
	if (q->iods)
		munmap(q->iods, q->iods_bytes);
	for (int t = 0; t < q->depth; t++)
		free(q->ios[t].buf);
	free(q->ios);
	free(q->io_segs);
	q->ios = NULL;
	q->io_segs = NULL;
	close(q->stop_fd);
	q->stop_fd = -1;
}

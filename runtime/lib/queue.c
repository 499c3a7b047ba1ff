// SPDX-License-Identifier: MIT
/*
 * One queue: one thread, one io_uring. The ublk FETCH/COMMIT commands and
 * the backend I/O they lead to are SQEs on the same ring, so a request's
 * commit goes out with the next submit after its last backend completion.
 *
 * Per loop iteration: reap every CQE, collect newly fetched requests, hand
 * the whole batch to the target's BPF dispatcher in one BPF_PROG_RUN
 * (dispatch.c), validate and execute what it decided (exec.c).
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
#include "engine.h"
#include "log.h"
#include "queue.h"

/*
 * The device's data mode: the first whose ADD_DEV flag the kernel granted
 * (copy, with none, last). A new mode is a mode_*.c and a line here.
 */
static const struct bublk_data_ops *const data_modes[] = {
	&bublk_mode_zero_copy,
	&bublk_mode_zero_copy_manual,
	&bublk_mode_user_copy,
	&bublk_mode_copy,
};

static const struct bublk_data_ops *queue_data_mode(const struct bublk_dev *dev)
{
	for (size_t i = 0; i < sizeof(data_modes) / sizeof(data_modes[0]); i++) {
		if ((dev->info.flags & data_modes[i]->ublk_flag) == data_modes[i]->ublk_flag)
			return data_modes[i];
	}
	return &bublk_mode_copy;
}

struct io_uring_sqe *bublk_get_sqe(struct bublk_queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	if (!sqe) {
		/* ring full: push what we have to the kernel and retry */
		io_uring_submit(&q->ring);
		sqe = io_uring_get_sqe(&q->ring);
	}
	return sqe;
}

/*
 * The descriptors' stride is the kernel's answer in io_desc_size
 * (UBLK_F_IO_DESC_SIZE, 7.2+; every kernel since then answers 24 unless
 * asked for more; older ones leave the field 0 and use 24). Each queue's
 * array starts at the size the deepest queue would need.
 */
static size_t iod_stride(const struct bublk_dev *dev)
{
	return dev->info.io_desc_size >= sizeof(struct ublksrv_io_desc) ?
	       dev->info.io_desc_size : sizeof(struct ublksrv_io_desc);
}

static size_t iods_offset(const struct bublk_dev *dev, int q_id)
{
	size_t max = (size_t)UBLK_MAX_QUEUE_DEPTH * iod_stride(dev);

	max = (max + BUBLK_PAGE_SIZE - 1) & ~((size_t)BUBLK_PAGE_SIZE - 1);
	return UBLKSRV_CMD_BUF_OFFSET + (size_t)q_id * max;
}

struct io_uring_sqe *bublk_ublk_sqe(struct bublk_queue *q, __u32 cmd_op)
{
	struct io_uring_sqe *sqe = bublk_get_sqe(q);

	if (!sqe)
		return NULL;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = 0;			/* registered file 0: /dev/ublkcN */
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = cmd_op;
	return sqe;
}

/* FETCH (first time) or COMMIT_AND_FETCH (with the previous request's result) */
static int queue_ublk_cmd(struct bublk_queue *q, int tag, bool commit, int result)
{
	bool legacy = q->dev->ctrl.legacy;
	struct io_uring_sqe *sqe;
	struct ublksrv_io_cmd *cmd;

	if (commit)
		sqe = bublk_ublk_sqe(q, legacy ? UBLK_IO_COMMIT_AND_FETCH_REQ : UBLK_U_IO_COMMIT_AND_FETCH_REQ);
	else
		sqe = bublk_ublk_sqe(q, legacy ? UBLK_IO_FETCH_REQ : UBLK_U_IO_FETCH_REQ);
	if (!sqe)
		return -EBUSY;
	sqe->user_data = ud_make(UD_UBLK, tag, 0);
	cmd = (struct ublksrv_io_cmd *)sqe->cmd;
	cmd->q_id = q->q_id;
	cmd->tag = tag;
	cmd->result = result;
	if (q->ops->fetch_addr)
		q->ops->fetch_addr(sqe, cmd, q, tag);
	return 0;
}

/* all segments done: the mode may move the data first (user copy: a READ's) */
void bublk_complete_io(struct bublk_queue *q, int tag, int err)
{
	struct bublk_io *io = &q->ios[tag];

	if (!err && io->ops->after_segs && io->ops->after_segs(q, tag))
		return;
	bublk_commit_io(q, tag, err);
}

void bublk_commit_io(struct bublk_queue *q, int tag, int err)
{
	struct bublk_io *io = &q->ios[tag];
	int res;

	if (err < 0)
		res = err;
	else if (io->op == BUBLK_OP_READ || io->op == BUBLK_OP_WRITE)
		res = io->len;
	else
		res = 0;
	if (io->ops->release)
		io->ops->release(q, tag);
	bublk_stats_io(q, tag, res);
	if (q->batch)
		bublk_batch_commit(q, tag, res);
	else
		queue_ublk_cmd(q, tag, true, res);
}

void bublk_handle_cqe(struct bublk_queue *q, const struct io_uring_cqe *cqe)
{
	__u64 ud = cqe->user_data;
	int tag = ud_tag(ud);
	int err;

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
	case UD_BACKEND:
		bublk_seg_done(q, tag, ud_seg(ud), cqe->res, ud_expect(ud));
		break;
	case UD_DATA_IN:
		err = cqe_err(cqe->res, ud_expect(ud));
		if (err) {
			q->ios[tag].registered = false;	/* if that was the registration */
			bublk_commit_io(q, tag, err);
		} else {
			q->ios[tag].have_data = true;
			bublk_issue_stage(q, tag);
		}
		break;
	case UD_DATA_OUT:
		bublk_commit_io(q, tag, cqe_err(cqe->res, ud_expect(ud)));
		break;
	case UD_STOP:
		q->stopping = true;
		break;
	case UD_BATCH_FETCH:
	case UD_BATCH_COMMIT:
		bublk_batch_cqe(q, cqe);
		break;
	case UD_NBD_POLL:
		bublk_nbd_poll_cqe(q, ud, cqe->res);
		break;
	case UD_UNREGISTER:
		bublk_log("dev %u queue %d tag %d: unregistering its zero-copy buffer: %s",
			  q->dev->info.dev_id, q->q_id, tag, strerror(-cqe->res));
		break;
	case UD_ENGINE_SEG:
		/* the kernel engine had no record of this segment's request */
		bublk_log("dev %u queue %d tag %d: a kernel-engine segment nobody waits for (%d)",
			  q->dev->info.dev_id, q->q_id, tag, cqe->res);
		break;
	}
}

void bublk_queue_ring_params(int depth, unsigned int *entries, struct io_uring_params *p)
{
	memset(p, 0, sizeof(*p));
	*entries = depth * 2;
	/* DEFER_TASKRUN (and so SINGLE_ISSUER) is also what io_uring's BPF loop needs */
	p->flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
		   IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
	p->cq_entries = *entries * 4;
}

static int queue_setup(struct bublk_queue *q)
{
	struct bublk_dev *dev = q->dev;
	struct io_uring_params p;
	int files[1 + BUBLK_MAX_BACKENDS + BUBLK_OWN_NR];
	unsigned int entries;
	int nr_files, ret;

	bublk_queue_ring_params(q->depth, &entries, &p);
	/* the kernel engine's ring is restricted before it runs anything (engine.c) */
	if (dev->engine_kernel)
		p.flags |= IORING_SETUP_R_DISABLED;
	ret = io_uring_queue_init_params(entries, &q->ring, &p);
	if (ret) {
		bublk_log("dev %u queue %d: io_uring setup: %s", dev->info.dev_id, q->q_id,
			  strerror(-ret));
		return ret;
	}
	q->ring_ready = true;
	files[0] = dev->cdev_fd;
	/* an NBD backend has no file: -1 leaves its slot empty */
	nr_files = 1;
	for (int i = 0; i < dev->nr_backends; i++)
		files[nr_files++] = dev->backends[i].fd;
	/* and, for the kernel engine, empty slots for the queue's own files */
	for (int i = 0; dev->engine_kernel && i < BUBLK_OWN_NR; i++)
		files[nr_files++] = -1;
	ret = io_uring_register_files(&q->ring, files, nr_files);
	if (ret) {
		bublk_log("dev %u queue %d: registering files: %s", dev->info.dev_id, q->q_id,
			  strerror(-ret));
		return ret;
	}
	/* this queue's own connection to each NBD backend, before any request */
	ret = bublk_nbd_queue_setup(q);
	if (ret) {
		bublk_log("dev %u queue %d: connecting its NBD backends: %s", dev->info.dev_id,
			  q->q_id, strerror(-ret));
		return ret;
	}
	if (q->ops->setup) {
		ret = q->ops->setup(q);
		if (ret) {
			bublk_log("dev %u queue %d: %s data mode setup: %s", dev->info.dev_id,
				  q->q_id, q->ops->name, strerror(-ret));
			return ret;
		}
	}
	q->iod_stride = iod_stride(dev);
	q->iods_bytes = (q->depth * q->iod_stride + BUBLK_PAGE_SIZE - 1) &
			~((size_t)BUBLK_PAGE_SIZE - 1);
	q->iods = mmap(NULL, q->iods_bytes, PROT_READ, MAP_SHARED | MAP_POPULATE,
		       dev->cdev_fd, iods_offset(dev, q->q_id));
	if (q->iods == MAP_FAILED) {
		ret = -errno;
		q->iods = NULL;
		bublk_log("dev %u queue %d: mmap of the request descriptors: %s",
			  dev->info.dev_id, q->q_id, strerror(errno));
		return ret;
	}
	if (dev->info.flags & UBLK_F_BATCH_IO) {
		ret = bublk_batch_start(q);
		if (ret) {
			bublk_log("dev %u queue %d: batched commands (PREP_IO_CMDS): %s",
				  dev->info.dev_id, q->q_id, strerror(-ret));
			return ret;
		}
	}
	/* the kernel engine: its own files registered, the ring restricted and enabled */
	if (dev->engine_kernel) {
		ret = bublk_engine_ring_prepare(q);
		if (ret)
			return ret;
	}
	/* a read on the stop eventfd completes when the device is going away */
	{
		struct io_uring_sqe *sqe = bublk_get_sqe(q);

		io_uring_prep_poll_add(sqe, q->stop_fd, POLLIN);
		bublk_sqe_own_file(q, sqe, BUBLK_OWN_STOP);
		sqe->user_data = ud_make(UD_STOP, 0, 0);
	}
	for (int tag = 0; !q->batch && tag < q->depth; tag++) {
		ret = queue_ublk_cmd(q, tag, false, -1);
		if (ret)
			return ret;
	}
	ret = io_uring_submit(&q->ring);
	if (ret < 0)
		return ret;
	/* from here on the kernel runs the steady state (engine.c) */
	return dev->engine_kernel ? bublk_engine_attach(q) : 0;
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
	if (q->dev->engine_kernel) {
		bublk_engine_run(q);
		return NULL;
	}

	while (!q->stopping) {
		int ret;

		if (q->batch)
			bublk_batch_flush(q);
		/* NBD completions can leave tags for bublk_done: no waiting then */
		ret = io_uring_submit_and_wait(&q->ring, q->nr_done ? 0 : 1);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			bublk_log("dev %u queue %d: io_uring wait: %s", q->dev->info.dev_id,
				  q->q_id, strerror(-ret));
			break;
		}
		n = 0;
		io_uring_for_each_cqe(&q->ring, head, cqe) {
			bublk_handle_cqe(q, cqe);
			n++;
		}
		io_uring_cq_advance(&q->ring, n);
		bublk_dispatch_batch(q);
		bublk_done_batch(q);
		/* what libnbd finished meanwhile, then the polls its connections need */
		bublk_nbd_run(q);
	}
	return NULL;
}

/* free what bublk_queue_start allocated; the thread is gone (or never was) */
static void queue_release(struct bublk_queue *q)
{
	bublk_engine_detach(q);
	/* exiting the ring cancels the FETCH commands the kernel still holds */
	if (q->ring_ready)
		io_uring_queue_exit(&q->ring);
	q->ring_ready = false;
	bublk_nbd_queue_release(q);
	bublk_batch_free(q);
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
	if (q->mode_fd >= 0)
		close(q->mode_fd);
	q->mode_fd = -1;
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
		if (!q->ops->no_buffers &&
		    posix_memalign(&q->ios[t].buf, BUBLK_PAGE_SIZE, dev->info.max_io_buf_bytes)) {
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
	q->ops = queue_data_mode(dev);
	q->thread_started = false;
	q->ring_ready = false;
	q->stop_fd = -1;
	q->mode_fd = -1;
	q->batch = NULL;
	q->nbd = NULL;
	q->engine_park = NULL;
	q->engine_map_fd = q->engine_link_fd = q->engine_kick_fd = -1;
	q->engine_swap = false;
	q->restricted = false;
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

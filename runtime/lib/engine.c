// SPDX-License-Identifier: MIT
/*
 * The in-kernel engine, user-space half (docs/kernel-engine.md): choose
 * it for a device, prepare the target's NAME.kern.o twin, and run each
 * queue thread around io_uring's BPF loop.
 *
 * A queue thread in this engine sets its ring up as usual (files, buffer
 * table, the FETCH of every tag, the stop poll), attaches bublk's
 * loop_step program to the ring and calls io_uring_enter(2), which runs
 * the program until it stops. It stops only to hand over what it does not
 * serve itself (parked CQEs: the stop poll, aborted commands, requests
 * whose answer it leaves to the C runtime, ...). The thread feeds those
 * to the same handlers the user-space engine uses, and enters again: the
 * SQEs they queued are submitted by the program's first step.
 *
 * Ownership is per request: the engine finishes what it started, the C
 * runtime what was parked; user_data says whose a CQE is, so neither
 * ever sees the other's state.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bublk/engine.h>

#include "dev.h"
#include "engine.h"
#include "log.h"
#include "queue.h"
#include "util.h"

_Static_assert(BUBLK_ENGINE_UD_UBLK == UD_UBLK && BUBLK_ENGINE_UD_SEG == UD_ENGINE_SEG &&
	       BUBLK_ENGINE_UD_ANSWERED == UD_ENGINE_ANSWERED,
	       "engine.h and queue.h number user_data kinds alike");

int bublk_engine_probe(void)
{
	return bublk_engine_kernel_ops();
}

/* NAME.bpf.o -> NAME.kern.o (a kern object given as such stays itself) */
static int kern_path(const char *path, char *out, size_t outlen)
{
	size_t n = strlen(path);
	const char *sfx = ".bpf.o";

	if (n > 7 && !strcmp(path + n - 7, ".kern.o"))
		return snprintf(out, outlen, "%s", path) < (int)outlen ? 0 : -ENAMETOOLONG;
	if (n < strlen(sfx) || strcmp(path + n - strlen(sfx), sfx))
		return -EINVAL;
	return snprintf(out, outlen, "%.*s.kern.o", (int)(n - strlen(sfx)), path) < (int)outlen ?
	       0 : -ENAMETOOLONG;
}

/* the geometry of a queue ring, from one made with the same parameters */
static int ring_geometry(const struct bublk_dev *dev, struct bublk_engine_cfg *cfg)
{
	struct io_uring_params p;
	struct io_uring ring;
	unsigned int entries;
	int ret;

	bublk_queue_ring_params(dev->info.queue_depth, &entries, &p);
	ret = io_uring_queue_init_params(entries, &ring, &p);
	if (ret)
		return ret;
	cfg->sq_entries = p.sq_entries;
	cfg->sq_mask = p.sq_entries - 1;
	cfg->sq_head = p.sq_off.head;
	cfg->sq_tail = p.sq_off.tail;
	cfg->cq_entries = p.cq_entries;
	cfg->cq_mask = p.cq_entries - 1;
	cfg->cq_head = p.cq_off.head;
	cfg->cq_tail = p.cq_off.tail;
	cfg->cqes = p.cq_off.cqes;
	cfg->rings_bytes = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	cfg->sq_bytes = p.sq_entries * sizeof(struct io_uring_sqe);
	io_uring_queue_exit(&ring);
	return 0;
}

/* the device as the engine's checks know it (include/bublk/engine.h) */
static int engine_cfg(struct bublk_dev *dev, const struct bublk_target *t, struct bublk_engine_cfg *cfg)
{
	struct ublk_auto_buf_reg r = { .index = 0 };
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	ret = ring_geometry(dev, cfg);
	if (ret)
		return ret;
	cfg->depth = dev->info.queue_depth;
	cfg->max_segs = dev->max_segs;
	cfg->nr_backends = dev->nr_backends;
	cfg->cmd_commit = UBLK_U_IO_COMMIT_AND_FETCH_REQ;
	if (bublk_zc_fallback(dev)) {
		r.flags = UBLK_AUTO_BUF_REG_FALLBACK;
		if (bublk_zc_test_fallback())
			cfg->buf_index_fixed = 0xffff;
	}
	cfg->buf_reg = ublk_auto_buf_reg_sqe_addr(r) >> 16;
	cfg->has_done = t->done != NULL;
	for (int i = 0; i < dev->nr_backends; i++) {
		const struct bublk_backend *b = &dev->backends[i];

		cfg->be_flags[i] = (b->nbd ? 0 : BUBLK_ENGINE_B_FILE) |
				   (b->readonly ? BUBLK_ENGINE_B_READONLY : 0);
		cfg->be_size[i] = b->size;
	}
	return 0;
}

int bublk_engine_open(struct bublk_dev *dev, struct bublk_target *t, const char *path,
		      char *err, size_t errlen)
{
	struct bpf_map *tags;
	char kpath[PATH_MAX];
	int ret;

	ret = kern_path(path, kpath, sizeof(kpath));
	if (ret) {
		snprintf(err, errlen, "%s: the kernel engine needs a NAME.bpf.o next to its NAME.kern.o", path);
		return ret;
	}
	ret = bublk_target_open(t, kpath, err, errlen);
	if (ret)
		return ret;
	if (!t->engine) {
		snprintf(err, errlen, "%s: no bublk_engine_step program: build it with -DBUBLK_ENGINE_KERNEL", kpath);
		return -EINVAL;
	}
	ret = engine_cfg(dev, t, &dev->engine_cfg);
	if (ret) {
		snprintf(err, errlen, "kernel engine: a ring like the queues': %s", strerror(-ret));
		return ret;
	}
	tags = bpf_object__find_map_by_name(t->obj, "bublk_engine_tags");
	ret = bublk_rodata_set(t->obj, "bublk_engine_cfg", &dev->engine_cfg, sizeof(dev->engine_cfg));
	if (!ret)
		ret = tags ? bpf_map__set_max_entries(tags, dev->info.nr_hw_queues *
						      dev->info.queue_depth) : -ENOENT;
	if (!ret)
		ret = bpf_program__set_autoload(t->engine, true);
	if (ret) {
		snprintf(err, errlen, "%s: not built against this bublk's engine.h (%s)", kpath,
			 strerror(-ret));
		return ret;
	}
	return 0;
}

int bublk_engine_choose(struct bublk_dev *dev, const struct bublk_dev_opts *o,
			char *err, size_t errlen)
{
	char kpath[PATH_MAX], path[PATH_MAX];
	const char *no = NULL;
	int ret;

	dev->engine_kernel = false;
	if (o->engine == BUBLK_ENGINE_USER) {
		snprintf(dev->engine_why, sizeof(dev->engine_why), "--engine user");
		return 0;
	}
	ret = bublk_engine_probe();
	if (ret == -EPROTO)
		no = "this kernel's io_uring_bpf_ops is not the one bublk knows";
	else if (ret)
		no = "this kernel has no io_uring_bpf_ops (Linux 7.1+)";
	else if (!(dev->info.flags & UBLK_F_AUTO_BUF_REG))
		no = "it needs zero copy with automatic buffer registration (UBLK_F_AUTO_BUF_REG), not this device's data mode";
	else if (dev->info.flags & UBLK_F_BATCH_IO)
		no = "batched commands (--batch) are served from user space";
	else if (dev->ctrl.legacy)
		no = "legacy (not ioctl-encoded) commands";
	else if (dev->shmem_zc)
		no = "shared-memory zero copy (--shmem-zc) is served from user space";
	else if (o->dispatch == BUBLK_DISPATCH_C)
		no = "--dispatch c runs the target's C twin in user space";
	for (int i = 0; !no && i < dev->nr_backends; i++)
		if (dev->backends[i].nbd)
			no = "NBD backends are served from user space";
	if (!no && (kern_path(dev->target.path, kpath, sizeof(kpath)) || access(kpath, R_OK)))
		no = "the target has no NAME.kern.o next to its NAME.bpf.o (build it with -DBUBLK_ENGINE_KERNEL)";
	if (no) {
		if (o->engine == BUBLK_ENGINE_KERNEL) {
			snprintf(err, errlen, "--engine kernel: %s", no);
			return -EOPNOTSUPP;
		}
		snprintf(dev->engine_why, sizeof(dev->engine_why), "%s", no);
		return 0;
	}
	/* nothing is loaded yet: swap the object for its twin */
	snprintf(path, sizeof(path), "%s", dev->target.path);
	bublk_target_close(&dev->target);
	ret = bublk_engine_open(dev, &dev->target, path, err, errlen);
	if (ret && o->engine != BUBLK_ENGINE_KERNEL) {
		/* a twin that is no engine (a target not made with BUBLK_TARGET): the user engine */
		snprintf(dev->engine_why, sizeof(dev->engine_why), "%s", err);
		bublk_target_close(&dev->target);
		err[0] = 0;
		return bublk_target_open(&dev->target, path, err, errlen);
	}
	if (ret)
		return ret;
	dev->engine_kernel = true;
	snprintf(dev->engine_why, sizeof(dev->engine_why), "%s",
		 o->engine == BUBLK_ENGINE_KERNEL ? "--engine kernel" :
		 "the kernel has io_uring_bpf_ops and the device is zero copy");
	return 0;
}

int bublk_engine_loaded(struct bublk_dev *dev, char *err, size_t errlen)
{
	struct bpf_map *park;
	size_t bytes;
	void *p;

	if (!dev->engine_kernel)
		return 0;
	park = bpf_object__find_map_by_name(dev->target.obj, "bublk_engine_park");
	if (!park || bpf_map__value_size(park) != sizeof(struct bublk_engine_park)) {
		snprintf(err, errlen, "%s: no bublk_engine_park map of this bublk's layout", dev->target.path);
		return -EPROTO;
	}
	bytes = (size_t)BUBLK_MAX_QUEUES * sizeof(struct bublk_engine_park);
	bytes = (bytes + BUBLK_PAGE_SIZE - 1) & ~((size_t)BUBLK_PAGE_SIZE - 1);
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(park), 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "mapping bublk_engine_park: %s", strerror(errno));
		return -errno;
	}
	dev->engine_park = p;
	dev->engine_park_bytes = bytes;
	return 0;
}

void bublk_engine_release(struct bublk_dev *dev)
{
	if (dev->engine_park)
		munmap(dev->engine_park, dev->engine_park_bytes);
	dev->engine_park = NULL;
}

static int map_fd(const struct bublk_target *t, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(t->obj, name);

	return m ? bpf_map__fd(m) : -ENOENT;
}

/* the kick poll: "bublk reload" wakes the loop through it (UD_ENGINE_KICK) */
static int arm_kick(struct bublk_queue *q)
{
	struct io_uring_sqe *sqe = bublk_get_sqe(q);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, q->engine_kick_fd, POLLIN);
	bublk_sqe_own_file(q, sqe, BUBLK_OWN_KICK);
	sqe->user_data = ud_make(UD_ENGINE_KICK, 0, 0);
	return 0;
}

/* put the current target's engine on this queue's ring */
static int attach_current(struct bublk_queue *q)
{
	struct bublk_target *t = __atomic_load_n(&q->dev->current, __ATOMIC_ACQUIRE);
	int ret;

	ret = bublk_engine_attach_ring(t, q->ring.ring_fd, &q->engine_map_fd, &q->engine_link_fd);
	if (ret)
		bublk_log("dev %u queue %d: attaching the kernel engine to the ring: %s",
			  q->dev->info.dev_id, q->q_id, strerror(-ret));
	return ret;
}

/*
 * What may run on a kernel-engine ring: the opcodes bublk's program and
 * the C runtime's handlers for parked requests issue, each on a registered
 * file (the char device, the backends, the queue's own files), and no
 * io_uring_register(2) once enabled. A bug in bublk's program (or a
 * target's answer that slipped past its checks) cannot reach another file
 * or do anything else with the daemon's rights.
 */
static const __u8 ring_ops[] = {
	IORING_OP_URING_CMD,		/* FETCH, COMMIT_AND_FETCH, (UN)REGISTER_IO_BUF */
	IORING_OP_READ_FIXED,		/* zero-copy segments, ZERO_FILL from /dev/zero */
	IORING_OP_WRITE_FIXED,
	IORING_OP_READ,			/* segments through the arena's scratch */
	IORING_OP_WRITE,
	IORING_OP_FSYNC,		/* FLUSH */
	IORING_OP_FALLOCATE,		/* DISCARD, WRITE_ZEROES */
	IORING_OP_POLL_ADD,		/* the stop and kick eventfds */
	IORING_OP_TIMEOUT,		/* DELAY */
};

/* Debian's liburing 2.3 declares io_uring_register_restrictions() and enable_rings() but does not export them */
static int ring_register(struct bublk_queue *q, unsigned int op, const void *arg, unsigned int nr)
{
	return syscall(__NR_io_uring_register, q->ring.ring_fd, op, arg, nr) < 0 ? -errno : 0;
}

static int restrict_ring(struct bublk_queue *q)
{
	struct io_uring_restriction res[ARRAY_SIZE(ring_ops) + 2];
	unsigned int n = 0;

	memset(res, 0, sizeof(res));
	for (unsigned int i = 0; i < ARRAY_SIZE(ring_ops); i++, n++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n].sqe_op = ring_ops[i];
	}
	/* ASYNC: iowq_spawn's two SQEs */
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE | IOSQE_CQE_SKIP_SUCCESS | IOSQE_ASYNC;
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	return ring_register(q, IORING_REGISTER_RESTRICTIONS, res, n);
}

/*
 * Test hook (t_kernel_engine): after enabling, submit what the
 * restrictions refuse, and log what the kernel said.
 */
static void test_restrictions(struct bublk_queue *q)
{
	const char *v = getenv("BUBLK_TEST_RING_RESTRICTED");
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	char byte;
	int res[2];

	if (!v || strcmp(v, "1"))
		return;
	for (int i = 0; i < 2; i++) {
		sqe = bublk_get_sqe(q);
		if (i == 0)
			io_uring_prep_nop(sqe);				/* not on the list */
		else
			io_uring_prep_read(sqe, q->mode_fd, &byte, 1, 0);	/* not registered */
		res[i] = io_uring_submit_and_wait(&q->ring, 1);
		if (res[i] >= 0 && !io_uring_peek_cqe(&q->ring, &cqe)) {
			res[i] = cqe->res;
			io_uring_cqe_seen(&q->ring, cqe);
		}
	}
	bublk_log("dev %u queue %d: restricted ring: a NOP got %d, a read of an unregistered file %d",
		  q->dev->info.dev_id, q->q_id, res[0], res[1]);
}

/*
 * io_uring's workers, made here and only here. An io-wq worker is forked
 * from the task that queues work nobody is free to take; inside the loop
 * that is the sleepable loop_step program, which runs with migration
 * disabled, and on 7.3 the forked worker inherits that count and never
 * drops it: its affinity can then never change, and "taskset -a -p" or a
 * cpuset change on the daemon blocks for good in affine_move_task. So the
 * queue thread caps its io-wq at one worker of each kind (bounded: regular
 * files and block devices; unbounded: other files) and makes both from
 * user space before the loop runs: an FSYNC and a READ of /dev/zero forced
 * to io-wq. The last worker of a kind never leaves on idle, so none is ever
 * made from inside the program. The cost: work the backends push to io-wq
 * (FLUSH, DISCARD, I/O that would block) runs one at a time per queue.
 */
static int iowq_limit(struct bublk_queue *q)
{
	__u32 max[2] = { 1, 1 };	/* bounded, unbounded */

	return ring_register(q, IORING_REGISTER_IOWQ_MAX_WORKERS, max, 2);
}

static int iowq_spawn(struct bublk_queue *q)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	char byte;
	int ret;

	sqe = bublk_get_sqe(q);
	io_uring_prep_fsync(sqe, bublk_own_slot(q, BUBLK_OWN_ZERO), 0);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_ASYNC;	/* bounded work */
	sqe = bublk_get_sqe(q);
	io_uring_prep_read(sqe, bublk_own_slot(q, BUBLK_OWN_ZERO), &byte, 1, 0);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_ASYNC;	/* a char device: unbounded */
	ret = io_uring_submit_and_wait(&q->ring, 2);
	if (ret < 0)
		return ret;
	for (int i = 0; i < 2 && !io_uring_peek_cqe(&q->ring, &cqe); i++)
		io_uring_cqe_seen(&q->ring, cqe);	/* what they return does not matter */
	return 0;
}

int bublk_engine_ring_prepare(struct bublk_queue *q)
{
	int fds[BUBLK_OWN_NR];
	int ret;

	q->engine_kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->engine_kick_fd < 0)
		return -errno;
	fds[BUBLK_OWN_STOP] = q->stop_fd;
	fds[BUBLK_OWN_KICK] = q->engine_kick_fd;
	fds[BUBLK_OWN_ZERO] = q->mode_fd;
	ret = io_uring_register_files_update(&q->ring, bublk_own_slot(q, 0), fds, BUBLK_OWN_NR);
	if (ret >= 0)
		ret = iowq_limit(q);
	if (ret >= 0)
		ret = restrict_ring(q);
	if (ret >= 0)
		ret = ring_register(q, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret >= 0)
		ret = iowq_spawn(q);
	if (ret < 0) {
		bublk_log("dev %u queue %d: preparing the kernel engine's ring (its own files, io-wq workers, restrictions): %s",
			  q->dev->info.dev_id, q->q_id, strerror(-ret));
		return ret;
	}
	q->restricted = true;
	test_restrictions(q);
	return 0;
}

int bublk_engine_attach(struct bublk_queue *q)
{
	struct bublk_dev *dev = q->dev;
	const struct bublk_engine_cfg *cfg = &dev->engine_cfg;
	struct bublk_engine_queue eq = {
		.iods = (__u64)(uintptr_t)q->iods,
		.iod_stride = q->iod_stride,
		.reqs = (__u64)(uintptr_t)q->reqs,
		.segs = (__u64)(uintptr_t)q->segs,
		.scratch = (__u64)(uintptr_t)q->scratch,
		.q_id = q->q_id,
	};
	__u32 key = q->q_id, tid = gettid();
	int ret;

	if (q->ring.sq.ring_entries != cfg->sq_entries || q->ring.cq.ring_entries != cfg->cq_entries) {
		bublk_log("dev %u queue %d: ring %u/%u, the engine was built for %u/%u",
			  dev->info.dev_id, q->q_id, q->ring.sq.ring_entries, q->ring.cq.ring_entries,
			  cfg->sq_entries, cfg->cq_entries);
		return -EPROTO;
	}
	q->engine_park = &dev->engine_park[q->q_id];
	q->engine_park->n = 0;
	q->engine_park->trace_seq = q->trace_seq;
	if (bpf_map_update_elem(map_fd(&dev->target, "bublk_engine_queues"), &key, &eq, 0) ||
	    bpf_map_update_elem(map_fd(&dev->target, "bublk_engine_tids"), &tid, &key, 0)) {
		ret = -errno;
		bublk_log("dev %u queue %d: the kernel engine's queue maps: %s", dev->info.dev_id,
			  q->q_id, strerror(errno));
		return ret;
	}
	ret = arm_kick(q);
	if (!ret)
		ret = io_uring_submit(&q->ring) < 0 ? -EIO : 0;
	if (!ret)
		ret = attach_current(q);
	return ret;
}

void bublk_engine_detach(struct bublk_queue *q)
{
	if (q->engine_link_fd >= 0)
		close(q->engine_link_fd);
	if (q->engine_map_fd >= 0)
		close(q->engine_map_fd);
	if (q->engine_kick_fd >= 0)
		close(q->engine_kick_fd);
	q->engine_link_fd = q->engine_map_fd = q->engine_kick_fd = -1;
}

/* a reload's new engine: swapped in by the queue thread itself, between entries */
static void swap_engine(struct bublk_queue *q)
{
	__u64 v;

	if (read(q->engine_kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		bublk_log("dev %u queue %d: kick eventfd: %s", q->dev->info.dev_id, q->q_id,
			  strerror(errno));
	arm_kick(q);
	if (!__atomic_exchange_n(&q->engine_swap, false, __ATOMIC_ACQ_REL))
		return;
	/* detach (the ring has one set of ops), then the new target's program */
	close(q->engine_link_fd);
	close(q->engine_map_fd);
	q->engine_link_fd = q->engine_map_fd = -1;
	if (attach_current(q))
		q->stopping = true;	/* logged: this queue cannot go on in the kernel */
}

void bublk_engine_swap(struct bublk_dev *dev)
{
	__u64 one = 1;

	for (int i = 0; i < dev->nr_queues_started; i++) {
		struct bublk_queue *q = &dev->queues[i];

		__atomic_store_n(&q->engine_swap, true, __ATOMIC_RELEASE);
		if (write(q->engine_kick_fd, &one, sizeof(one)) != sizeof(one))
			bublk_log("dev %u queue %d: waking the kernel engine: %s", dev->info.dev_id,
				  i, strerror(errno));
	}
}

/* what the program handed over, fed to the user-space engine's handlers in order */
static void take_parked(struct bublk_queue *q)
{
	struct bublk_engine_park *park = q->engine_park;

	/* handlers may submit (a full SQ), re-entering the loop, which may park more */
	for (__u32 i = 0; i < __atomic_load_n(&park->n, __ATOMIC_ACQUIRE) &&
			  i < BUBLK_ENGINE_PARK_MAX; i++) {
		struct io_uring_cqe cqe = {
			.user_data = park->cqe[i].user_data,
			.res = park->cqe[i].res,
			.flags = park->cqe[i].flags,
		};

		switch (ud_kind(cqe.user_data)) {
		case UD_ENGINE_ANSWERED:
			bublk_dispatch_answered(q, ud_tag(cqe.user_data));
			break;
		case UD_ENGINE_KICK:
			swap_engine(q);
			break;
		default:
			bublk_handle_cqe(q, &cqe);
			break;
		}
	}
	__atomic_store_n(&park->n, 0, __ATOMIC_RELEASE);
}

/* liburing's SQ tail and ours agree: what it queued is visible, what BPF queued is taken */
static void sq_publish(struct io_uring *ring)
{
	__atomic_store_n(ring->sq.ktail, ring->sq.sqe_tail, __ATOMIC_RELEASE);
	ring->sq.sqe_head = ring->sq.sqe_tail;
}

static void sq_resync(struct io_uring *ring)
{
	ring->sq.sqe_tail = ring->sq.sqe_head = __atomic_load_n(ring->sq.ktail, __ATOMIC_ACQUIRE);
}

void bublk_engine_run(struct bublk_queue *q)
{
	while (!q->stopping) {
		int ret;

		sq_publish(&q->ring);
		/* the loop ignores to_submit and min_complete: it submits and waits itself */
		ret = syscall(__NR_io_uring_enter, q->ring.ring_fd, 0, 0, 0, NULL, 0);
		sq_resync(&q->ring);
		if (ret < 0 && errno != EINTR && errno != EAGAIN) {
			bublk_log("dev %u queue %d: the kernel engine's loop: %s", q->dev->info.dev_id,
				  q->q_id, strerror(errno));
			q->stats->engine_errors++;
			break;
		}
		take_parked(q);
		bublk_dispatch_batch(q);
		bublk_done_batch(q);
	}
}

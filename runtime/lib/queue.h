/* SPDX-License-Identifier: MIT */
/*
 * The queue's private state and the interfaces between the files that
 * serve it (docs/internals.md walks one request through them):
 *   queue.c	thread, ring, CQE demultiplexing, ublk FETCH/COMMIT
 *   dispatch.c	batches through bublk_dispatch (BPF or C twin) and bublk_done
 *   exec.c	a target's answer: validation, stages, segments as SQEs
 *   mode_*.c	where a request's data lives (struct bublk_data_ops)
 *   batch_io.c	UBLK_F_BATCH_IO: the ublk commands over arrays of tags
 *   stats.c	counters and the trace ring
 */
#ifndef BUBLK_QUEUE_H
#define BUBLK_QUEUE_H

#include <errno.h>

#include <bublk/engine.h>

#include "backend_nbd.h"
#include "dev.h"

/*
 * A data mode: how a request's data reaches the backend I/O and the
 * client. The device has one (the queue's, picked by the ADD_DEV flag the
 * kernel granted, table in queue.c); a request may run under another for
 * its own data (shared memory: mode_shmem.c picks it at dispatch). The
 * rest of the path asks the mode instead of testing flags, so a new mode
 * is one mode_*.c and one entry in that table. setup, fetch_addr,
 * before_exec and after_segs may be NULL (nothing to do there); prep_rw
 * and zero_fill are required.
 */
struct bublk_data_ops {
	const char	*name;
	/* the ADD_DEV flag that selects it for the queue (0: the default, last) */
	__u64		ublk_flag;
	/* what struct bublk_req.buf_kind tells the target of a READ or WRITE */
	__u8		buf_kind;
	/* the data never enters our memory: no per-tag buffer (zero copy) */
	bool		no_buffers;
	/*
	 * Once per queue, after the ring and its files are registered and
	 * before the first FETCH: ring-level resources the mode needs (zero
	 * copy: a sparse buffer table of depth entries). They go with the
	 * ring. 0 or -errno (the queue does not start).
	 */
	int		(*setup)(struct bublk_queue *q);
	/*
	 * Fill in the buffer address FETCH and COMMIT_AND_FETCH carry for tag
	 * (sqe and cmd are zeroed): copy puts its buffer in cmd->addr, user
	 * copy leaves 0, zero copy would put its auto_buf_reg in sqe->addr.
	 * Queue modes only.
	 */
	void		(*fetch_addr)(struct io_uring_sqe *sqe, struct ublksrv_io_cmd *cmd,
				      const struct bublk_queue *q, int tag);
	/*
	 * Before the first stage of each round, until a transfer it queued
	 * has completed (io->have_data): 0 to go on, 1 when it queued one
	 * (user_data UD_DATA_IN, expecting its length) after whose completion
	 * the stages run, or -errno to fail the request.
	 */
	int		(*before_exec)(struct bublk_queue *q, int tag);
	/*
	 * Every segment succeeded, before the commit: true when it queued a
	 * transfer (UD_DATA_OUT) whose completion commits the request, false
	 * to commit now (user copy pushes a READ's data to the kernel here).
	 */
	bool		(*after_segs)(struct bublk_queue *q, int tag);
	/*
	 * Just before the commit, whatever its result: give back what
	 * before_exec took (zero copy by hand: unregister the buffer).
	 */
	void		(*release)(struct bublk_queue *q, int tag);
	/*
	 * A READ or WRITE segment i of tag on the request's data (never a
	 * BUBLK_SEG_F_ARENA one, which is the same for every mode): prepare
	 * sqe for registered file fd, to move all of the segment's len bytes.
	 * exec.c adds the file flag, user_data and FUA.
	 */
	void		(*prep_rw)(struct io_uring_sqe *sqe, struct bublk_queue *q, int tag, int i,
				   int fd);
	/*
	 * A ZERO_FILL segment i of a READ: 0 when the range is zeroed now, 1
	 * when the mode queued an SQE that does it (user_data from ud_make_seg
	 * with its expected result, io->pending counted), or -errno for the
	 * segment's result (a mode that cannot zero memory refuses).
	 */
	int		(*zero_fill)(struct bublk_queue *q, int tag, int i);
};

/* the modes (mode_*.c) */
extern const struct bublk_data_ops bublk_mode_copy;
extern const struct bublk_data_ops bublk_mode_user_copy;
extern const struct bublk_data_ops bublk_mode_zero_copy;
extern const struct bublk_data_ops bublk_mode_zero_copy_fallback;
extern const struct bublk_data_ops bublk_mode_zero_copy_manual;
extern const struct bublk_data_ops bublk_mode_shmem;
extern const struct bublk_data_ops bublk_mode_shmem_sg;

/* per-tag state: the runtime's own record of the request, never the arena's */
struct bublk_io {
	void		*buf;		/* copy-mode data buffer */
	void		*data;		/* this request's data: buf, or shared memory */
	const struct bublk_data_ops *ops; /* this request's data mode */
	__u64		offset;		/* device byte offset */
	__u32		len;
	__u32		flags;		/* BUBLK_REQ_F_* */
	__s32		result;		/* first segment error, or 0 */
	__u16		pending;	/* backend operations in flight */
	__u16		round;		/* bublk_done rounds so far */
	__u8		op;
	__u8		nr_segs;	/* validated segments in io_segs */
	__u8		next;		/* first segment not issued yet */
	__u8		action;		/* what the target answered at dispatch (trace) */
	bool		notify;		/* the target wants bublk_done */
	bool		have_data;	/* ops->before_exec is done (user copy: the WRITE's data is in buf) */
	bool		bad_buf;	/* its data names no buffer of ours: execute() fails it */
	bool		registered;	/* zero copy by hand: its buffer is in the table */
	/* UBLK_IO_F_SHMEM_SG: the data is these pieces, in order (nr_sg > 0) */
	__u8		nr_sg;
	struct iovec	*sg;		/* [BUBLK_SG_MAX_PIECES], allocated with shmem */
	struct iovec	*seg_iov;	/* [max_segs][BUBLK_SG_MAX_PIECES]: readv/writev lists */
	struct __kernel_timespec delay;	/* a BUBLK_SEG_DELAY in flight */
	struct bublk_target *tgt;	/* the target that dispatched it (reloads) */
};

struct bublk_queue {
	struct bublk_dev	*dev;
	int			q_id;
	int			depth;
	struct io_uring		ring;
	struct ublksrv_io_desc	*iods;		/* kernel's request descriptors */
	size_t			iods_bytes;
	size_t			iod_stride;	/* bytes from one descriptor to the next */
	struct bublk_io		*ios;
	struct bublk_seg	*io_segs;	/* [depth][max_segs], validated copies */
	const struct bublk_data_ops *ops;	/* the device's data mode */
	int			mode_fd;	/* a file its setup opened (zero copy: /dev/zero), or -1 */
	bool			zc_force_fallback; /* test hook: every request registered by hand */
	struct bublk_batch_io	*batch;		/* UBLK_F_BATCH_IO state (batch_io.c), or NULL */
	struct bublk_nbd_queue	*nbd;		/* its NBD connections (backend_nbd.c), or NULL */
	/* the kernel engine (engine.c), when the device has it */
	struct bublk_engine_park *engine_park;	/* what the loop handed over (mmapped map) */
	int			engine_map_fd;	/* struct_ops map and link putting it on the ring */
	int			engine_link_fd;
	int			engine_kick_fd;	/* eventfd the loop polls: a reload to attach */
	bool			engine_swap;	/* set by "bublk reload": attach the new target */
	bool			restricted;	/* the ring takes only bublk's opcodes on registered files */
	cpu_set_t		cpus;		/* from GET_QUEUE_AFFINITY */
	/*
	 * This queue's part of the arena. Every target program can write all
	 * of it at any time (and other queues' programs too): the runtime
	 * writes there and reads back only the answer fields of struct
	 * bublk_req and the segments, each copied once and checked.
	 */
	struct bublk_req	*reqs;
	struct bublk_seg	*segs;
	__u16			*tags;		/* a copy of the batch's tags, for the program */
	__u16			*done_tags;	/* the same for bublk_done (the program's copy) */
	__u8			*scratch;	/* [depth][BUBLK_SCRATCH_SIZE] */
	/* the tags the runtime acts on: its own lists, never the arena's */
	__u16			*ready;		/* [depth] newly fetched, for bublk_dispatch */
	__u16			*done;		/* [depth] finished, for bublk_done */
	int			nr_ready;
	int			nr_done;
	int			stop_fd;	/* eventfd: the device is stopping */
	bool			stopping;
	int			nr_gone;	/* commands aborted while quiescing (ctlplane.c) */
	int			start_err;
	sem_t			started;
	pthread_t		thread;
	bool			thread_started;	/* thread is joinable */
	bool			ring_ready;	/* ring set up: io_uring_queue_exit it */
	/* this queue's entries of the bublk_stats and bublk_trace maps (mmapped) */
	struct bublk_stats	*stats;
	struct bublk_trace_rec	*trace;
	__u64			trace_seq;
};

/* user_data: kind in bits 56-63, tag in 40-55, segment in 32-39, expected result in 0-31 */
enum {
	UD_UBLK = 1,		/* FETCH / COMMIT_AND_FETCH */
	UD_BACKEND,		/* one segment on a backend */
	UD_STOP,		/* the stop eventfd fired */
	UD_DATA_IN,		/* a mode's before_exec transfer (user copy: WRITE data pulled) */
	UD_DATA_OUT,		/* a mode's after_segs transfer (user copy: READ data pushed) */
	UD_BATCH_PREP,		/* PREP_IO_CMDS (batch_io.c) */
	UD_BATCH_FETCH,		/* the multishot FETCH_IO_CMDS */
	UD_BATCH_COMMIT,	/* COMMIT_IO_CMDS; the tag field holds its array's index */
	UD_NBD_POLL,		/* an NBD connection's socket (backend_nbd.c): tag = backend, seg = 0 in, 1 out */
	UD_UNREGISTER,		/* UNREGISTER_IO_BUF (zero copy by hand); a CQE only when it failed */
	UD_ENGINE_SEG,		/* a segment the kernel engine issued (engine.bpf.h): its own */
	UD_ENGINE_ANSWERED,	/* parked by the kernel engine: the target's answer awaits exec.c */
	UD_ENGINE_KICK,		/* the kernel engine's wake-up poll (a reload to attach) */
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

/*
 * What a CQE means for the request: 0 when it moved exactly the bytes
 * expected, its -errno, or -EIO for a short transfer.
 */
static inline int cqe_err(int res, __u32 expect)
{
	if (res >= 0)
		return (__u32)res == expect ? 0 : -EIO;
	return res;
}

/*
 * Automatic buffer registration with the FALLBACK flag: where the kernel
 * grants SUPPORT_ZERO_COPY too, a request the driver fails to register is
 * registered by the daemon (mode_zero_copy.c) instead of failing.
 */
static inline bool bublk_zc_fallback(const struct bublk_dev *dev)
{
	return (dev->info.flags & UBLK_F_AUTO_BUF_REG) && (dev->info.flags & UBLK_F_SUPPORT_ZERO_COPY);
}

/* the zero-copy fallback test hook (mode_zero_copy.c): every registration fails */
bool bublk_zc_test_fallback(void);

/* what the arena may hold changes under us: one read, into a local */
#define ARENA_READ(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)

/*
 * The queue's own files (its eventfds, /dev/zero) on a restricted ring
 * (engine.c) sit in the file table after the backends: every SQE there
 * must name a registered file.
 */
enum bublk_own_file { BUBLK_OWN_STOP, BUBLK_OWN_KICK, BUBLK_OWN_ZERO, BUBLK_OWN_NR };

static inline int bublk_own_slot(const struct bublk_queue *q, enum bublk_own_file f)
{
	return 1 + q->dev->nr_backends + f;
}

/* after io_uring_prep_*(sqe, fd, ...) on one of them: its slot, where the ring is restricted */
static inline void bublk_sqe_own_file(const struct bublk_queue *q, struct io_uring_sqe *sqe,
				      enum bublk_own_file f)
{
	if (!q->restricted)
		return;
	sqe->fd = bublk_own_slot(q, f);
	sqe->flags |= IOSQE_FIXED_FILE;
}

/* the kernel's descriptor of tag (read-only, mmapped) */
static inline const struct ublksrv_io_desc *bublk_iod(const struct bublk_queue *q, int tag)
{
	return (const void *)((const char *)q->iods + (size_t)tag * q->iod_stride);
}

/* the validated copies of tag's segments */
static inline struct bublk_seg *io_segs(struct bublk_queue *q, int tag)
{
	return q->io_segs + (size_t)tag * q->dev->max_segs;
}

/* queue.c */
struct io_uring_sqe *bublk_get_sqe(struct bublk_queue *q);
/* one CQE of the queue's ring, whoever reaped it (the thread, or the kernel engine) */
void bublk_handle_cqe(struct bublk_queue *q, const struct io_uring_cqe *cqe);
/* the ring every queue of a depth-deep device gets */
void bublk_queue_ring_params(int depth, unsigned int *entries, struct io_uring_params *p);
/* a zeroed URING_CMD SQE for command cmd_op on /dev/ublkcN (registered file 0), or NULL */
struct io_uring_sqe *bublk_ublk_sqe(struct bublk_queue *q, __u32 cmd_op);
void bublk_complete_io(struct bublk_queue *q, int tag, int err);
void bublk_commit_io(struct bublk_queue *q, int tag, int err);

/* exec.c */
void bublk_execute(struct bublk_queue *q, int tag);
void bublk_issue_stage(struct bublk_queue *q, int tag);
void bublk_seg_done(struct bublk_queue *q, int tag, unsigned int i, int res, __u32 expect);
void bublk_reject(struct bublk_queue *q, int tag, enum bublk_reject why);

/* dispatch.c */
void bublk_dispatch_batch(struct bublk_queue *q);
void bublk_done_batch(struct bublk_queue *q);
void bublk_req_from_io(struct bublk_req *rq, const struct bublk_queue *q, int tag);
/* the kernel engine ran the target for tag and left its answer to us */
void bublk_dispatch_answered(struct bublk_queue *q, int tag);
/* the two values of dev->dispatch */
int bublk_dispatch_bpf(struct bublk_dev *dev, struct bublk_target *tgt, struct bublk_batch *batch);
int bublk_dispatch_c(struct bublk_dev *dev, struct bublk_target *tgt, struct bublk_batch *batch);

/* mode_copy.c: the request's data is one flat buffer at io->data */
void bublk_flat_prep_rw(struct io_uring_sqe *sqe, struct bublk_queue *q, int tag, int i, int fd);
int bublk_flat_zero_fill(struct bublk_queue *q, int tag, int i);

/* mode_shmem.c: a data request on a SHMEM_ZC device, at dispatch */
void bublk_shmem_request(struct bublk_queue *q, int tag, const struct ublksrv_io_desc *iod);

/* batch_io.c: the queue's ublk commands when the device has UBLK_F_BATCH_IO */
int bublk_batch_start(struct bublk_queue *q);	/* PREP every tag, arm FETCH */
void bublk_batch_commit(struct bublk_queue *q, int tag, int res);
void bublk_batch_flush(struct bublk_queue *q);	/* before each submit: COMMIT what is pending */
void bublk_batch_cqe(struct bublk_queue *q, const struct io_uring_cqe *cqe);
void bublk_batch_free(struct bublk_queue *q);

/* stats.c */
void bublk_stats_io(struct bublk_queue *q, int tag, int res);
void bublk_stats_seg(struct bublk_queue *q, int tag);
void bublk_stats_batch(struct bublk_queue *q, int nr);

#endif

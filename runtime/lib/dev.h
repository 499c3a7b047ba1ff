/* SPDX-License-Identifier: MIT */
/* One ublk device served by a BPF target: lifecycle and queues. */
#ifndef BUBLK_DEV_H
#define BUBLK_DEV_H

#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <liburing.h>

#include <bublk/abi.h>
#include "cmap.h"
#include "engine.h"
#include <bublk/engine.h>
#include "ctrl.h"
#include "seg.h"
#include "loader.h"
#include "shmem.h"
#include "sg_hook.h"
#include <bublk/sg_hook.h>
#include <sys/uio.h>

#define BUBLK_DEF_DEPTH		128
#define BUBLK_DEF_QUEUES	1
#define BUBLK_DEF_IO_BYTES	(512U << 10)
/* zero copy allocates nothing per request: as large as the block layer's usual split */
#define BUBLK_ZC_DEF_IO_BYTES	(1U << 20)
#define BUBLK_MAX_RELOADS	64	/* per daemon; then restart it (bublk recover) */
/* what "bublk add" accepts and the device code relies on (fuzz_parse checks both) */
#define BUBLK_MIN_IO_BYTES	BUBLK_PAGE_SIZE		/* --max-io, also its granularity */
#define BUBLK_MAX_IO_BYTES	(1U << UBLK_IO_BUF_BITS)	/* the driver's buffer limit */
#define BUBLK_MAX_CONFIG	16	/* --set KEY=VALUE options per device */
#define BUBLK_MAX_HTLB		4	/* --htlb files per device */

enum bublk_data_mode {
	BUBLK_MODE_AUTO = 0,	/* the fastest the kernel grants: zero copy, user copy, copy */
	BUBLK_MODE_COPY,
	BUBLK_MODE_USER_COPY,
	BUBLK_MODE_ZERO_COPY,	/* the best zero copy granted: AUTO_BUF_REG, else by hand */
	BUBLK_MODE_ZERO_COPY_MANUAL,	/* UBLK_F_SUPPORT_ZERO_COPY alone: registered by the daemon */
};

/* who maps requests to segments */
enum bublk_dispatch_mode {
	BUBLK_DISPATCH_BPF = 0,	/* the target's bublk_dispatch program */
	BUBLK_DISPATCH_C,	/* its C twin (cmap.c): the reference BPF is measured against */
};

struct bublk_dev_opts {
	const char	*target;		/* name or object path */
	const char	*files[BUBLK_MAX_BACKENDS];
	int		nr_files;
	const char	*base;			/* read-only last backend (overlay's base image) */
	__u64		size;			/* 0: the first backend's size */
	int		nr_queues;
	int		depth;
	__u32		max_io_bytes;
	bool		max_io_default;		/* not asked for: the data mode's default */
	bool		readonly;
	bool		rotational;
	__u32		block_size;		/* logical block size: 0 (= 512) or 4096 */
	bool		legacy;			/* force pre-6.4 (non ioctl-encoded) opcodes */
	bool		recovery;		/* UBLK_F_USER_RECOVERY(+REISSUE) */
	bool		recovery_fail_io;	/* with recovery: +FAIL_IO instead of +REISSUE */
	bool		no_part_scan;		/* UBLK_F_NO_AUTO_PART_SCAN */
	bool		batch_io;		/* UBLK_F_BATCH_IO: ublk commands over tag arrays */
	bool		shmem_zc;		/* UBLK_F_SHMEM_ZC + the client socket */
	const char	*htlb[BUBLK_MAX_HTLB];	/* shared files to register (--htlb) */
	int		nr_htlb;
	bool		rdonly_shmem;		/* register them read-only */
	enum bublk_data_mode data_mode;
	enum bublk_dispatch_mode dispatch;
	enum bublk_engine_mode engine;		/* who serves the steady state (engine.h) */
	const char	*config[BUBLK_MAX_CONFIG]; /* "key=value" for the target's bublk_config */
	int		nr_config;
};

struct bublk_queue;

struct bublk_dev {
	struct bublk_ctrl	ctrl;
	struct ublksrv_ctrl_dev_info info;	/* what ADD_DEV granted */
	struct bublk_target	target;		/* the first: owns the arena, counters, trace */
	/*
	 * What new batches run: &target, or the last "bublk reload". Older
	 * targets stay loaded until the device goes, so requests they
	 * dispatched finish under them (their bublk_done).
	 */
	struct bublk_target	*current;
	struct bublk_target	*reloaded[BUBLK_MAX_RELOADS];
	int			nr_reloaded;
	pthread_mutex_t		reload_lock;
	struct bublk_shmem	shmem;		/* UBLK_F_SHMEM_ZC registrations */
	bool			shmem_zc;	/* asked for and granted */
	struct bublk_sg_hook	*sg_hook;	/* the BPF scatter/gather hook, when the driver has it */
	size_t			sg_slots_off;	/* arena offset of its per-tag iov slots */
	struct bublk_cmap	cmap;		/* map set: --dispatch=c */
	/* bublk_dispatch over one batch: the target's BPF, or its C twin (set at load) */
	int			(*dispatch)(struct bublk_dev *dev, struct bublk_target *tgt,
					    struct bublk_batch *batch);
	/* the in-kernel engine (engine.c): chosen after ADD_DEV */
	bool			engine_kernel;
	char			engine_why[160];	/* why this engine, for the log and list */
	struct bublk_engine_cfg	engine_cfg;		/* its .rodata, kept for reloads */
	struct bublk_engine_park *engine_park;		/* [BUBLK_MAX_QUEUES], mmapped */
	size_t			engine_park_bytes;
	struct bublk_backend	backends[BUBLK_MAX_BACKENDS];
	int			nr_backends;
	bool			has_base;	/* the last backend is a read-only base image */
	__u64			size;
	__u32			block_size;	/* logical, as the target left it */
	__u32			max_io_bytes;	/* largest request, as the target left it */
	__u32			attrs;		/* BUBLK_DEV_* */
	__u32			max_segs;
	int			cdev_fd;
	struct bublk_queue	*queues;
	int			nr_queues_started;
	bool			readonly;
	char			config[1024];	/* target options, "k=v;k=v" */
	bool			added;
	bool			started;
	/* bublk quiesce (ctlplane.c): the queues leave once all commands are aborted */
	bool			quiescing;
	int			nr_queues_quiesced;
};

/*
 * Create and start a device: open backends, load the target, ADD_DEV,
 * SET_PARAMS, start the queues, START_DEV. On failure nothing is left
 * behind (the device is deleted) and err says what went wrong.
 */
int bublk_dev_create(struct bublk_dev *dev, const struct bublk_dev_opts *opts,
		     char *err, size_t errlen);

/*
 * Take over a device whose daemon died (created with recovery): the same
 * options as at creation, START_USER_RECOVERY, queues, END_USER_RECOVERY.
 * On failure the device is left as it was, never deleted.
 */
int bublk_dev_recover(struct bublk_dev *dev, const struct bublk_dev_opts *opts, __u32 dev_id,
		      char *err, size_t errlen);

/*
 * Swap in a new build of the device's target (see bublk_target_load_reusing)
 * between batches. On failure the running target keeps serving and err
 * says why.
 */
int bublk_dev_reload(struct bublk_dev *dev, const char *path, char *err, size_t errlen);

/* STOP_DEV, stop the queues, DEL_DEV, release everything */
void bublk_dev_destroy(struct bublk_dev *dev);

/* stats.c */
/* sum of every queue's counters */
void bublk_stats_sum(const struct bublk_stats *per_queue, int nr_queues, struct bublk_stats *sum);
/* the daemon's counters, once, into its log */
void bublk_log_stats(const struct bublk_dev *dev);

/* queue.c */
/*
 * Allocate the queue's state and start its thread, which sets up the ring
 * and fetches every tag. On failure everything it did is undone, so
 * bublk_queue_stop() on it (or on a queue never started) does nothing.
 */
/* dev_start.c: shared by bublk_dev_create and bublk_dev_recover */
size_t bublk_queue_arena_bytes(int depth, __u32 max_segs);
int bublk_wait_for_node(const char *path);
int bublk_dev_set_params(struct bublk_dev *dev, bool readonly);
int bublk_dev_start_queues(struct bublk_dev *dev, char *err, size_t errlen);

int bublk_queue_start(struct bublk_dev *dev, struct bublk_queue *q, int q_id);
void bublk_queue_stop(struct bublk_queue *q);

/* mode_shmem.c */
/*
 * Decode a scattered request's iov (UBLK_IO_F_SHMEM_SG): iod_addr must be
 * slot number slot of the scatter/gather hook's slots, which lie slots_off
 * bytes into the arena mapped here at arena (BUBLK_ARENA_ADDR, or higher
 * under ASan), slot_bytes each. The iov is in memory targets write while we
 * read it: each field is read once and only that copy is checked and used.
 * Every piece must lie inside a buffer of shm and the pieces must add up to
 * len. Fills out[] (BUBLK_SG_MAX_PIECES) and returns the number of pieces,
 * or -EINVAL.
 */
int bublk_sg_decode(const void *arena, size_t slots_off, size_t slot_bytes, __u32 slot,
		    __u64 iod_addr, __u32 len, struct bublk_shmem *shm, struct iovec *out);

/* backend.c */
int bublk_backend_open(struct bublk_backend *b, const char *path, bool readonly,
		       char *err, size_t errlen);
void bublk_backend_close(struct bublk_backend *b);

#endif

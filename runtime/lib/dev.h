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
#include "ctrl.h"
#include "seg.h"
#include "loader.h"

#define BUBLK_DEF_DEPTH		128
#define BUBLK_DEF_QUEUES	1
#define BUBLK_MAX_QUEUES	32
#define BUBLK_DEF_IO_BYTES	(512U << 10)

enum bublk_data_mode {
	BUBLK_MODE_AUTO = 0,	/* user copy when the kernel grants it, else copy */
	BUBLK_MODE_COPY,
	BUBLK_MODE_USER_COPY,
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
	__u64		size;			/* 0: the first backend's size */
	int		nr_queues;
	int		depth;
	__u32		max_io_bytes;
	bool		readonly;
	bool		legacy;			/* force pre-6.4 (non ioctl-encoded) opcodes */
	bool		recovery;		/* UBLK_F_USER_RECOVERY(+REISSUE) */
	enum bublk_data_mode data_mode;
	enum bublk_dispatch_mode dispatch;
	const char	*config[16];		/* "key=value" for the target's bublk_config */
	int		nr_config;
};

/* per-tag state */
struct bublk_io {
	void		*buf;		/* copy-mode data buffer */
	__s32		result;		/* first segment error, or 0 */
	__u16		pending;	/* backend operations in flight */
	__u8		op;
	__u8		nr_segs;	/* validated segments in io_segs */
	__u32		len;
	__u32		flags;		/* BUBLK_REQ_F_* */
};

/* counters a queue owns (no sharing between queues on the hot path) */
struct bublk_queue_stats {
	__u64	reqs;
	__u64	bytes;
	__u64	errors;
	__u64	segs;
	__u64	fallbacks;
	__u64	batches;
	__u64	dispatch_errors;
	__u64	rejects[BUBLK_REJ_NR];
};

struct bublk_dev;

struct bublk_queue {
	struct bublk_dev	*dev;
	int			q_id;
	int			depth;
	struct io_uring		ring;
	struct ublksrv_io_desc	*iods;		/* kernel's request descriptors */
	size_t			iods_bytes;
	struct bublk_io		*ios;
	struct bublk_seg	*io_segs;	/* [depth][max_segs], validated copies */
	bool			user_copy;
	cpu_set_t		cpus;		/* from GET_QUEUE_AFFINITY */
	/* this queue's part of the arena */
	struct bublk_req	*reqs;
	struct bublk_seg	*segs;
	__u16			*tags;
	int			nr_ready;
	int			stop_fd;	/* eventfd: the device is stopping */
	bool			stopping;
	int			start_err;
	sem_t			started;
	pthread_t		thread;
	struct bublk_queue_stats stats;
};

struct bublk_dev {
	struct bublk_ctrl	ctrl;
	struct ublksrv_ctrl_dev_info info;	/* what ADD_DEV granted */
	struct bublk_target	target;
	struct bublk_cmap	cmap;		/* map set: --dispatch=c */
	struct bublk_backend	backends[BUBLK_MAX_BACKENDS];
	int			nr_backends;
	__u64			size;
	__u32			max_segs;
	int			cdev_fd;
	struct bublk_queue	*queues;
	int			nr_queues_started;
	bool			readonly;
	char			config[1024];	/* target options, "k=v;k=v" */
	bool			added;
	bool			started;
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

/* STOP_DEV, stop the queues, DEL_DEV, release everything */
void bublk_dev_destroy(struct bublk_dev *dev);

/* sum of every queue's counters */
void bublk_dev_stats(const struct bublk_dev *dev, struct bublk_queue_stats *sum);

/* queue.c */
int bublk_queue_start(struct bublk_dev *dev, struct bublk_queue *q, int q_id);
void bublk_queue_stop(struct bublk_queue *q);

/* backend.c */
int bublk_backend_open(struct bublk_backend *b, const char *path, bool readonly,
		       char *err, size_t errlen);
void bublk_backend_close(struct bublk_backend *b);

#endif

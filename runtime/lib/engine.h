/* SPDX-License-Identifier: MIT */
/*
 * Who serves a queue's steady state: the user-space engine (the queue
 * thread, queue.c) or the in-kernel one (bublk's loop_step program inside
 * io_uring_enter, Linux 7.1+; engine.c, bpf/engine.bpf.h,
 * docs/kernel-engine.md).
 */
#ifndef BUBLK_ENGINE_RT_H
#define BUBLK_ENGINE_RT_H

#include <stdbool.h>
#include <stddef.h>

struct bublk_dev;
struct bublk_dev_opts;
struct bublk_queue;
struct bublk_target;

enum bublk_engine_mode {
	BUBLK_ENGINE_AUTO = 0,	/* kernel where it can serve the device, else user */
	BUBLK_ENGINE_USER,
	BUBLK_ENGINE_KERNEL,
};

/* 0 when the running kernel has io_uring_bpf_ops (its BTF), else -ENOENT */
int bublk_engine_probe(void);

/*
 * After ADD_DEV, before the target is loaded: choose the engine for the
 * device (dev->engine_kernel, dev->engine_why). For the kernel engine the
 * target object is swapped for its NAME.kern.o twin and prepared for
 * load. -errno with err set when --engine kernel cannot be had.
 */
int bublk_engine_choose(struct bublk_dev *dev, const struct bublk_dev_opts *o,
			char *err, size_t errlen);

/* open path's kernel-engine twin into t and prepare it for dev ("bublk reload") */
int bublk_engine_open(struct bublk_dev *dev, struct bublk_target *t, const char *path,
		      char *err, size_t errlen);

/* after load: map what the runtime reads of the engine (its park area) */
int bublk_engine_loaded(struct bublk_dev *dev, char *err, size_t errlen);
void bublk_engine_release(struct bublk_dev *dev);

/*
 * In the queue thread: before the first submission on its (disabled) ring,
 * register the queue's own files, restrict the ring and enable it; once
 * the FETCHes are in, attach, and serve until stopped.
 */
int bublk_engine_ring_prepare(struct bublk_queue *q);
int bublk_engine_attach(struct bublk_queue *q);
void bublk_engine_run(struct bublk_queue *q);
void bublk_engine_detach(struct bublk_queue *q);

/* "bublk reload" loaded a new kern object: every queue attaches it between loop entries */
void bublk_engine_swap(struct bublk_dev *dev);

#endif

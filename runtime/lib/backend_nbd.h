/* SPDX-License-Identifier: MIT */
/*
 * NBD backends (docs/nbd.md): an export on an NBD server instead of a
 * file. The device opens one connection to check it (size, read-only,
 * what the server can do); each queue then has its own connection, driven
 * by libnbd's asynchronous API from the queue's io_uring loop.
 */
#ifndef BUBLK_BACKEND_NBD_H
#define BUBLK_BACKEND_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "nbd_url.h"

/* struct bublk_backend.nbd_caps */
#define BUBLK_NBD_CAN_FLUSH	0x01
#define BUBLK_NBD_CAN_FUA	0x02
#define BUBLK_NBD_CAN_TRIM	0x04
#define BUBLK_NBD_CAN_ZERO	0x08
#define BUBLK_NBD_CAN_MULTI_CONN 0x10	/* a flush on one connection covers all */

struct bublk_backend;
struct bublk_dev;
struct bublk_dev_opts;
struct bublk_queue;

/*
 * Connect to url once and fill in b (size, read-only, caps, block size);
 * the connection is closed again. A read-only export needs readonly. 0 or
 * -errno with err saying what to do.
 */
int bublk_nbd_backend_open(struct bublk_backend *b, const char *url, bool readonly,
			   char *err, size_t errlen);

/* the device has an NBD backend (its data mode must keep data in our memory) */
bool bublk_dev_has_nbd(const struct bublk_dev *dev);

/*
 * What the device's options must respect once its NBD backends are open:
 * no --shmem-zc, several queues only with multi-conn servers, a block size
 * the servers accept (raised to 4096 when one asks for it and none was
 * given). 0 or -errno with err.
 */
int bublk_nbd_dev_check(struct bublk_dev *dev, const struct bublk_dev_opts *o,
			char *err, size_t errlen);

/* in the queue thread, before the first FETCH: connect every NBD backend */
int bublk_nbd_queue_setup(struct bublk_queue *q);
/* close the queue's connections and free its state (after the loop ended) */
void bublk_nbd_queue_release(struct bublk_queue *q);
/* segment i of tag on an NBD backend: always counted in io->pending */
void bublk_nbd_queue_seg(struct bublk_queue *q, int tag, int i);
/* a UD_NBD_POLL completion: the connection's socket is ready */
void bublk_nbd_poll_cqe(struct bublk_queue *q, __u64 ud, int res);
/*
 * After each pass of the loop: finish the segments libnbd completed
 * (never from inside its callbacks, which hold its lock) and arm the polls
 * the connections need.
 */
void bublk_nbd_run(struct bublk_queue *q);

#endif

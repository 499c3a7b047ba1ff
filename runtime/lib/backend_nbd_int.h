/* SPDX-License-Identifier: MIT */
/*
 * What backend_nbd.c (the segments: commands and their completions) and
 * nbd_conn.c (a connection's life on the queue's ring: polls, failure,
 * reconnection) share. Private to those two files.
 */
#ifndef BUBLK_BACKEND_NBD_INT_H
#define BUBLK_BACKEND_NBD_INT_H

#include <libnbd.h>

#include "backend_nbd.h"
#include "queue.h"

/* what a UD_NBD_POLL completion is (its seg field); tag = backend, expect = generation */
enum { DIR_IN, DIR_OUT, UD_NBD_REMOVED, UD_NBD_RETRY };

enum conn_state {
	CONN_NONE,		/* not an NBD backend */
	CONN_UP,		/* transmission phase: segments go to it */
	CONN_DOWN,		/* lost: segments fail with EIO, a retry timer is on the ring */
	CONN_CONNECTING,	/* a new connection's handshake is under way */
};

struct nbd_conn {
	struct nbd_handle *h;		/* NULL while down */
	struct bublk_nbd_url *url;	/* where to reconnect */
	int		fd;		/* libnbd's socket, polled (not a registered file) */
	__u32		gen;		/* of h: completions for an older handle are dropped */
	__u8		caps;		/* BUBLK_NBD_CAN_* of this connection */
	__u8		state;		/* enum conn_state */
	bool		armed[2];	/* a POLLIN / POLLOUT poll is on the ring */
	bool		refused_logged;	/* libnbd refused a command: logged once */
	bool		mismatch_logged; /* a reconnect found another export: logged once */
	__u32		attempts;	/* reconnections tried since it went down */
	__u32		backoff_ms;
	struct __kernel_timespec retry_ts;
};

/* one segment's NBD command: at most one per (tag, segment) at a time */
struct nbd_op {
	struct bublk_nbd_queue *nq;
	__u16		tag;
	__u8		seg;
	bool		then_flush;	/* a FUA write on a server without FUA: flush next */
	int		err;		/* its errno from libnbd (or ours), 0 */
};

struct bublk_nbd_queue {
	struct nbd_conn	conns[BUBLK_MAX_BACKENDS];
	struct nbd_op	*ops;		/* [depth * max_segs] */
	__u32		*fin;		/* ring of finished ops, not yet handed on */
	__u32		nr_ops, head, count;
};

/* BUBLK_NBD_CAN_* of a connected handle */
__u8 nbd_caps_of(struct nbd_handle *h);
/* connection i (up or reconnecting) is lost: down, its retry timer armed */
void nbd_conn_failed(struct bublk_queue *q, int i, const char *what);
/* after each pass and at setup: finish handshakes, arm what each socket needs */
void nbd_arm_polls(struct bublk_queue *q);

#endif

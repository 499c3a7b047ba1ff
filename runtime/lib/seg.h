/* SPDX-License-Identifier: MIT */
/* Checking what a target emitted before anything acts on it. */
#ifndef BUBLK_SEG_H
#define BUBLK_SEG_H

#include <stdbool.h>
#include <bublk/abi.h>

struct bublk_backend {
	int	fd;
	__u64	size;
	bool	readonly;
	bool	direct;		/* opened O_DIRECT (block devices) */
	bool	zero_by_punch;	/* no FALLOC_FL_ZERO_RANGE here (tmpfs): punch holes */
	__u32	dma_align;	/* memory alignment mask its O_DIRECT I/O needs (block devices), or 0 */
	__u32	max_segments;	/* its queue's segments per request (block devices), or 0 */
	__u32	max_segment_size; /* and bytes per segment, or 0 */
	/* an NBD export (backend_nbd.c): fd is -1, each queue has its own connection */
	bool	nbd;
	__u8	nbd_caps;	/* BUBLK_NBD_CAN_*: what its server advertised */
	__u32	min_block;	/* the server's smallest request size, or 0 (any) */
	char	path[4096];
};

/* why a request was refused; counted per reason */
enum bublk_reject {
	BUBLK_REJ_NONE = 0,
	BUBLK_REJ_ACTION,		/* unknown action, or no answer */
	BUBLK_REJ_TOO_MANY_SEGS,
	BUBLK_REJ_OP,			/* unknown segment op */
	BUBLK_REJ_RESERVED,		/* unknown flag, or reserved field set */
	BUBLK_REJ_BACKEND,		/* no such backend */
	BUBLK_REJ_LENGTH,		/* zero-length data segment */
	BUBLK_REJ_DATA_RANGE,		/* outside the request's data */
	BUBLK_REJ_BACKEND_RANGE,	/* past the backend's end */
	BUBLK_REJ_DIRECTION,		/* READ seg on a write request, or the reverse */
	BUBLK_REJ_READONLY,		/* modifying a read-only backend */
	BUBLK_REJ_STAGE_ORDER,		/* stages not in non-decreasing order */
	BUBLK_REJ_ROUNDS,		/* bublk_done never finished the request */
	BUBLK_REJ_OVERLAP,		/* two READ segments fill the same request bytes */
	BUBLK_REJ_NR,
};

const char *bublk_reject_name(enum bublk_reject r);

/* the answer as a whole: action known, segment count in range */
enum bublk_reject bublk_answer_check(const struct bublk_req *rq, unsigned int max_segs);

/*
 * One descriptor against its request, the device's backends and the tag's
 * scratch (BUBLK_SCRATCH_SIZE bytes). Stage order is the caller's check.
 */
enum bublk_reject bublk_seg_check(const struct bublk_req *rq, const struct bublk_seg *s,
				  const struct bublk_backend *backends, unsigned int nr_backends);

/*
 * A request's whole answer: every descriptor, stages in non-decreasing
 * order, at most one DELAY, and that no two READ segments of one stage land
 * on the same bytes of the request's data (their order of completion would
 * decide what the client reads). The first reason found.
 */
enum bublk_reject bublk_segs_check(const struct bublk_req *rq, const struct bublk_seg *segs,
				   unsigned int n, const struct bublk_backend *backends,
				   unsigned int nr_backends);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Test-only hostile target: identity mapping below 1 MiB, but for any
 * request at or past 1 MiB it emits a segment past the backend's end. The
 * runtime must fail exactly those requests with EIO and keep serving.
 */
#include "bublk.bpf.h"

static __always_inline int bad_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	__u8 op = rq->op == BUBLK_OP_WRITE ? BUBLK_SEG_WRITE : BUBLK_SEG_READ;

	if (rq->op != BUBLK_OP_READ && rq->op != BUBLK_OP_WRITE)
		return bublk_complete(e, 0);
	if (rq->offset >= (1 << 20)) {
		bublk_emit(e, op, 0, 1ULL << 40, 0, rq->len);
		return BUBLK_ACT_EXEC;
	}
	bublk_emit(e, op, 0, rq->offset, 0, rq->len);
	return BUBLK_ACT_EXEC;
}

BUBLK_TARGET("bad_range", bad_map);

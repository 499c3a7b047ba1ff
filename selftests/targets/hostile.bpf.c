/* SPDX-License-Identifier: MIT */
/*
 * Test-only hostile target: the identity mapping (like loop) below 1 MiB;
 * at or past 1 MiB it answers with the mistake chosen by --set mode=N:
 *
 *   0  none (behaves like loop everywhere)
 *   1  data_range     a segment past the end of the request's data
 *   2  too_many_segs  claims more descriptors than the request has room for
 *   3  bad_backend    a backend index the device does not have
 *   4  backend_range  a segment straddling the backend's end
 *   5  overlap        two READ segments filling the same request bytes
 *                     (writes stay correct: only reads are hostile)
 *   6  bad_op         a segment op that does not exist
 *   7  bad_action     an action that does not exist
 *   8  rounds         a read whose bublk_done never finishes it: every
 *                     round emits the same READ again (writes stay correct)
 *
 * The runtime must fail exactly those requests with EIO, count them by
 * reason, touch nothing outside the request's buffer or the backend, and
 * keep serving everything else.
 */
#include "bublk.bpf.h"

struct hostile_config {
	__u64	mode;
};
BUBLK_CONFIG(struct hostile_config);

#define HOSTILE_FROM	(1ULL << 20)

static __always_inline int hostile_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct hostile_config *cfg = bublk_config_get();
	struct bublk_dev_info *di = bublk_dev_info();
	__u8 op = rq->op == BUBLK_OP_WRITE ? BUBLK_SEG_WRITE : BUBLK_SEG_READ;
	__u64 mode;

	if (!cfg || !di)
		return bublk_complete(e, -EIO);
	if (rq->op != BUBLK_OP_READ && rq->op != BUBLK_OP_WRITE)
		return bublk_complete(e, 0);
	mode = rq->offset >= HOSTILE_FROM ? cfg->mode : 0;
	switch (mode) {
	case 1:
		bublk_emit(e, op, 0, rq->offset, rq->len, 4096);
		return BUBLK_ACT_EXEC;
	case 2:
		bublk_emit(e, op, 0, rq->offset, 0, rq->len);
		e->n = BUBLK_MAX_SEGS + 1;
		return BUBLK_ACT_EXEC;
	case 3:
		bublk_emit(e, op, 3, rq->offset, 0, rq->len);
		return BUBLK_ACT_EXEC;
	case 4:
		bublk_emit(e, op, 0, di->backend_size[0] - 512, 0, rq->len);
		return BUBLK_ACT_EXEC;
	case 5:
		bublk_emit(e, op, 0, rq->offset, 0, rq->len);
		if (op == BUBLK_SEG_READ)
			bublk_emit(e, op, 0, rq->offset, 0, rq->len);
		return BUBLK_ACT_EXEC;
	case 6:
		bublk_emit(e, 0x7f, 0, rq->offset, 0, rq->len);
		return BUBLK_ACT_EXEC;
	case 7:
		return 42;
	case 8:
		if (op == BUBLK_SEG_READ)
			bublk_notify(e);	/* bublk_done below never lets go */
		break;
	}
	bublk_emit(e, op, 0, rq->offset, 0, rq->len);
	return BUBLK_ACT_EXEC;
}

BUBLK_TARGET("hostile", hostile_map);

/* mode 8: ask for one more round, forever; the runtime stops it */
static __always_inline int hostile_done(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct hostile_config *cfg = bublk_config_get();

	if (!cfg || cfg->mode != 8 || rq->op != BUBLK_OP_READ || rq->offset < HOSTILE_FROM)
		return bublk_complete(e, rq->result);
	bublk_emit(e, BUBLK_SEG_READ, 0, rq->offset, 0, rq->len);
	bublk_notify(e);
	return BUBLK_ACT_EXEC;
}

BUBLK_DONE(hostile_done);

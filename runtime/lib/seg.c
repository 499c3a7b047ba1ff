// SPDX-License-Identifier: MIT
/*
 * The runtime trusts nothing a target wrote: a bad answer fails only its
 * own request (-EIO) and is counted; nothing outside the request's buffer
 * or a backend's range is ever touched.
 */
#include "seg.h"

const char *bublk_reject_name(enum bublk_reject r)
{
	static const char *const names[BUBLK_REJ_NR] = {
		[BUBLK_REJ_NONE] = "none",
		[BUBLK_REJ_ACTION] = "bad_action",
		[BUBLK_REJ_TOO_MANY_SEGS] = "too_many_segs",
		[BUBLK_REJ_OP] = "bad_op",
		[BUBLK_REJ_RESERVED] = "reserved_set",
		[BUBLK_REJ_BACKEND] = "bad_backend",
		[BUBLK_REJ_LENGTH] = "zero_length",
		[BUBLK_REJ_DATA_RANGE] = "data_range",
		[BUBLK_REJ_BACKEND_RANGE] = "backend_range",
		[BUBLK_REJ_DIRECTION] = "wrong_direction",
		[BUBLK_REJ_READONLY] = "readonly_backend",
		[BUBLK_REJ_STAGE_ORDER] = "stage_order",
		[BUBLK_REJ_ROUNDS] = "too_many_rounds",
		[BUBLK_REJ_OVERLAP] = "overlapping_reads",
	};

	return (unsigned int)r < BUBLK_REJ_NR ? names[r] : "unknown";
}

enum bublk_reject bublk_answer_check(const struct bublk_req *rq, unsigned int max_segs)
{
	switch (rq->action) {
	case BUBLK_ACT_EXEC:
		if (rq->nr_segs > max_segs || rq->nr_segs > BUBLK_MAX_SEGS)
			return BUBLK_REJ_TOO_MANY_SEGS;
		return BUBLK_REJ_NONE;
	case BUBLK_ACT_COMPLETE:
	case BUBLK_ACT_FALLBACK:
		return BUBLK_REJ_NONE;
	default:
		return BUBLK_REJ_ACTION;
	}
}

/* a + b <= limit, without overflow */
static bool fits(__u64 a, __u64 b, __u64 limit)
{
	return a <= limit && b <= limit - a;
}

enum bublk_reject bublk_seg_check(const struct bublk_req *rq, const struct bublk_seg *s,
				  const struct bublk_backend *backends, unsigned int nr_backends)
{
	const struct bublk_backend *b;
	bool arena = s->flags & BUBLK_SEG_F_ARENA;

	if (s->op < BUBLK_SEG_READ || s->op >= BUBLK_SEG_OP_MAX)
		return BUBLK_REJ_OP;
	if (s->flags & ~BUBLK_SEG_F_ARENA)
		return BUBLK_REJ_RESERVED;
	if (s->op == BUBLK_SEG_ZERO_FILL) {
		/* fills the READ's own data: no backend, no arena */
		if (arena || s->backend)
			return BUBLK_REJ_RESERVED;
		if (rq->op != BUBLK_OP_READ)
			return BUBLK_REJ_DIRECTION;
		if (!s->len)
			return BUBLK_REJ_LENGTH;
		return fits(s->data_off, s->len, rq->len) ? BUBLK_REJ_NONE : BUBLK_REJ_DATA_RANGE;
	}
	if (s->op == BUBLK_SEG_DELAY) {
		if (arena || s->backend)
			return BUBLK_REJ_RESERVED;
		return s->len <= BUBLK_MAX_DELAY_US ? BUBLK_REJ_NONE : BUBLK_REJ_LENGTH;
	}
	if (s->backend >= nr_backends)
		return BUBLK_REJ_BACKEND;
	b = &backends[s->backend];
	if (s->op == BUBLK_SEG_FLUSH)
		return arena ? BUBLK_REJ_RESERVED : BUBLK_REJ_NONE;	/* whole backend */
	if (!s->len)
		return BUBLK_REJ_LENGTH;
	if (!fits(s->backend_off, s->len, b->size))
		return BUBLK_REJ_BACKEND_RANGE;
	if (b->readonly && s->op != BUBLK_SEG_READ)
		return BUBLK_REJ_READONLY;
	if (arena) {
		/* metadata: any request may read or write the tag's scratch */
		if (s->op != BUBLK_SEG_READ && s->op != BUBLK_SEG_WRITE)
			return BUBLK_REJ_RESERVED;
		return fits(s->data_off, s->len, BUBLK_SCRATCH_SIZE) ? BUBLK_REJ_NONE :
								     BUBLK_REJ_DATA_RANGE;
	}
	switch (s->op) {
	case BUBLK_SEG_READ:
		if (rq->op != BUBLK_OP_READ)
			return BUBLK_REJ_DIRECTION;
		break;
	case BUBLK_SEG_WRITE:
		if (rq->op != BUBLK_OP_WRITE)
			return BUBLK_REJ_DIRECTION;
		break;
	default:
		return BUBLK_REJ_NONE;	/* DISCARD / WRITE_ZEROES carry no data */
	}
	if (!fits(s->data_off, s->len, rq->len))
		return BUBLK_REJ_DATA_RANGE;
	return BUBLK_REJ_NONE;
}

enum bublk_reject bublk_segs_check(const struct bublk_req *rq, const struct bublk_seg *segs,
				   unsigned int n, const struct bublk_backend *backends,
				   unsigned int nr_backends)
{
	enum bublk_reject why;

	unsigned int delays = 0;

	for (unsigned int i = 0; i < n; i++) {
		why = bublk_seg_check(rq, &segs[i], backends, nr_backends);
		if (why)
			return why;
		if (i && segs[i].stage < segs[i - 1].stage)
			return BUBLK_REJ_STAGE_ORDER;
		/* the runtime keeps one timer per request */
		if (segs[i].op == BUBLK_SEG_DELAY && delays++)
			return BUBLK_REJ_RESERVED;
	}
	/*
	 * Two READs of one stage into the same request bytes race. n <=
	 * BUBLK_MAX_SEGS and almost always 1: pairwise is cheaper than
	 * sorting. Ranges are known to lie inside rq->len here, no overflow.
	 */
	for (unsigned int i = 0; i < n; i++) {
		if (segs[i].op != BUBLK_SEG_READ || segs[i].flags & BUBLK_SEG_F_ARENA)
			continue;
		for (unsigned int j = i + 1; j < n; j++) {
			if (segs[j].op != BUBLK_SEG_READ || segs[j].flags & BUBLK_SEG_F_ARENA ||
			    segs[j].stage != segs[i].stage)
				continue;
			if (segs[i].data_off < segs[j].data_off + segs[j].len &&
			    segs[j].data_off < segs[i].data_off + segs[i].len)
				return BUBLK_REJ_OVERLAP;
		}
	}
	return BUBLK_REJ_NONE;
}

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
 *
 * Modes 9-12 answer every request correctly, then rewrite the batch's tag
 * list in the arena after a request at or past 1 MiB (security review 1):
 *
 *   9  tag_60000      its entry in the tag list becomes 60000
 *  10  tag_depth      its entry becomes depth (one past the last tag)
 *  11  tag_dup0       its entry and every later one of the batch become 0
 *                     (the later ones are then mapped as tag 0: their own
 *                     slots stay unanswered)
 *  12  done_60000     it asks for bublk_done; at dispatch it writes 60000
 *                     over the first entries of the queue's bublk_done list,
 *                     and bublk_done writes 60000 over its own list
 *
 * The runtime acts only on its own copy of the tags: the requests complete
 * normally (or, in mode 11, those mapped as tag 0 fail with EIO), and the
 * daemon keeps serving.
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
	case 12:
		bublk_notify(e);
		break;
	}
	bublk_emit(e, op, 0, rq->offset, 0, rq->len);
	return BUBLK_ACT_EXEC;
}

/*
 * BUBLK_TARGET, spelled out: the dispatcher rewrites the tag list behind
 * the requests it answered (modes 9-12).
 */
const volatile __u32 bublk_abi_version = BUBLK_ABI_VERSION;
const volatile char bublk_target_name[32] = "hostile";
char _license[] SEC("license") = "GPL";

#define TAG_WILD	60000

struct hostile_loop {
	struct __bublk_loop	l;
	__u32			nr;
	__u32			dup;	/* mode 11: a hostile request came earlier in the batch */
};

static __always_inline __u64 hostile_mode(void)
{
	struct hostile_config *cfg = bublk_config_get();

	return cfg ? cfg->mode : 0;
}

/* a data request at or past 1 MiB (the slot holds what the runtime wrote) */
static __always_inline bool hostile_req(const struct __bublk_loop *l, __u32 tag)
{
	volatile struct bublk_req __arena *ar =
		(volatile struct bublk_req __arena *)(l->reqs + tag * sizeof(struct bublk_req));

	return ar->offset >= HOSTILE_FROM && (ar->op == BUBLK_OP_READ || ar->op == BUBLK_OP_WRITE);
}

static long hostile_dispatch_one(__u64 i, void *data)
{
	struct hostile_loop *h = data;
	struct __bublk_loop *l = &h->l;
	volatile __u16 __arena *slot = (volatile __u16 __arena *)(l->tags + i * sizeof(__u16));
	volatile __u16 __arena *done;
	__u64 mode = hostile_mode();
	__u32 mine = *slot;

	if (mode == 11 && h->dup)
		*slot = 0;	/* mapped below as tag 0, its own slot left unanswered */
	__BUBLK_RUN_ONE(hostile_map, i, l);
	if (h->dup || mine >= l->depth || !hostile_req(l, mine))
		return 0;
	switch (mode) {
	case 9:
		*slot = TAG_WILD;
		break;
	case 10:
		*slot = l->depth;
		break;
	case 11:
		*slot = 0;
		h->dup = 1;
		break;
	case 12:
		/* the runtime's layout: the done list follows the page-aligned tag list */
		done = (volatile __u16 __arena *)(l->tags + ((l->depth * sizeof(__u16) +
				BUBLK_PAGE_SIZE - 1) & ~(__u64)(BUBLK_PAGE_SIZE - 1)));
		done[0] = TAG_WILD;
		done[1] = TAG_WILD;
		done[2] = TAG_WILD;
		done[3] = TAG_WILD;
		break;
	}
	return 0;
}

SEC("syscall")
int bublk_dispatch(struct bublk_batch *ctx)
{
	struct hostile_loop h = {};
	__u32 nr = ctx->nr;

	bublk_use_arena();
	if (nr > BUBLK_MAX_BATCH)
		nr = BUBLK_MAX_BATCH;
	h.l.reqs = ctx->reqs;
	h.l.segs = ctx->segs;
	h.l.tags = ctx->tags;
	h.l.scratch = ctx->scratch;
	h.l.scratch_size = ctx->scratch_size;
	h.l.max_segs = ctx->max_segs;
	h.l.depth = ctx->depth;
	h.nr = nr;
	bpf_loop(nr, hostile_dispatch_one, &h, 0);
	ctx->answered = h.l.answered;
	return 0;
}

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

/* mode 12: bublk_done rewrites its own tag list (the queue's done list) too */
static long hostile_done_one(__u64 i, void *data)
{
	struct __bublk_loop *l = data;
	volatile __u16 __arena *slot = (volatile __u16 __arena *)(l->tags + i * sizeof(__u16));

	__BUBLK_RUN_ONE(hostile_done, i, l);
	if (hostile_mode() == 12)
		*slot = TAG_WILD;
	return 0;
}
__BUBLK_BATCH_PROG(bublk_done, hostile_done_one)

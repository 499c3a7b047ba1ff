/* SPDX-License-Identifier: MIT */
/*
 * stripe (RAID0): the device is cut in chunks dealt round-robin to the
 * backends: chunk c lives on backend c % N at offset (c / N) * chunk.
 * A request crossing chunk boundaries becomes one segment per piece.
 */
#include "bublk.bpf.h"

#ifndef EFBIG
#define EFBIG	27	/* bublk_init: the chunk is larger than a backend */
#endif

struct stripe_config {
	__u64	chunk;		/* bytes, a power of two >= 4K; 0 = 64K */
};
BUBLK_CONFIG(struct stripe_config);

/* what split() hands its per-piece step (bublk_emit is the caller's) */
struct stripe_walk {
	struct bublk_emit	*e;
	__u64			off;	/* device offset of the next piece */
	__u64			done;	/* bytes of the request placed */
	__u64			chunk;
	__u32			left;
	__u32			n;	/* backends */
	__u8			op;
	__u8			failed;
};

/* the next piece: the rest of off's chunk, or of the request */
static long stripe_step(__u64 i, void *data)
{
	struct stripe_walk *w = data;
	__u64 c = w->off / w->chunk;
	__u64 within = w->off - c * w->chunk;
	__u64 take = w->chunk - within;

	if (take > w->left)
		take = w->left;
	if (bublk_emit(w->e, w->op, c % w->n, (c / w->n) * w->chunk + within, w->done, take)) {
		w->failed = 1;
		return 1;
	}
	w->off += take;
	w->done += take;
	w->left -= take;
	return !w->left;
}

/*
 * One segment per piece, through bpf_loop(): the verifier checks one step
 * instead of 32 unrolled steps inlined once per op, which cost it 86,000
 * instructions on 6.18, near the budget of selftests/host/bpf_targets.c.
 */
static __always_inline int split(const struct bublk_req *rq, struct bublk_emit *e,
				 __u8 op, __u64 chunk, __u32 n)
{
	struct stripe_walk w = {
		.e = e, .off = rq->offset, .chunk = chunk, .left = rq->len, .n = n, .op = op,
	};

	if (w.left)
		bpf_loop(BUBLK_MAX_SEGS, stripe_step, &w, 0);
	/* more pieces than descriptors: bublk_init keeps chunk large enough */
	return w.failed || w.left ? bublk_complete(e, -EIO) : BUBLK_ACT_EXEC;
}

static __always_inline int stripe_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct stripe_config *cfg = bublk_config_get();
	struct bublk_dev_info *di = bublk_dev_info();
	__u32 n;
	__u8 op;

	if (!cfg || !di || !cfg->chunk || !di->nr_backends)
		return bublk_complete(e, -EIO);
	n = di->nr_backends;
	switch (rq->op) {
	case BUBLK_OP_READ:
		op = BUBLK_SEG_READ;
		break;
	case BUBLK_OP_WRITE:
		op = BUBLK_SEG_WRITE;
		break;
	case BUBLK_OP_DISCARD:
		op = BUBLK_SEG_DISCARD;
		break;
	case BUBLK_OP_WRITE_ZEROES:
		op = BUBLK_SEG_WRITE_ZEROES;
		break;
	case BUBLK_OP_FLUSH:
		for (__u32 i = 0; i < BUBLK_MAX_BACKENDS && i < n; i++)
			if (bublk_emit(e, BUBLK_SEG_FLUSH, i, 0, 0, 0))
				return bublk_complete(e, -EIO);
		return BUBLK_ACT_EXEC;
	default:
		return bublk_complete(e, -EOPNOTSUPP);
	}
	/* one call site for every op: the verifier walks split() once */
	return split(rq, e, op, cfg->chunk, n);
}

BUBLK_HELP("stripe (RAID0): chunk c on backend c % N at offset (c / N) * chunk.\n  bublk add -t stripe -f a.img,b.img,c.img,d.img --chunk 64K\nchunk: a power of two >= 4K (default 64K); a largest request must fit 32 pieces.");
BUBLK_TARGET("stripe", stripe_map);

static int stripe_init(struct bublk_dev_info *di)
{
	struct stripe_config *cfg = bublk_config_get();
	__u64 min, per_backend;
	__u32 n;

	if (!cfg)
		return -EINVAL;
	if (di->nr_backends < 1 || di->nr_backends > BUBLK_MAX_BACKENDS)
		return bublk_refuse(-EINVAL, "stripe needs 1 to 16 backing files (-f a.img,b.img,...)");
	n = di->nr_backends;
	if (!cfg->chunk)
		cfg->chunk = 64 << 10;
	if (cfg->chunk < 4096 || (cfg->chunk & (cfg->chunk - 1)))
		return bublk_refuse(-EDOM, "chunk must be a power of two >= 4K");
	/* a largest request must fit in BUBLK_MAX_SEGS pieces */
	if (di->max_io_bytes / cfg->chunk + 2 > BUBLK_MAX_SEGS)
		return bublk_refuse(-ERANGE, "a largest request would need more than 32 pieces: raise the chunk or lower --max-io");
	min = bublk_min_backend_size(di, n);
	/* not even one chunk per backend: say so, not "device size is 0" */
	if (min < cfg->chunk)
		return bublk_refuse(-EFBIG, "the chunk is larger than the smallest backing file: lower it");
	if (!di->size)
		di->size = min / cfg->chunk * cfg->chunk * n;
	per_backend = (di->size + cfg->chunk * n - 1) / (cfg->chunk * n) * cfg->chunk;
	if (per_backend > min)
		return bublk_refuse(-ENOSPC, "the backing files are too small for this device size");
	return 0;
}
BUBLK_INIT(stripe_init);

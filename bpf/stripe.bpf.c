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

/* a build variant may watch every request (the reload test's does) */
#ifndef STRIPE_MAP_HOOK
#define STRIPE_MAP_HOOK(rq) do { } while (0)
#endif

static __always_inline int split(const struct bublk_req *rq, struct bublk_emit *e,
				 __u8 op, __u64 chunk, __u32 n)
{
	__u64 off = rq->offset, done = 0;
	__u32 left = rq->len;

	for (int i = 0; i < BUBLK_MAX_SEGS && left; i++) {
		__u64 c = off / chunk;
		__u64 within = off - c * chunk;
		__u64 take = chunk - within;

		if (take > left)
			take = left;
		if (bublk_emit(e, op, c % n, (c / n) * chunk + within, done, take))
			return bublk_complete(e, -EIO);
		off += take;
		done += take;
		left -= take;
	}
	/* more pieces than descriptors: bublk_init keeps chunk large enough */
	return left ? bublk_complete(e, -EIO) : BUBLK_ACT_EXEC;
}

static __always_inline int stripe_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct stripe_config *cfg = bublk_config_get();
	struct bublk_dev_info *di = bublk_dev_info();
	__u32 n;

	if (!cfg || !di || !cfg->chunk || !di->nr_backends)
		return bublk_complete(e, -EIO);
	STRIPE_MAP_HOOK(rq);
	n = di->nr_backends;
	switch (rq->op) {
	case BUBLK_OP_READ:
		return split(rq, e, BUBLK_SEG_READ, cfg->chunk, n);
	case BUBLK_OP_WRITE:
		return split(rq, e, BUBLK_SEG_WRITE, cfg->chunk, n);
	case BUBLK_OP_DISCARD:
		return split(rq, e, BUBLK_SEG_DISCARD, cfg->chunk, n);
	case BUBLK_OP_WRITE_ZEROES:
		return split(rq, e, BUBLK_SEG_WRITE_ZEROES, cfg->chunk, n);
	case BUBLK_OP_FLUSH:
		for (__u32 i = 0; i < BUBLK_MAX_BACKENDS && i < n; i++)
			if (bublk_emit(e, BUBLK_SEG_FLUSH, i, 0, 0, 0))
				return bublk_complete(e, -EIO);
		return BUBLK_ACT_EXEC;
	}
	return bublk_complete(e, -EOPNOTSUPP);
}

BUBLK_HELP("stripe (RAID0): chunk c on backend c % N at offset (c / N) * chunk.\n  bublk add -t stripe -f a.img,b.img,c.img,d.img --chunk 64K\nchunk: a power of two >= 4K (default 64K); a largest request must fit 32 pieces.");
BUBLK_TARGET("stripe", stripe_map);

SEC("syscall")
int bublk_init(void *ctx)
{
	struct stripe_config *cfg = bublk_config_get();
	struct bublk_dev_info *di = bublk_dev_info();
	__u64 min, per_backend;
	__u32 n;

	if (!cfg || !di || di->nr_backends < 1 || di->nr_backends > BUBLK_MAX_BACKENDS)
		return -EINVAL;
	n = di->nr_backends;
	if (!cfg->chunk)
		cfg->chunk = 64 << 10;
	if (cfg->chunk < 4096 || (cfg->chunk & (cfg->chunk - 1)))
		return -EDOM;
	/* a largest request must fit in BUBLK_MAX_SEGS pieces */
	if (di->max_io_bytes / cfg->chunk + 2 > BUBLK_MAX_SEGS)
		return -ERANGE;
	min = bublk_min_backend_size(di, n);
	/* not even one chunk per backend: say so, not "device size is 0" */
	if (min < cfg->chunk)
		return -EFBIG;
	if (!di->size)
		di->size = min / cfg->chunk * cfg->chunk * n;
	per_backend = (di->size + cfg->chunk * n - 1) / (cfg->chunk * n) * cfg->chunk;
	if (per_backend > min)
		return -ENOSPC;
	return 0;
}

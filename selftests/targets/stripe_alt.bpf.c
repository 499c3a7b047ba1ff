/* SPDX-License-Identifier: MIT */
/*
 * Test-only: a stripe target with different code, for the reload test
 * (t_reload). Same name, same layout and same maps as bpf/stripe.bpf.c,
 * written out here on its own, plus a counter map the shipped stripe
 * lacks: when it counts, the reloaded program is the one serving.
 */
#include "bublk.bpf.h"

struct stripe_config {
	__u64	chunk;		/* bytes, a power of two >= 4K; 0 = 64K */
};
BUBLK_CONFIG(struct stripe_config);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} stripe_alt_reqs SEC(".maps");

static __always_inline void count_request(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&stripe_alt_reqs, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

struct alt_walk {
	struct bublk_emit	*e;
	__u64			off;
	__u64			done;
	__u64			chunk;
	__u32			left;
	__u32			n;
	__u8			op;
	__u8			failed;
};

/* one piece: the rest of off's chunk, or of the request */
static long alt_step(__u64 i, void *data)
{
	struct alt_walk *w = data;
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

static __always_inline int alt_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct stripe_config *cfg = bublk_config_get();
	struct bublk_dev_info *di = bublk_dev_info();
	struct alt_walk w = { .e = e };

	if (!cfg || !di || !cfg->chunk || !di->nr_backends)
		return bublk_complete(e, -EIO);
	count_request();
	w.n = di->nr_backends;
	switch (rq->op) {
	case BUBLK_OP_READ:
		w.op = BUBLK_SEG_READ;
		break;
	case BUBLK_OP_WRITE:
		w.op = BUBLK_SEG_WRITE;
		break;
	case BUBLK_OP_DISCARD:
		w.op = BUBLK_SEG_DISCARD;
		break;
	case BUBLK_OP_WRITE_ZEROES:
		w.op = BUBLK_SEG_WRITE_ZEROES;
		break;
	case BUBLK_OP_FLUSH:
		for (__u32 i = 0; i < BUBLK_MAX_BACKENDS && i < w.n; i++)
			if (bublk_emit(e, BUBLK_SEG_FLUSH, i, 0, 0, 0))
				return bublk_complete(e, -EIO);
		return BUBLK_ACT_EXEC;
	default:
		return bublk_complete(e, -EOPNOTSUPP);
	}
	w.off = rq->offset;
	w.chunk = cfg->chunk;
	w.left = rq->len;
	if (w.left)
		bpf_loop(BUBLK_MAX_SEGS, alt_step, &w, 0);
	return w.failed || w.left ? bublk_complete(e, -EIO) : BUBLK_ACT_EXEC;
}

BUBLK_HELP("stripe (test variant for t_reload): the shipped stripe's layout, counting requests.");
BUBLK_TARGET("stripe", alt_map);

/* a reload reuses the running stripe's options; this checks a fresh add */
static int alt_init(struct bublk_dev_info *di)
{
	struct stripe_config *cfg = bublk_config_get();

	if (!cfg || di->nr_backends < 1 || di->nr_backends > BUBLK_MAX_BACKENDS)
		return bublk_refuse(-EINVAL, "stripe needs 1 to 16 backing files");
	if (!cfg->chunk)
		cfg->chunk = 64 << 10;
	if (cfg->chunk < 4096 || (cfg->chunk & (cfg->chunk - 1)))
		return bublk_refuse(-EDOM, "chunk must be a power of two >= 4K");
	if (!di->size)
		di->size = bublk_min_backend_size(di, di->nr_backends) / cfg->chunk * cfg->chunk *
			   di->nr_backends;
	return 0;
}
BUBLK_INIT(alt_init);

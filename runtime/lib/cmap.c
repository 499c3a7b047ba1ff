// SPDX-License-Identifier: MIT
/*
 * C twins of bpf/null.bpf.c, bpf/loop.bpf.c and bpf/stripe.bpf.c. Each is a
 * line-by-line transcription of the BPF map function, so a difference in
 * speed between the two is the cost of running BPF (BPF_PROG_RUN, bpf_loop,
 * arena casts), not of a different algorithm. selftests/host/cmap.c checks
 * that both answer every synthetic request identically.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cmap.h"
#include "loader.h"

/* where one request's answer goes: the C side of struct bublk_emit */
struct cemit {
	struct bublk_seg	*segs;
	__u32			max;
	__u32			n;
};

static inline int cemit(struct cemit *e, __u8 op, __u16 backend, __u64 backend_off,
			__u64 data_off, __u32 len)
{
	struct bublk_seg *s;

	if (e->n >= e->max || e->n >= BUBLK_MAX_SEGS)
		return -E2BIG;
	s = &e->segs[e->n++];
	s->op = op;
	s->stage = 0;
	s->backend = backend;
	s->len = len;
	s->backend_off = backend_off;
	s->data_off = data_off;
	s->flags = 0;
	s->result = 0;
	return 0;
}

/* null: complete at once, no I/O */
static int null_cmap(const struct bublk_cmap *m, const struct bublk_req *rq,
		     struct bublk_seg *segs, __u32 max, __u16 *nr, __s32 *result)
{
	(void)m; (void)rq; (void)segs; (void)max;
	*nr = 0;
	*result = 0;
	return BUBLK_ACT_COMPLETE;
}

/* loop: identity on backend 0 */
static int loop_cmap(const struct bublk_cmap *m, const struct bublk_req *rq,
		     struct bublk_seg *segs, __u32 max, __u16 *nr, __s32 *result)
{
	struct cemit e = { segs, max, 0 };
	int act = BUBLK_ACT_EXEC;
	__u8 op;

	(void)m;
	*result = 0;
	op = bublk_seg_op_for(rq->op);
	if (!op) {
		*result = -EOPNOTSUPP;
		act = BUBLK_ACT_COMPLETE;
		goto out;
	}
	if (op == BUBLK_SEG_FLUSH ? cemit(&e, op, 0, 0, 0, 0) :
				    cemit(&e, op, 0, rq->offset, 0, rq->len)) {
		*result = -EIO;
		act = BUBLK_ACT_COMPLETE;
	}
out:
	*nr = e.n;
	return act;
}

/* stripe: same chunk math as bpf/stripe.bpf.c split() */
static int stripe_split(const struct bublk_req *rq, struct cemit *e, __u8 op, __u64 chunk,
			__u32 n, __s32 *result)
{
	__u64 off = rq->offset, done = 0;
	__u32 left = rq->len;

	for (int i = 0; i < BUBLK_MAX_SEGS && left; i++) {
		__u64 c = off / chunk;
		__u64 within = off - c * chunk;
		__u64 take = chunk - within;

		if (take > left)
			take = left;
		if (cemit(e, op, c % n, (c / n) * chunk + within, done, take)) {
			*result = -EIO;
			return BUBLK_ACT_COMPLETE;
		}
		off += take;
		done += take;
		left -= take;
	}
	if (left) {
		*result = -EIO;
		return BUBLK_ACT_COMPLETE;
	}
	return BUBLK_ACT_EXEC;
}

static int stripe_cmap(const struct bublk_cmap *m, const struct bublk_req *rq,
		       struct bublk_seg *segs, __u32 max, __u16 *nr, __s32 *result)
{
	struct cemit e = { segs, max, 0 };
	__u32 n = m->nr_backends;
	int act;

	*result = 0;
	if (!m->chunk || !n) {
		*result = -EIO;
		act = BUBLK_ACT_COMPLETE;
		goto out;
	}
	switch (rq->op) {
	case BUBLK_OP_READ:
		act = stripe_split(rq, &e, BUBLK_SEG_READ, m->chunk, n, result);
		break;
	case BUBLK_OP_WRITE:
		act = stripe_split(rq, &e, BUBLK_SEG_WRITE, m->chunk, n, result);
		break;
	case BUBLK_OP_DISCARD:
		act = stripe_split(rq, &e, BUBLK_SEG_DISCARD, m->chunk, n, result);
		break;
	case BUBLK_OP_WRITE_ZEROES:
		act = stripe_split(rq, &e, BUBLK_SEG_WRITE_ZEROES, m->chunk, n, result);
		break;
	case BUBLK_OP_FLUSH:
		act = BUBLK_ACT_EXEC;
		for (__u32 i = 0; i < BUBLK_MAX_BACKENDS && i < n; i++) {
			if (cemit(&e, BUBLK_SEG_FLUSH, i, 0, 0, 0)) {
				*result = -EIO;
				act = BUBLK_ACT_COMPLETE;
				break;
			}
		}
		break;
	default:
		*result = -EOPNOTSUPP;
		act = BUBLK_ACT_COMPLETE;
		break;
	}
out:
	*nr = e.n;
	return act;
}

static const struct {
	const char	*name;
	bublk_cmap_fn	map;
} cmaps[] = {
	{ "null", null_cmap },
	{ "loop", loop_cmap },
	{ "stripe", stripe_cmap },
};

/* stripe's options: the first member of its struct stripe_config */
static int read_chunk(struct bublk_target *t, __u64 *chunk)
{
	struct bpf_map *map = bpf_object__find_map_by_name(t->obj, "bublk_config");
	__u8 val[256];
	__u32 zero = 0;

	if (!map || bpf_map__value_size(map) < sizeof(*chunk) ||
	    bpf_map__value_size(map) > sizeof(val))
		return -ENOENT;
	if (bpf_map_lookup_elem(bpf_map__fd(map), &zero, val))
		return -errno;
	memcpy(chunk, val, sizeof(*chunk));
	return 0;
}

int bublk_cmap_init(struct bublk_cmap *m, struct bublk_target *t, char *err, size_t errlen)
{
	struct bublk_dev_info di;
	int ret;

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < sizeof(cmaps) / sizeof(cmaps[0]); i++) {
		if (!strcmp(t->name, cmaps[i].name)) {
			m->map = cmaps[i].map;
			m->name = cmaps[i].name;
		}
	}
	if (!m->map) {
		snprintf(err, errlen, "--dispatch=c: target \"%s\" has no C mapping (only null, loop, stripe)",
			 t->name);
		return -ENOENT;
	}
	ret = bublk_target_read_dev(t, &di);
	if (ret) {
		snprintf(err, errlen, "--dispatch=c: reading map bublk_dev: %s", strerror(-ret));
		goto fail;
	}
	m->nr_backends = di.nr_backends;
	if (m->map == stripe_cmap) {
		ret = read_chunk(t, &m->chunk);
		if (ret) {
			snprintf(err, errlen, "--dispatch=c: reading stripe's chunk: %s", strerror(-ret));
			goto fail;
		}
	}
	return 0;
fail:
	m->map = NULL;
	return ret;
}

int bublk_cmap_dispatch(const struct bublk_cmap *m, struct bublk_batch *b)
{
	struct bublk_req *reqs = (struct bublk_req *)(uintptr_t)b->reqs;
	struct bublk_seg *segs = (struct bublk_seg *)(uintptr_t)b->segs;
	const __u16 *tags = (const __u16 *)(uintptr_t)b->tags;
	__u32 nr = b->nr < BUBLK_MAX_BATCH ? b->nr : BUBLK_MAX_BATCH;
	__u32 answered = 0;

	for (__u32 i = 0; i < nr; i++) {
		__u32 tag = tags[i];
		struct bublk_req *ar, rq;
		__u16 n = 0;
		__s32 res = 0;
		int act;

		if (tag >= b->depth)
			continue;
		ar = &reqs[tag];
		rq = *ar;	/* like the BPF side: one read of the slot */
		act = m->map(m, &rq, segs + (size_t)tag * b->max_segs, b->max_segs, &n, &res);
		ar->action = act;
		ar->nr_segs = n;
		ar->result = res;
		answered++;
	}
	b->answered = answered;
	return 0;
}

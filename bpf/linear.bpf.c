/* SPDX-License-Identifier: MIT */
/*
 * linear: the backends concatenated, in order, whatever their sizes
 * (each rounded down to 4K). A request crossing a boundary becomes one
 * segment per backend it touches.
 */
#include "bublk.bpf.h"

/* where each backend starts on the device; computed by bublk_init */
struct linear_layout {
	__u64	start[BUBLK_MAX_BACKENDS + 1];	/* start[n] = device size */
	__u32	nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct linear_layout);
} linear_layout SEC(".maps");

static __always_inline struct linear_layout *layout(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&linear_layout, &zero);
}

/* what split() hands its per-backend step (bublk_emit is the caller's) */
struct linear_walk {
	struct bublk_emit	*e;
	__u64			off;		/* device offset still to place */
	__u64			end;
	__u64			rq_off;
	__u8			op;
	__u8			failed;
};

/*
 * Backend k's piece of the rest of the range. Backends are contiguous
 * (start[k + 1] is where k ends), so the piece always begins at off: an
 * earlier step consumed everything up to start[k].
 */
static long linear_step(__u64 i, void *data)
{
	struct linear_walk *w = data;
	struct linear_layout *l = layout();
	__u32 k = i & (BUBLK_MAX_BACKENDS - 1);	/* i < nr <= BUBLK_MAX_BACKENDS */
	__u64 lo, hi, take;

	if (!l) {
		w->failed = 1;
		return 1;
	}
	lo = l->start[k];
	hi = l->start[k + 1];
	if (hi <= w->off)	/* ends before the range, or empty (smaller than 4K) */
		return 0;
	take = (w->end < hi ? w->end : hi) - w->off;
	if (bublk_emit(w->e, w->op, k, w->off - lo, w->off - w->rq_off, take)) {
		w->failed = 1;
		return 1;
	}
	w->off += take;
	return w->off >= w->end;
}

/*
 * One segment per backend the range touches. The walk over the backends
 * runs through bpf_loop(), so the verifier checks one step once instead
 * of every (backend count, first backend, segments so far) combination of
 * an unrolled loop: that explored past its 1M-instruction limit on 6.18
 * and 7.x.
 */
static __always_inline int split(const struct bublk_req *rq, struct bublk_emit *e, __u8 op)
{
	struct linear_layout *l = layout();
	struct linear_walk w = {
		.e = e, .off = rq->offset, .end = rq->offset + rq->len, .rq_off = rq->offset,
		.op = op,
	};
	__u32 nr;

	if (!l)
		return bublk_complete(e, -EIO);
	nr = l->nr;
	if (nr > BUBLK_MAX_BACKENDS)
		return bublk_complete(e, -EIO);
	if (w.off < w.end)
		bpf_loop(nr, linear_step, &w, 0);
	/* a range past the last backend (the runtime checks the device size) */
	return !w.failed && w.off == w.end ? BUBLK_ACT_EXEC : bublk_complete(e, -EIO);
}

static __always_inline int linear_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct bublk_dev_info *di;
	__u8 op;

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
		di = bublk_dev_info();
		if (!di)
			return bublk_complete(e, -EIO);
		for (__u32 i = 0; i < BUBLK_MAX_BACKENDS && i < di->nr_backends; i++)
			if (bublk_emit(e, BUBLK_SEG_FLUSH, i, 0, 0, 0))
				return bublk_complete(e, -EIO);
		return BUBLK_ACT_EXEC;
	default:
		return bublk_complete(e, -EOPNOTSUPP);
	}
	return split(rq, e, op);
}

BUBLK_HELP("linear: the backing files concatenated in order (each rounded down to 4K).\n  bublk add -t linear -f a.img,b.img,c.img");
BUBLK_TARGET("linear", linear_map);

static int linear_init(struct bublk_dev_info *di)
{
	struct linear_layout *l = layout();
	__u64 pos = 0;
	__u32 n;

	if (!l)
		return -EINVAL;
	if (di->nr_backends < 1 || di->nr_backends > BUBLK_MAX_BACKENDS)
		return bublk_refuse(-EINVAL, "linear needs 1 to 16 backing files (-f a.img,b.img,...)");
	n = di->nr_backends;
	for (__u32 i = 0; i < BUBLK_MAX_BACKENDS; i++) {
		__u32 k = i;

		asm volatile("" : "+r"(k));
		if (k >= n)
			break;
		l->start[k & (BUBLK_MAX_BACKENDS - 1)] = pos;
		pos += di->backend_size[k & (BUBLK_MAX_BACKENDS - 1)] & ~4095ULL;
	}
	l->start[n] = pos;	/* n <= BUBLK_MAX_BACKENDS, checked above */
	l->nr = n;
	if (!di->size)
		di->size = pos;
	if (di->size > pos)
		return bublk_refuse(-ENOSPC, "the backing files together are smaller than the device");
	return 0;
}
BUBLK_INIT(linear_init);

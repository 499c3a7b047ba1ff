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

/* walk the boundaries: one segment per backend the range touches */
static __always_inline int split(const struct bublk_req *rq, struct bublk_emit *e, __u8 op)
{
	struct linear_layout *l = layout();
	__u64 off = rq->offset, end = rq->offset + rq->len;

	if (!l)
		return bublk_complete(e, -EIO);
	for (__u32 i = 0; i < BUBLK_MAX_BACKENDS; i++) {
		__u32 k = i, k1;
		__u64 lo, hi, take;

		asm volatile("" : "+r"(k));	/* index, not a pointer walk */
		if (k >= l->nr || k >= BUBLK_MAX_BACKENDS || off >= end)
			break;
		k1 = k + 1;
		lo = l->start[k];
		hi = l->start[k1];
		if (off >= hi || off < lo)
			continue;
		take = (end < hi ? end : hi) - off;
		if (bublk_emit(e, op, k, off - lo, off - rq->offset, take))
			return bublk_complete(e, -EIO);
		off += take;
	}
	return off == end ? BUBLK_ACT_EXEC : bublk_complete(e, -EIO);
}

static __always_inline int linear_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct bublk_dev_info *di;

	switch (rq->op) {
	case BUBLK_OP_READ:
		return split(rq, e, BUBLK_SEG_READ);
	case BUBLK_OP_WRITE:
		return split(rq, e, BUBLK_SEG_WRITE);
	case BUBLK_OP_DISCARD:
		return split(rq, e, BUBLK_SEG_DISCARD);
	case BUBLK_OP_WRITE_ZEROES:
		return split(rq, e, BUBLK_SEG_WRITE_ZEROES);
	case BUBLK_OP_FLUSH:
		di = bublk_dev_info();
		if (!di)
			return bublk_complete(e, -EIO);
		for (__u32 i = 0; i < BUBLK_MAX_BACKENDS && i < di->nr_backends; i++)
			if (bublk_emit(e, BUBLK_SEG_FLUSH, i, 0, 0, 0))
				return bublk_complete(e, -EIO);
		return BUBLK_ACT_EXEC;
	}
	return bublk_complete(e, -EOPNOTSUPP);
}

BUBLK_HELP("linear: the backing files concatenated in order (each rounded down to 4K).\n  bublk add -t linear -f a.img,b.img,c.img");
BUBLK_TARGET("linear", linear_map);

SEC("syscall")
int bublk_init(void *ctx)
{
	struct bublk_dev_info *di = bublk_dev_info();
	struct linear_layout *l = layout();
	__u64 pos = 0;
	__u32 n;

	if (!di || !l || di->nr_backends < 1 || di->nr_backends > BUBLK_MAX_BACKENDS)
		return -EINVAL;
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
		return -ENOSPC;
	return 0;
}

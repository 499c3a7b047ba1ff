/* SPDX-License-Identifier: MIT */
/*
 * mirror (RAID1): every backend ("leg", 2 to 4 of them) holds the whole device.
 *
 * Writes, flushes, discards go to every healthy leg; reads go to one
 * healthy leg (spread by 64K region, or always the first: option
 * "balance"). A leg that fails a segment is marked failed in the pinned
 * map mirror_legs and never used again; bublk_done retries a failed read
 * on another leg, and a write succeeds when one leg took it. The client
 * sees an error only when no healthy leg is left.
 *
 * mirror_legs is pinned by name, so a recovered daemon (bublk recover)
 * keeps knowing which legs are stale. Bringing a leg back (resync) is not
 * done here: a failed leg stays failed for the life of the device.
 */
#include "bublk.bpf.h"

/* legs: few enough that the verifier can walk every leg-state combination */
#define MIRROR_MAX_LEGS	4

struct mirror_config {
	__u32	balance;	/* 0: spread reads by 64K region; 1: first healthy leg */
};
BUBLK_CONFIG(struct mirror_config);

struct mirror_leg {
	__u32	failed;		/* 1: stale, never read or written again */
	__u32	reserved;
	__u64	reads;		/* read segments sent to this leg */
	__u64	writes;		/* write segments sent to this leg */
	__u64	errors;		/* segments that failed on it */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MIRROR_MAX_LEGS);
	__type(key, __u32);
	__type(value, struct mirror_leg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mirror_legs SEC(".maps");

static __always_inline struct mirror_leg *leg(__u32 i)
{
	return bpf_map_lookup_elem(&mirror_legs, &i);
}

static __always_inline __u32 nr_legs(void)
{
	struct bublk_dev_info *di = bublk_dev_info();

	return di && di->nr_backends <= MIRROR_MAX_LEGS ? di->nr_backends : 0;
}

/* the healthy leg at or after "from" (wrapping), or -1 */
static __always_inline int pick_leg(__u32 from, __u32 n)
{
	for (__u32 i = 0; i < MIRROR_MAX_LEGS && i < n; i++) {
		__u32 k = (from + i) % n;
		struct mirror_leg *l = leg(k);

		if (l && !l->failed)
			return k;
	}
	return -1;
}

static __always_inline int read_from(const struct bublk_req *rq, struct bublk_emit *e, int k)
{
	struct mirror_leg *l = leg(k);

	if (k < 0 || !l)
		return bublk_complete(e, -EIO);
	__sync_fetch_and_add(&l->reads, 1);
	if (bublk_emit(e, BUBLK_SEG_READ, k, rq->offset, 0, rq->len))
		return bublk_complete(e, -EIO);
	return BUBLK_ACT_EXEC;
}

/* one segment of op on every healthy leg */
static __always_inline int to_all(const struct bublk_req *rq, struct bublk_emit *e, __u8 op)
{
	__u32 n = nr_legs();

	for (__u32 i = 0; i < MIRROR_MAX_LEGS && i < n; i++) {
		struct mirror_leg *l = leg(i);

		if (!l || l->failed)
			continue;
		__sync_fetch_and_add(&l->writes, 1);
		if (bublk_emit(e, op, i, rq->offset, 0, op == BUBLK_SEG_FLUSH ? 0 : rq->len))
			return bublk_complete(e, -EIO);
	}
	return e->n ? BUBLK_ACT_EXEC : bublk_complete(e, -EIO);
}

static __always_inline int mirror_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct mirror_config *cfg = bublk_config_get();
	__u32 n = nr_legs();

	if (!n)
		return bublk_complete(e, -EIO);
	switch (rq->op) {
	case BUBLK_OP_READ:
		return read_from(rq, e, pick_leg(cfg && cfg->balance ? 0 : (rq->offset >> 16) % n, n));
	case BUBLK_OP_WRITE:
		return to_all(rq, e, BUBLK_SEG_WRITE);
	case BUBLK_OP_FLUSH:
		return to_all(rq, e, BUBLK_SEG_FLUSH);
	case BUBLK_OP_DISCARD:
		return to_all(rq, e, BUBLK_SEG_DISCARD);
	case BUBLK_OP_WRITE_ZEROES:
		return to_all(rq, e, BUBLK_SEG_WRITE_ZEROES);
	}
	return bublk_complete(e, -EOPNOTSUPP);
}

BUBLK_HELP("mirror (RAID1): 2 to 4 legs; a failing leg is dropped and I/O goes on.\nEach leg holds the whole device. Writes go to every healthy leg, reads to one; a leg that fails is marked failed in the\npinned map mirror_legs and dropped, and the read is retried elsewhere.\n  bublk add -t mirror -f a.img,b.img [--recovery]\nbalance: 0 spreads reads by 64K region (default), 1 reads the first healthy leg.");
BUBLK_TARGET("mirror", mirror_map);

/* a segment failed: mark its leg, then retry the read or settle the write */
static __always_inline int mirror_done(const struct bublk_req *rq, struct bublk_emit *e)
{
	__u32 n = nr_legs(), ok = 0;
	struct bublk_seg s;

	/* one segment per leg at most */
	for (__u32 i = 0; i < MIRROR_MAX_LEGS && i < e->nr_prev; i++) {
		struct mirror_leg *l;

		if (bublk_prev_seg(e, i, &s))
			break;
		if (s.result == 0) {
			ok++;
			continue;
		}
		l = leg(s.backend);
		if (l && s.result != BUBLK_SEG_NOT_RUN) {
			__sync_fetch_and_add(&l->errors, 1);
			l->failed = 1;
		}
	}
	if (rq->op == BUBLK_OP_READ)
		return ok ? bublk_complete(e, 0) : read_from(rq, e, pick_leg(0, n));
	return bublk_complete(e, ok ? 0 : rq->result);
}

BUBLK_DONE(mirror_done);

static int mirror_init(struct bublk_dev_info *di)
{
	struct mirror_config *cfg = bublk_config_get();
	__u64 min;
	__u32 n;

	if (!cfg)
		return -EINVAL;
	if (di->nr_backends < 2 || di->nr_backends > MIRROR_MAX_LEGS)
		return bublk_refuse(-EINVAL, "mirror needs 2 to 4 legs (-f a.img,b.img)");
	if (cfg->balance > 1)
		return bublk_refuse(-EDOM, "balance is 0 (spread reads) or 1 (first healthy leg)");
	n = di->nr_backends;
	min = bublk_min_backend_size(di, n) & ~4095ULL;
	if (!di->size)
		di->size = min;
	if (di->size > min)
		return bublk_refuse(-ENOSPC, "a leg is smaller than the device");
	return 0;
}
BUBLK_INIT(mirror_init);

/* bublk resize: every leg must hold the new size, as at bublk_init */
static int mirror_resize(struct bublk_dev_info *want)
{
	/* the context may only be read at fixed offsets: work on a copy */
	struct bublk_dev_info d = *want;
	__u32 n = d.nr_backends;

	if (n < 2 || n > MIRROR_MAX_LEGS)
		return -EINVAL;
	if (d.size > (bublk_min_backend_size(&d, n) & ~4095ULL))
		return bublk_refuse(-ENOSPC, "a leg is smaller than that: grow it first");
	return 0;
}
BUBLK_RESIZE(mirror_resize);

/* SPDX-License-Identifier: MIT */
/*
 * fault: one backend, mapped like loop, with fault injection. Requests
 * matching a rule in the pinned map fault_rules fail with the rule's
 * errno, or are delayed, or both (delay, then fail). Rules change while
 * the device runs, e.g.:
 *
 *   bpftool map update pinned /sys/fs/bpf/bublk/0/fault_rules key 0 0 0 0 value hex ...
 *
 * Rule 0 can also be given at creation: bublk add -t fault -f FILE
 * --set ops=2 --set err=5 --set start=0 --set end=2048 (sectors).
 */
#include "bublk.bpf.h"

#define FAULT_MAX_RULES	8

/* ops: bit (1 << enum bublk_op): 1 read, 2 write, 4 flush, 8 discard, 32 write-zeroes */
struct fault_rule {
	__u32	ops;		/* 0: rule off */
	__u32	err;		/* errno to fail with; 0: do not fail */
	__u64	start;		/* first sector the rule covers */
	__u64	end;		/* sector after the last; 0: to the device's end */
	__u32	every;		/* act on every Nth matching request; 0 or 1: all */
	__u32	delay_us;	/* delay before the I/O (or the failure) */
	__u64	matched;	/* requests that matched (read-only for users) */
	__u64	hits;		/* requests the rule acted on */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FAULT_MAX_RULES);
	__type(key, __u32);
	__type(value, struct fault_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fault_rules SEC(".maps");

/* rule 0 given at creation (same meaning as struct fault_rule) */
struct fault_config {
	__u32	ops;
	__u32	err;
	__u64	start;
	__u64	end;
	__u32	every;
	__u32	delay_us;
};
BUBLK_CONFIG(struct fault_config);

/* what the rules say about one request */
struct fault_scan {
	__u64	first;		/* sectors [first, last) */
	__u64	last;
	__u32	op;
	__u32	delay;		/* longest delay asked */
	__u32	err;		/* first errno asked */
};

/* bpf_loop body: rules are checked once by the verifier, not 8 times */
static long fault_check_rule(__u64 i, void *data)
{
	struct fault_scan *sc = data;
	__u32 k = i;
	struct fault_rule *r = bpf_map_lookup_elem(&fault_rules, &k);
	__u64 n;

	if (!r || !(r->ops & (1U << (sc->op & 31))))
		return 0;
	/* FLUSH has no range: a flush rule covers every flush */
	if (sc->op != BUBLK_OP_FLUSH && (sc->last <= r->start || (r->end && sc->first >= r->end)))
		return 0;
	n = __sync_fetch_and_add(&r->matched, 1) + 1;
	if (r->every > 1 && n % r->every)
		return 0;
	__sync_fetch_and_add(&r->hits, 1);
	if (r->delay_us > sc->delay)
		sc->delay = r->delay_us;
	if (r->err && !sc->err)
		sc->err = r->err & 4095;
	return 0;
}

static __always_inline int fault_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct fault_scan sc = {
		.first = rq->offset >> 9,
		.last = (rq->offset + rq->len) >> 9,
		.op = rq->op,
	};
	__u8 op = bublk_seg_op_for(rq->op);
	__u32 delay;

	if (!op)
		return bublk_complete(e, -EOPNOTSUPP);
	bpf_loop(FAULT_MAX_RULES, fault_check_rule, &sc, 0);
	delay = sc.delay > BUBLK_MAX_DELAY_US ? BUBLK_MAX_DELAY_US : sc.delay;
	if (sc.err && !delay)
		return bublk_complete(e, -(int)sc.err);
	if (delay && bublk_emit_seg(e, 0, BUBLK_SEG_DELAY, 0, 0, 0, delay, 0))
		return bublk_complete(e, -EIO);
	if (sc.err) {
		/* delayed failure: bublk_done finishes it with err once the delay ran */
		*(volatile __u32 __arena *)bublk_scratch(e) = sc.err;
		bublk_notify(e);
		return BUBLK_ACT_EXEC;
	}
	if (bublk_emit_seg(e, delay ? 1 : 0, op, 0, rq->offset, 0,
			   op == BUBLK_SEG_FLUSH ? 0 : rq->len, 0))
		return bublk_complete(e, -EIO);
	return BUBLK_ACT_EXEC;
}

BUBLK_HELP("fault: like loop, with failures and delays from rules (map fault_rules).\nThe pinned map fault_rules holds 8 rules; change them live with bpftool map update.\nRule 0 can be given here; ops is a bit mask: 1 read, 2 write, 4 flush,\n8 discard, 32 write-zeroes; start/end in 512-byte sectors (end 0 = to the end).\n  bublk add -t fault -f disk.img --set ops=1 --set err=5 --set start=2048 --set end=4096");
BUBLK_TARGET("fault", fault_map);

/* only delayed failures ask for this; anything else finishes as it ran */
static __always_inline int fault_done(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct bublk_seg s;

	if (rq->result)
		return bublk_complete(e, rq->result);
	/* one DELAY segment alone: a delayed failure, its errno is in scratch */
	if (e->nr_prev == 1 && !bublk_prev_seg(e, 0, &s) && s.op == BUBLK_SEG_DELAY)
		return bublk_complete(e, -(int)(*(volatile __u32 __arena *)bublk_scratch(e) & 4095));
	return bublk_complete(e, 0);
}

BUBLK_DONE(fault_done);

static int fault_init(struct bublk_dev_info *di)
{
	struct fault_config *cfg = bublk_config_get();
	struct fault_rule *r;
	__u32 zero = 0;

	if (!cfg)
		return -EINVAL;
	if (di->nr_backends != 1)
		return bublk_refuse(-EINVAL, "fault needs exactly one backing file (-f FILE)");
	if (!di->size)
		di->size = di->backend_size[0];
	if (di->size > di->backend_size[0])
		return bublk_refuse(-ENOSPC, "the backing file is smaller than the device");
	if (cfg->err > 4095)
		return bublk_refuse(-EDOM, "err is an errno: 0 to 4095");
	if (cfg->delay_us > BUBLK_MAX_DELAY_US)
		return bublk_refuse(-EDOM, "delay_us is at most 10000000 (10 s)");
	r = bpf_map_lookup_elem(&fault_rules, &zero);
	if (!r)
		return -EINVAL;
	/* a recovered device keeps its live rules; only a given rule 0 replaces */
	if (cfg->ops) {
		r->ops = cfg->ops;
		r->err = cfg->err;
		r->start = cfg->start;
		r->end = cfg->end;
		r->every = cfg->every;
		r->delay_us = cfg->delay_us;
	}
	return 0;
}
BUBLK_INIT(fault_init);

/* bublk resize: like loop, the device must still lie inside the file */
static int fault_resize(struct bublk_dev_info *want)
{
	if (want->size > want->backend_size[0])
		return bublk_refuse(-ENOSPC, "the backing file is smaller than that: grow it first");
	return 0;
}
BUBLK_RESIZE(fault_resize);

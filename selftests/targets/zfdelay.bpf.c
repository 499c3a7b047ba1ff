/* SPDX-License-Identifier: MIT */
/*
 * Test-only "sparse" target for t_security (finding 3): the identity
 * mapping (like loop) below 1 MiB; a READ at or past 1 MiB waits
 * --set delay_us=N (stage 0, DELAY) and then zero-fills its data (stage 1,
 * ZERO_FILL), which the daemon does with its own CPU: for a shared-memory
 * request, a memset into the client's mapping. A client that truncates
 * its memfd during the delay would make that memset fault (SIGBUS).
 */
#include "bublk.bpf.h"

struct zfdelay_config {
	__u64	delay_us;
};
BUBLK_CONFIG(struct zfdelay_config);

#define ZF_FROM	(1ULL << 20)

static __always_inline int zfdelay_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct zfdelay_config *cfg = bublk_config_get();
	__u8 op = bublk_seg_op_for(rq->op);
	__u32 delay;

	if (!op || !cfg)
		return bublk_complete(e, -EOPNOTSUPP);
	if (rq->op == BUBLK_OP_READ && rq->offset >= ZF_FROM) {
		delay = cfg->delay_us > BUBLK_MAX_DELAY_US ? BUBLK_MAX_DELAY_US : cfg->delay_us;
		if (delay && bublk_emit_seg(e, 0, BUBLK_SEG_DELAY, 0, 0, 0, delay, 0))
			return bublk_complete(e, -EIO);
		if (bublk_zero_fill(e, delay ? 1 : 0, 0, rq->len))
			return bublk_complete(e, -EIO);
		return BUBLK_ACT_EXEC;
	}
	if (bublk_emit(e, op, 0, rq->offset, 0, op == BUBLK_SEG_FLUSH ? 0 : rq->len))
		return bublk_complete(e, -EIO);
	return BUBLK_ACT_EXEC;
}

BUBLK_TARGET("zfdelay", zfdelay_map);

static int zfdelay_init(struct bublk_dev_info *di)
{
	if (di->nr_backends != 1)
		return bublk_refuse(-EINVAL, "zfdelay needs exactly one backing file");
	if (!di->size)
		di->size = di->backend_size[0];
	if (di->size > di->backend_size[0])
		return bublk_refuse(-ENOSPC, "the backing file is smaller than the device");
	return 0;
}
BUBLK_INIT(zfdelay_init);

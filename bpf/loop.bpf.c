/* SPDX-License-Identifier: MIT */
/*
 * loop: the device is backend 0, byte for byte. One segment per request:
 * READ/WRITE at the same offset, FLUSH as fsync, DISCARD as a punched
 * hole, WRITE_ZEROES as a zeroed range.
 */
#include "bublk.bpf.h"

static __always_inline int loop_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	__u8 op;

	switch (rq->op) {
	case BUBLK_OP_READ:
		op = BUBLK_SEG_READ;
		break;
	case BUBLK_OP_WRITE:
		op = BUBLK_SEG_WRITE;
		break;
	case BUBLK_OP_FLUSH:
		if (bublk_emit(e, BUBLK_SEG_FLUSH, 0, 0, 0, 0))
			return bublk_complete(e, -EIO);
		return BUBLK_ACT_EXEC;
	case BUBLK_OP_DISCARD:
		op = BUBLK_SEG_DISCARD;
		break;
	case BUBLK_OP_WRITE_ZEROES:
		op = BUBLK_SEG_WRITE_ZEROES;
		break;
	default:
		return bublk_complete(e, -EOPNOTSUPP);
	}
	if (bublk_emit(e, op, 0, rq->offset, 0, rq->len))
		return bublk_complete(e, -EIO);
	return BUBLK_ACT_EXEC;
}

BUBLK_HELP("loop: the device is one backing file or block device, byte for byte.\n  bublk add -t loop -f disk.img");
BUBLK_TARGET("loop", loop_map);

/* refuse a device the backing file cannot hold, before it goes live */
static int loop_init(struct bublk_dev_info *di)
{
	if (di->nr_backends != 1)
		return bublk_refuse(-EINVAL, "loop needs exactly one backing file (-f FILE)");
	if (!di->size)
		di->size = di->backend_size[0];	/* default: the whole file */
	if (di->backend_size[0] < di->size)
		return bublk_refuse(-ENOSPC, "the backing file is smaller than the device");
	return 0;
}
BUBLK_INIT(loop_init);

/* bublk resize: the proposed size (want, a copy) must still lie inside the file */
static int loop_resize(struct bublk_dev_info *want)
{
	if (want->size > want->backend_size[0])
		return bublk_refuse(-ENOSPC, "the backing file is smaller than that: grow it first");
	return 0;
}
BUBLK_RESIZE(loop_resize);

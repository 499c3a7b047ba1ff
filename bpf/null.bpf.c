/* SPDX-License-Identifier: MIT */
/* null: every request succeeds at once; reads return whatever the buffer held. */
#include "bublk.bpf.h"

static __always_inline int null_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	return bublk_complete(e, 0);
}

BUBLK_HELP("null: completes every request at once, touching no data; needs --size.\nReads return whatever the buffer held. For measuring the runtime itself.");
BUBLK_TARGET("null", null_map);

/* bublk resize: no data, so any size will do */
static int null_resize(struct bublk_dev_info *want)
{
	return 0;
}
BUBLK_RESIZE(null_resize);

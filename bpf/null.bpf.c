/* SPDX-License-Identifier: MIT */
/* null: every request succeeds at once; reads return whatever the buffer held. */
#include "bublk.bpf.h"

static __always_inline int null_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	return bublk_complete(e, 0);
}

BUBLK_HELP("null: completes every request at once without touching data (reads return\nwhatever the buffer held). Needs --size. For measuring the runtime itself.");
BUBLK_TARGET("null", null_map);

/* bublk resize: no data, so any size will do */
SEC("syscall")
int bublk_resize(struct bublk_dev_info *want)
{
	return 0;
}

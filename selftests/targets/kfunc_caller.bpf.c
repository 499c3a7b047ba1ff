/* SPDX-License-Identifier: MIT */
/*
 * Test-only hostile target: its map function calls io_uring's BPF kfunc
 * itself (in its NAME.kern.o twin that code would run inside bublk's
 * engine). The loader must refuse the object when it opens it, naming the
 * kfunc (bpf_targets: test_loader_refuses_non_targets).
 */
#include "bublk.bpf.h"

#ifndef BUBLK_ENGINE_KERNEL	/* engine.bpf.h declares it there */
struct iou_ctx___kfunc_caller {
};
extern int bpf_io_uring_submit_sqes(struct iou_ctx___kfunc_caller *ctx, __u32 nr) __ksym;
#endif

static __always_inline int kfunc_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	/* never reached: the object does not load */
	return bublk_complete(e, bpf_io_uring_submit_sqes((void *)0, rq->len));
}

BUBLK_TARGET("kfunc_caller", kfunc_map);

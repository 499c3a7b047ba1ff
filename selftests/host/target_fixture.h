/* SPDX-License-Identifier: MIT */
/*
 * A shipped target loaded on the host the way the runtime loads it, with
 * one queue's request slots, tag list and descriptors laid out in its
 * arena: shared by the C-twin test (cmap.c) and the dispatch benchmark.
 */
#ifndef BUBLK_TARGET_FIXTURE_H
#define BUBLK_TARGET_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmap.h"
#include "loader.h"

#define FX_DEPTH	128
#define FX_MAX_SEGS	BUBLK_MAX_SEGS

struct fx {
	struct bublk_target	t;
	struct bublk_cmap	cmap;
	struct bublk_req	*reqs;	/* [FX_DEPTH] */
	__u16			*tags;	/* [FX_DEPTH] */
	struct bublk_seg	*segs;	/* [FX_DEPTH][FX_MAX_SEGS] */
};

/*
 * Load obj_dir/name.bpf.o for nr_backends backends of backend_size bytes;
 * the device size is left to the target's bublk_init. config: "k=v" or NULL.
 */
static inline int fx_load(struct fx *f, const char *obj_dir, const char *name,
			  int nr_backends, __u64 backend_size, const char *config)
{
	struct bublk_dev_info di = {
		.size = 0, .nr_queues = 1, .depth = FX_DEPTH, .block_size = 512,
		.nr_backends = nr_backends, .max_io_bytes = 512 << 10,
	};
	const char *cfg[1] = { config };
	char path[512], err[512] = "";
	int ret;

	memset(f, 0, sizeof(*f));
	for (int i = 0; i < nr_backends; i++)
		di.backend_size[i] = backend_size;
	snprintf(path, sizeof(path), "%s/%s.bpf.o", obj_dir, name);
	ret = bublk_target_open(&f->t, path, err, sizeof(err));
	if (!ret)
		ret = bublk_target_load(&f->t, 2 << 20, &di, cfg, config ? 1 : 0, err, sizeof(err));
	if (!ret)
		ret = bublk_cmap_init(&f->cmap, &f->t, err, sizeof(err));
	if (ret) {
		printf("  %s: %s\n", name, err);
		return ret;
	}
	f->reqs = f->t.arena;
	f->tags = (__u16 *)((char *)f->t.arena + 4096);
	f->segs = (struct bublk_seg *)((char *)f->t.arena + 8192);
	return 0;
}

/* request i of the batch lands in slot tag; answer fields poisoned */
static inline void fx_req(struct fx *f, int i, __u16 tag, __u8 op, __u64 off, __u32 len)
{
	struct bublk_req *r = &f->reqs[tag];

	memset(r, 0xee, sizeof(*r));
	r->tag = tag;
	r->q_id = 0;
	r->op = op;
	r->buf_kind = op <= BUBLK_OP_WRITE ? BUBLK_BUF_COPY : BUBLK_BUF_NONE;
	r->flags = 0;
	r->len = len;
	r->offset = off;
	f->tags[i] = tag;
}

static inline struct bublk_batch fx_batch(struct fx *f, int nr)
{
	struct bublk_batch b = {
		.reqs = (__u64)(uintptr_t)f->reqs,
		.segs = (__u64)(uintptr_t)f->segs,
		.tags = (__u64)(uintptr_t)f->tags,
		.nr = nr, .max_segs = FX_MAX_SEGS, .depth = FX_DEPTH,
	};
	return b;
}

#endif

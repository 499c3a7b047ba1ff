/* SPDX-License-Identifier: MIT */
/*
 * The shipped targets' mappings written in C: the "BPF dispatch off"
 * reference. Same input (struct bublk_req slots in the arena), same output
 * (action, result, struct bublk_seg descriptors), so the runtime executes
 * their answers exactly as it executes the BPF program's, and the cost of
 * BPF can be measured as a ratio (bublk add --dispatch=c, make bench).
 */
#ifndef BUBLK_CMAP_H
#define BUBLK_CMAP_H

#include <stddef.h>
#include <bublk/abi.h>

struct bublk_target;
struct bublk_cmap;

typedef int (*bublk_cmap_fn)(const struct bublk_cmap *m, const struct bublk_req *rq,
			     struct bublk_seg *segs, __u32 max, __u16 *nr, __s32 *result);

struct bublk_cmap {
	bublk_cmap_fn	map;		/* NULL: BPF dispatch */
	const char	*name;		/* the target it mirrors */
	__u64		chunk;		/* stripe: bytes per chunk (from bublk_config) */
	__u32		nr_backends;	/* from bublk_dev, as bublk_init left it */
};

/*
 * Pick the C mapping of a loaded target (by its name) and read the options
 * the BPF side would read (after bublk_init ran, so defaults are applied).
 * -ENOENT when the target has no C mapping.
 */
int bublk_cmap_init(struct bublk_cmap *m, struct bublk_target *t, char *err, size_t errlen);

/* the C twin of one bublk_dispatch run: answers batch->nr tags in place */
int bublk_cmap_dispatch(const struct bublk_cmap *m, struct bublk_batch *batch);

#endif

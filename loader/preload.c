// SPDX-License-Identifier: MIT
/*
 * Preload: a target that keeps state on disk (overlay's block table) asks,
 * from bublk_init, for a range of a backend. BPF cannot read files, so the
 * loader copies it, page by page, into the target's bublk_preload map and
 * runs its bublk_load program to rebuild its maps from it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"

int bublk_target_preload(struct bublk_target *t, int fd, __u64 off, __u32 pages,
			 char *err, size_t errlen)
{
	struct bpf_map *map = bpf_object__find_map_by_name(t->obj, "bublk_preload");
	struct bpf_program *load = t->load;
	struct bublk_page page;
	int ret, retval = 0;

	if (!map || bpf_map__value_size(map) != sizeof(page) || !load) {
		snprintf(err, errlen, "target %s asked for a preload but lacks the bublk_preload map (BUBLK_PRELOAD) or a BUBLK_LOAD hook",
			 t->name);
		return -EINVAL;
	}
	if (pages > bpf_map__max_entries(map)) {
		snprintf(err, errlen, "target %s asked to preload %u pages; its bublk_preload map holds %u",
			 t->name, pages, bpf_map__max_entries(map));
		return -E2BIG;
	}
	for (__u32 i = 0; i < pages; i++) {
		ssize_t n = pread(fd, page.data, sizeof(page.data), off + (__u64)i * sizeof(page.data));

		if (n < 0) {
			snprintf(err, errlen, "preload of target %s: reading page %u: %s", t->name, i,
				 strerror(errno));
			return -errno;
		}
		/* past the end of the file reads as zeros */
		memset(page.data + n, 0, sizeof(page.data) - n);
		if (bpf_map_update_elem(bpf_map__fd(map), &i, &page, 0)) {
			snprintf(err, errlen, "preload of target %s: map update: %s", t->name,
				 strerror(errno));
			return -errno;
		}
	}
	ret = bublk_prog_run(bpf_program__fd(load), NULL, 0, &retval);
	if (ret) {
		snprintf(err, errlen, "running bublk_load of target %s: %s", t->name, strerror(-ret));
		return ret;
	}
	if (retval) {
		bublk_target_refusal(t, "could not load its on-disk state", retval, err, errlen);
		return retval < 0 ? retval : -EINVAL;
	}
	return 0;
}

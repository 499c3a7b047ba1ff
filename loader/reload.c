// SPDX-License-Identifier: MIT
/*
 * Hot reload: load a new object for a live device, reusing the running
 * target's maps by name (arena, device description, options, counters,
 * trace, the target's own state), so the new program sees everything the
 * old one built. Nothing changes for the running device unless the new
 * object loads completely.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"

/* same-name maps must agree on what they hold */
static int check_same(const struct bpf_map *nm, const struct bpf_map *om, char *err, size_t errlen)
{
	const char *name = bpf_map__name(nm);

	if (bpf_map__type(nm) != bpf_map__type(om)) {
		snprintf(err, errlen, "map %s: type %d in the new object, %d in the running target",
			 name, bpf_map__type(nm), bpf_map__type(om));
		return -EINVAL;
	}
	if (bpf_map__type(nm) == (enum bpf_map_type)BPF_MAP_TYPE_ARENA)
		return 0;	/* sized by the loader, not the object */
	if (bpf_map__key_size(nm) != bpf_map__key_size(om) ||
	    bpf_map__value_size(nm) != bpf_map__value_size(om) ||
	    bpf_map__max_entries(nm) != bpf_map__max_entries(om)) {
		snprintf(err, errlen, "map %s: key/value/entries %u/%u/%u in the new object, %u/%u/%u in the running target: the object does not fit this device",
			 name, bpf_map__key_size(nm), bpf_map__value_size(nm), bpf_map__max_entries(nm),
			 bpf_map__key_size(om), bpf_map__value_size(om), bpf_map__max_entries(om));
		return -EINVAL;
	}
	return 0;
}

int bublk_target_load_reusing(struct bublk_target *nt, struct bublk_target *old,
			      char *err, size_t errlen)
{
	struct bpf_map *nm;
	int ret;

	if (strcmp(nt->name, old->name)) {
		snprintf(err, errlen, "%s is target \"%s\"; this device runs \"%s\": reload a build of the same target",
			 nt->path, nt->name, old->name);
		return -EINVAL;
	}
	bpf_object__for_each_map(nm, nt->obj) {
		struct bpf_map *om;

		if (strchr(bpf_map__name(nm), '.'))
			continue;	/* .rodata and friends belong to each object */
		om = bpf_object__find_map_by_name(old->obj, bpf_map__name(nm));
		if (!om)
			continue;	/* new state: created empty */
		ret = check_same(nm, om, err, errlen);
		if (ret)
			return ret;
		ret = bpf_map__reuse_fd(nm, bpf_map__fd(om));
		if (ret) {
			snprintf(err, errlen, "map %s: reusing the running target's: %s",
				 bpf_map__name(nm), strerror(-ret));
			return ret;
		}
	}
	ret = bpf_object__load(nt->obj);
	if (ret) {
		snprintf(err, errlen, "%s: the kernel refused the new target: %s (the verifier log is in the daemon's log)",
			 nt->path, strerror(-ret));
		return ret;
	}
	nt->dispatch_fd = bpf_program__fd(nt->dispatch);
	nt->done_fd = nt->done ? bpf_program__fd(nt->done) : -1;
	/* the arena, counters and trace stay mapped by the first target */
	snprintf(nt->pin_dir, sizeof(nt->pin_dir), "%s", old->pin_dir);
	return bublk_pin_all(nt, err, errlen);
}

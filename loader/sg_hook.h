/* SPDX-License-Identifier: MIT */
/*
 * Attach bublk's scatter/gather hook program (bpf/sg_hook.bpf.c) to one
 * device, through the test kernel module's bublk_sg_ops struct_ops type
 * (include/bublk/sg_hook.h).  Only the module in selftests/kmod/ has it.
 */
#ifndef BUBLK_SG_HOOK_LOADER_H
#define BUBLK_SG_HOOK_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct bublk_sg_hook;

struct bublk_sg_hook_opts {
	__u32	dev_id;
	__u32	nr_queues;
	__u32	depth;
	/*
	 * The device's arena (its fd, mapped at arena_addr by the caller), or
	 * -1: the program's own arena of arena_bytes, mapped at arena_addr
	 * here.
	 */
	int	arena_fd;
	__u64	arena_addr;
	__u64	arena_bytes;
	__u64	slots_off;	/* where in the arena the iov slots go */
	/* refuse requests of more pieces (0: BUBLK_SG_MAX_PIECES) */
	__u32	max_entries;
	/* tests only: load the program sleepable, which the module refuses */
	bool	sleepable;
};

/* bytes of one tag's slot: slot s = q_id * depth + tag sits at slots_off + s * this */
size_t bublk_sg_hook_slot_bytes(void);
/* bytes of arena the slots of nr_queues x depth tags take */
size_t bublk_sg_hook_slots_bytes(__u32 nr_queues, __u32 depth);

/*
 * Load the object, allocate (touch) every slot page, configure and attach.
 * Returns 0 or -errno with a message in err.
 */
int bublk_sg_hook_attach(const char *obj_path, const struct bublk_sg_hook_opts *o,
			 struct bublk_sg_hook **out, char *err, size_t errlen);

/* the program's counters: iovs built, requests refused */
int bublk_sg_hook_stats(struct bublk_sg_hook *h, __u64 *built, __u64 *refused);

/* detach (requests fall back from now on) and free everything */
void bublk_sg_hook_detach(struct bublk_sg_hook *h);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Test-only: the stripe target built with different code, for the reload
 * test. Same layout and maps, plus a counter map the shipped stripe lacks:
 * when it counts, the reloaded program is the one serving.
 */
#include "bublk.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} stripe_alt_reqs SEC(".maps");

static __always_inline void count_request(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&stripe_alt_reqs, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

#define STRIPE_MAP_HOOK(rq) count_request()
#include "../../bpf/stripe.bpf.c"

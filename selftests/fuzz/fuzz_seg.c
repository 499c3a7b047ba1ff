// SPDX-License-Identifier: MIT
/*
 * Fuzz the runtime's checks of a target's answer (runtime/lib/seg.c): the
 * input is a request, a backend table and the descriptors a hostile target
 * could write. Whatever they hold, an accepted answer must keep every data
 * segment inside the request's data and its backend's size, moving data
 * the request's way, at most BUBLK_MAX_SEGS descriptors, one bounded DELAY,
 * no write to a read-only backend and no two READs racing for the same
 * bytes: the promises the executor relies on before it touches memory or
 * files.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seg.h"

struct fuzz_hdr {
	struct bublk_req	rq;
	__u8			nr_backends;
	__u8			max_segs;
	__u64			sizes[4];
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bublk_backend backends[4];
	struct bublk_seg *segs;
	struct fuzz_hdr h;
	unsigned int n, nb;

	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	data += sizeof(h);
	size -= sizeof(h);
	nb = h.nr_backends % 5;
	for (unsigned int i = 0; i < 4; i++) {
		backends[i].fd = -1;
		backends[i].size = h.sizes[i];
		backends[i].readonly = h.nr_backends & 0x80;
		backends[i].path[0] = 0;
	}
	if (bublk_answer_check(&h.rq, h.max_segs))
		return 0;
	if (h.rq.action != BUBLK_ACT_EXEC)
		return 0;
	/* no more descriptors than the request has room for, nor than the ABI's */
	if (h.rq.nr_segs > h.max_segs || h.rq.nr_segs > BUBLK_MAX_SEGS)
		__builtin_trap();
	/* exactly as many descriptors as the answer claims, in their own allocation */
	n = h.rq.nr_segs;
	if (size < n * sizeof(*segs))
		return 0;
	segs = malloc(n * sizeof(*segs) + 1);
	memcpy(segs, data, n * sizeof(*segs));
	if (!bublk_segs_check(&h.rq, segs, n, backends, nb)) {
		unsigned int delays = 0;

		for (unsigned int i = 0; i < n; i++) {
			const struct bublk_seg *s = &segs[i];
			bool arena = s->flags & BUBLK_SEG_F_ARENA;
			__u64 room = arena ? BUBLK_SCRATCH_SIZE : h.rq.len;

			if (i && s->stage < segs[i - 1].stage)
				__builtin_trap();
			if (s->flags & ~BUBLK_SEG_F_ARENA || s->op < BUBLK_SEG_READ ||
			    s->op >= BUBLK_SEG_OP_MAX)
				__builtin_trap();
			if (s->op == BUBLK_SEG_DELAY) {
				/* no backend, no data: only a bounded wait, one per request */
				if (s->len > BUBLK_MAX_DELAY_US || delays++)
					__builtin_trap();
				continue;
			}
			if (s->op == BUBLK_SEG_ZERO_FILL) {
				/* the READ's own data only */
				if (h.rq.op != BUBLK_OP_READ || arena || !s->len ||
				    s->data_off + s->len < s->data_off || s->data_off + s->len > h.rq.len)
					__builtin_trap();
				continue;
			}
			if (s->backend >= nb)
				__builtin_trap();
			if (s->op == BUBLK_SEG_FLUSH)
				continue;
			if (!s->len || s->backend_off + s->len < s->backend_off ||
			    s->backend_off + s->len > backends[s->backend].size)
				__builtin_trap();
			/* a read-only backend is only read */
			if (backends[s->backend].readonly && s->op != BUBLK_SEG_READ)
				__builtin_trap();
			if (s->op == BUBLK_SEG_READ || s->op == BUBLK_SEG_WRITE) {
				if (s->data_off + s->len < s->data_off || s->data_off + s->len > room)
					__builtin_trap();
				/* request data moves the request's way; the scratch either way */
				if (!arena && (s->op == BUBLK_SEG_READ) != (h.rq.op == BUBLK_OP_READ))
					__builtin_trap();
			}
			/* no two READs of one stage fill the same request bytes */
			for (unsigned int j = 0; j < i && s->op == BUBLK_SEG_READ && !arena; j++) {
				const struct bublk_seg *t = &segs[j];

				if (t->op == BUBLK_SEG_READ && !(t->flags & BUBLK_SEG_F_ARENA) &&
				    t->stage == s->stage && s->data_off < t->data_off + t->len &&
				    t->data_off < s->data_off + s->len)
					__builtin_trap();
			}
		}
	}
	free(segs);
	return 0;
}

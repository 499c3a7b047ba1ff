// SPDX-License-Identifier: MIT
/*
 * bublk add --dispatch=c serves a device with the C twins in
 * runtime/lib/cmap.c; they are only a fair reference for the BPF targets
 * if they answer exactly alike. Feed both the same synthetic batches
 * (every op, odd sizes, chunk-crossing, too many pieces) and compare every
 * answer and every descriptor.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "target_fixture.h"
#include "arena_skip.h"
#include "test.h"

static const char *obj_dir = "build/bpf";

struct answer {
	struct bublk_req	rq[FX_DEPTH];
	struct bublk_seg	segs[FX_DEPTH][FX_MAX_SEGS];
};

static __u64 rnd(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* a batch of nr random requests in random distinct slots */
static void fill(struct fx *f, int nr, __u64 *seed, __u64 dev_bytes, __u32 max_len)
{
	static const __u8 ops[] = {
		BUBLK_OP_READ, BUBLK_OP_WRITE, BUBLK_OP_FLUSH, BUBLK_OP_DISCARD,
		BUBLK_OP_WRITE_ZEROES, 4 /* unsupported */, 7 /* unsupported */,
	};
	__u16 perm[FX_DEPTH];

	for (int i = 0; i < FX_DEPTH; i++)
		perm[i] = i;
	for (int i = FX_DEPTH - 1; i > 0; i--) {
		int j = rnd(seed) % (i + 1);
		__u16 t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (int i = 0; i < nr; i++) {
		__u8 op = ops[rnd(seed) % sizeof(ops)];
		__u32 len = op == BUBLK_OP_FLUSH ? 0 : (__u32)(1 + rnd(seed) % (max_len >> 9)) << 9;
		__u64 off = op == BUBLK_OP_FLUSH ? 0 : (rnd(seed) % (dev_bytes >> 9)) << 9;

		fx_req(f, i, perm[i], op, off, len);
	}
}

/* run one side over the batch now in the arena, keep its answers */
static int run(struct fx *f, int nr, bool c, struct answer *a)
{
	struct bublk_batch b = fx_batch(f, nr);
	int ret;

	/* the descriptor area is poisoned too: stale segments must not match */
	memset(f->segs, c ? 0x5a : 0xa5, sizeof(a->segs));
	ret = c ? bublk_cmap_dispatch(&f->cmap, &b) : bublk_target_dispatch(&f->t, &b);
	if (ret)
		return ret;
	if ((int)b.answered != nr)
		return -EPROTO;
	memcpy(a->rq, f->reqs, sizeof(a->rq));
	memcpy(a->segs, f->segs, sizeof(a->segs));
	return 0;
}

static int compare_target(const char *name, int nr_backends, const char *config, __u32 max_len)
{
	static struct answer bpf, cm;
	struct bublk_req saved[FX_DEPTH];
	__u64 seed = 0x9e3779b97f4a7c15ULL, dev_bytes = 64ULL << 20;
	int mismatches = 0, compared = 0;
	struct fx f;

	if (fx_load(&f, obj_dir, name, nr_backends, 64ULL << 20, config)) {
		CHECK(0, "%s did not load", name);
		return -1;
	}
	for (int round = 0; round < 50; round++) {
		int nr = 1 + rnd(&seed) % FX_DEPTH;

		fill(&f, nr, &seed, dev_bytes, max_len);
		memcpy(saved, f.reqs, sizeof(saved));
		CHECK(!run(&f, nr, false, &bpf), "%s: BPF dispatch", name);
		memcpy(f.reqs, saved, sizeof(saved));
		CHECK(!run(&f, nr, true, &cm), "%s: C dispatch", name);
		for (int i = 0; i < nr; i++) {
			int tag = f.tags[i];
			const struct bublk_req *x = &bpf.rq[tag], *y = &cm.rq[tag];
			bool same = x->action == y->action && x->result == y->result &&
				    x->nr_segs == y->nr_segs && x->nr_segs <= FX_MAX_SEGS &&
				    !memcmp(bpf.segs[tag], cm.segs[tag], x->nr_segs * sizeof(struct bublk_seg));

			compared++;
			if (!same && mismatches++ < 3)
				printf("  %s: op %u at %llu+%u: BPF action %u result %d nr %u, C action %u result %d nr %u\n",
				       name, x->op, (unsigned long long)x->offset, x->len, x->action,
				       x->result, x->nr_segs, y->action, y->result, y->nr_segs);
		}
	}
	CHECK(!mismatches, "%s: %d of %d answers differ", name, mismatches, compared);
	bublk_target_close(&f.t);
	return mismatches;
}

static void test_null_twin(void) { compare_target("null", 1, NULL, 512 << 10); }
static void test_loop_twin(void) { compare_target("loop", 1, NULL, 512 << 10); }
/* chunk 64K: up to 9 pieces; 4 backends so every backend and offset math is used */
static void test_stripe_twin(void) { compare_target("stripe", 4, "chunk=64K", 512 << 10); }
/* requests longer than 32 chunks: both must fail them with EIO the same way */
static void test_stripe_twin_too_many_pieces(void) { compare_target("stripe", 3, "chunk=32K", 4 << 20); }

static void test_cmap_refuses_unknown_target(void)
{
	struct bublk_target t = { 0 };
	struct bublk_cmap m;
	char err[256] = "";

	strcpy(t.name, "mirror");
	CHECK(bublk_cmap_init(&m, &t, err, sizeof(err)) == -ENOENT && !m.map, "init: %s", err);
	CHECK(strstr(err, "mirror") != NULL, "message names the target: %s", err);
}

int main(int argc, char **argv)
{
	if (geteuid() != 0) {
		printf("not ok cmap: needs root (BPF_PROG_RUN of syscall programs)\n");
		return 1;
	}
	if (arena_skip(argc, argv, "cmap", &obj_dir))
		return 0;
	RUN(test_null_twin);
	RUN(test_loop_twin);
	RUN(test_stripe_twin);
	RUN(test_stripe_twin_too_many_pieces);
	RUN(test_cmap_refuses_unknown_target);
	return t_failed ? 1 : 0;
}

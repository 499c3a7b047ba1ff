// SPDX-License-Identifier: MIT
/*
 * Every shipped target loads on this kernel through the bublk loader and
 * answers synthetic requests, through BPF_PROG_RUN and the arena, exactly
 * as the runtime will see them. Also: the loader refuses what it must.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glob.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "seg.h"
#include "arena_skip.h"
#include "test.h"

#define DEPTH 64
#define MAX_SEGS BUBLK_MAX_SEGS

static const char *obj_dir = "build/bpf";

/*
 * The verifier budget: every shipped program must verify in a tenth of the
 * kernel's 1M-instruction limit, on every kernel we run on, so that a
 * verifier that explores a little more (another kernel, another clang)
 * never turns a target away. The one place this number lives: the device
 * test t_bpf_targets_vm runs this program on the VM's kernels.
 */
#define VERIFIER_BUDGET	100000

struct fixture {
	const char *config[8];
	int nr_config;
	int nr_backends;
	bool target_sizes;	/* device size 0: the target's init chooses */
	__u64 sizes[BUBLK_MAX_BACKENDS];	/* per backend; 0: backend_size */
	struct bublk_target t;
	struct bublk_req *reqs;
	__u16 *tags;
	struct bublk_seg *segs;
	char err[512];		/* why the load failed */
};

static int fixture_load(struct fixture *f, const char *name, __u64 backend_size)
{
	struct bublk_dev_info di = {
		.size = f->target_sizes ? 0 : backend_size, .nr_queues = 1, .depth = DEPTH,
		.block_size = 512, .nr_backends = f->nr_backends ? f->nr_backends : 1,
		.max_io_bytes = 512 << 10,
	};
	char path[256], *err = f->err;
	size_t errlen = sizeof(f->err);
	int ret;

	err[0] = 0;
	for (int i = 0; i < BUBLK_MAX_BACKENDS; i++)
		di.backend_size[i] = f->sizes[i] ? f->sizes[i] : backend_size;
	snprintf(path, sizeof(path), "%s/%s.bpf.o", obj_dir, name);
	ret = bublk_target_open(&f->t, path, err, errlen);
	if (!ret)
		ret = bublk_target_load(&f->t, 2 * 1024 * 1024, &di, f->config, f->nr_config,
						err, errlen);
	if (ret) {
		printf("  %s: %s\n", name, err);
		bublk_target_close(&f->t);	/* a half-loaded target must not block the next */
		return ret;
	}
	f->reqs = f->t.arena;
	f->tags = (__u16 *)((char *)f->t.arena + 4096);
	f->segs = (struct bublk_seg *)((char *)f->t.arena + 8192);
	return 0;
}

static void add_req(struct fixture *f, int i, __u16 tag, __u8 op, __u64 off, __u32 len, __u32 flags)
{
	struct bublk_req *r = &f->reqs[tag];

	memset(r, 0xee, sizeof(*r));	/* the target must overwrite its answer */
	r->tag = tag;
	r->q_id = 0;
	r->op = op;
	r->buf_kind = (op <= BUBLK_OP_WRITE) ? BUBLK_BUF_COPY : BUBLK_BUF_NONE;
	r->flags = flags;
	r->len = len;
	r->offset = off;
	f->tags[i] = tag;
}

/* scratch for DEPTH tags sits after the descriptors, inside the 2 MiB arena */
#define SCRATCH_OFF	(8192 + DEPTH * MAX_SEGS * sizeof(struct bublk_seg))

static int run(struct fixture *f, int nr, bool done)
{
	struct bublk_batch b = {
		.reqs = (__u64)(uintptr_t)f->reqs,
		.segs = (__u64)(uintptr_t)f->segs,
		.tags = (__u64)(uintptr_t)f->tags,
		.scratch = (__u64)(uintptr_t)f->t.arena + SCRATCH_OFF,
		.scratch_size = BUBLK_SCRATCH_SIZE,
		.nr = nr, .max_segs = MAX_SEGS, .depth = DEPTH,
	};
	int ret = done ? bublk_target_done(&f->t, &b) : bublk_target_dispatch(&f->t, &b);

	if (!ret && (int)b.answered != nr)
		return -EPROTO;
	return ret;
}

static int dispatch(struct fixture *f, int nr)
{
	return run(f, nr, false);
}

/*
 * What the runtime does before bublk_done: the request's first error and
 * round, every segment's result (results[] in segment order).
 */
static int done(struct fixture *f, int i, __u16 tag, __u16 round, const int *results)
{
	struct bublk_req *r = &f->reqs[tag];
	int first = 0;

	for (int k = 0; k < r->nr_segs; k++) {
		f->segs[tag * MAX_SEGS + k].result = results[k];
		if (results[k] < 0 && !first)
			first = results[k];
	}
	r->result = first;
	r->round = round;
	r->action = 0;
	f->tags[i] = tag;
	return run(f, 1, true);
}

static const struct bublk_seg *seg_of(struct fixture *f, int tag, int i)
{
	return &f->segs[tag * MAX_SEGS + i];
}

static void test_null_completes_everything(void)
{
	struct fixture f = { 0 };

	if (fixture_load(&f, "null", 1 << 20)) {
		CHECK(0, "null target did not load");
		return;
	}
	CHECK(!strcmp(f.t.name, "null"), "name %s", f.t.name);
	add_req(&f, 0, 3, BUBLK_OP_READ, 4096, 8192, 0);
	add_req(&f, 1, 7, BUBLK_OP_WRITE, 0, 512, BUBLK_REQ_F_FUA);
	add_req(&f, 2, 0, BUBLK_OP_FLUSH, 0, 0, 0);
	CHECK(dispatch(&f, 3) == 0, "dispatch");
	for (int tag = 0; tag < 8; tag += 1) {
		if (tag != 3 && tag != 7 && tag != 0)
			continue;
		CHECK(f.reqs[tag].action == BUBLK_ACT_COMPLETE, "tag %d action %u", tag, f.reqs[tag].action);
		CHECK(f.reqs[tag].result == 0, "tag %d result %d", tag, f.reqs[tag].result);
		CHECK(f.reqs[tag].nr_segs == 0, "tag %d nr_segs %u", tag, f.reqs[tag].nr_segs);
	}
	/* a tag not in the batch is untouched */
	f.reqs[9].action = 0x55;
	add_req(&f, 0, 1, BUBLK_OP_READ, 0, 4096, 0);
	CHECK(dispatch(&f, 1) == 0, "dispatch");
	CHECK(f.reqs[9].action == 0x55, "untouched slot changed");
	bublk_target_close(&f.t);
}

static void test_loop_maps_identity(void)
{
	struct bublk_backend be = { .fd = -1, .size = 64 << 20 };
	struct fixture f = { 0 };
	const struct bublk_seg *s;

	if (fixture_load(&f, "loop", 64 << 20)) {
		CHECK(0, "loop target did not load");
		return;
	}
	add_req(&f, 0, 5, BUBLK_OP_READ, 1 << 20, 65536, 0);
	add_req(&f, 1, 2, BUBLK_OP_WRITE, 4096, 4096, BUBLK_REQ_F_FUA);
	add_req(&f, 2, 9, BUBLK_OP_FLUSH, 0, 0, 0);
	add_req(&f, 3, 11, BUBLK_OP_DISCARD, 8 << 20, 1 << 20, 0);
	add_req(&f, 4, 12, BUBLK_OP_WRITE_ZEROES, 16 << 20, 8192, 0);
	add_req(&f, 5, 13, 4 /* WRITE_SAME: not served */, 0, 4096, 0);
	CHECK(dispatch(&f, 6) == 0, "dispatch");

	struct { int tag; __u8 op; __u64 off; __u32 len; } want[] = {
		{ 5, BUBLK_SEG_READ, 1 << 20, 65536 },
		{ 2, BUBLK_SEG_WRITE, 4096, 4096 },
		{ 9, BUBLK_SEG_FLUSH, 0, 0 },
		{ 11, BUBLK_SEG_DISCARD, 8 << 20, 1 << 20 },
		{ 12, BUBLK_SEG_WRITE_ZEROES, 16 << 20, 8192 },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct bublk_req *r = &f.reqs[want[i].tag];

		s = seg_of(&f, want[i].tag, 0);
		CHECK(r->action == BUBLK_ACT_EXEC && r->nr_segs == 1, "tag %d action %u nr %u",
		      want[i].tag, r->action, r->nr_segs);
		CHECK(s->op == want[i].op && s->backend == 0 && s->backend_off == want[i].off &&
		      s->len == want[i].len && s->data_off == 0 && !s->stage && !s->flags,
		      "tag %d seg op %u backend %u off %llu len %u", want[i].tag, s->op, s->backend,
		      (unsigned long long)s->backend_off, s->len);
		/* and the runtime's validator accepts it */
		CHECK(bublk_seg_check(r, s, &be, 1) == BUBLK_REJ_NONE, "validator refused tag %d: %s",
		      want[i].tag, bublk_reject_name(bublk_seg_check(r, s, &be, 1)));
	}
	CHECK(f.reqs[13].action == BUBLK_ACT_COMPLETE && f.reqs[13].result == -EOPNOTSUPP,
	      "unsupported op: action %u result %d", f.reqs[13].action, f.reqs[13].result);

	/* a full-depth batch in one call */
	for (int i = 0; i < DEPTH; i++)
		add_req(&f, i, i, BUBLK_OP_READ, (__u64)i * 4096, 4096, 0);
	CHECK(dispatch(&f, DEPTH) == 0, "dispatch of %d", DEPTH);
	for (int i = 0; i < DEPTH; i++) {
		s = seg_of(&f, i, 0);
		CHECK(f.reqs[i].action == BUBLK_ACT_EXEC && s->backend_off == (__u64)i * 4096,
		      "tag %d in a full batch", i);
	}
	bublk_target_close(&f.t);
}

static void test_stripe_splits_at_chunks(void)
{
	struct fixture f = { .config = { "chunk=64K" }, .nr_config = 1, .nr_backends = 4,
			     .target_sizes = true };
	struct bublk_dev_info di;
	const struct bublk_seg *s;

	if (fixture_load(&f, "stripe", 16 << 20)) {
		CHECK(0, "stripe target did not load");
		return;
	}
	/* bublk_init chose the size: 4 backends x 16 MiB */
	CHECK(!bublk_target_read_dev(&f.t, &di) && di.size == 64 << 20, "size %llu",
	      (unsigned long long)di.size);
	/* 200K at 60K: 4K on b0, 64K on b1, b2, b3, then 4K on b0's second chunk */
	add_req(&f, 0, 4, BUBLK_OP_WRITE, 60 << 10, 200 << 10, 0);
	add_req(&f, 1, 6, BUBLK_OP_FLUSH, 0, 0, 0);
	CHECK(dispatch(&f, 2) == 0, "dispatch");
	struct { __u16 b; __u64 boff, doff; __u32 len; } want[] = {
		{ 0, 60 << 10, 0, 4 << 10 },
		{ 1, 0, 4 << 10, 64 << 10 },
		{ 2, 0, 68 << 10, 64 << 10 },
		{ 3, 0, 132 << 10, 64 << 10 },
		{ 0, 64 << 10, 196 << 10, 4 << 10 },
	};
	CHECK(f.reqs[4].action == BUBLK_ACT_EXEC && f.reqs[4].nr_segs == 5, "action %u nr %u",
	      f.reqs[4].action, f.reqs[4].nr_segs);
	for (int i = 0; i < 5; i++) {
		s = seg_of(&f, 4, i);
		CHECK(s->op == BUBLK_SEG_WRITE && s->backend == want[i].b && s->backend_off == want[i].boff &&
		      s->data_off == want[i].doff && s->len == want[i].len,
		      "piece %d: backend %u off %llu data %llu len %u", i, s->backend,
		      (unsigned long long)s->backend_off, (unsigned long long)s->data_off, s->len);
	}
	CHECK(f.reqs[6].nr_segs == 4, "flush goes to every backend: %u", f.reqs[6].nr_segs);
	for (int i = 0; i < 4; i++)
		CHECK(seg_of(&f, 6, i)->op == BUBLK_SEG_FLUSH && seg_of(&f, 6, i)->backend == i, "flush %d", i);
	bublk_target_close(&f.t);

	/* options are checked by name and by the target's own init */
	struct fixture g = { .config = { "chunky=1" }, .nr_config = 1, .nr_backends = 2 };
	CHECK(fixture_load(&g, "stripe", 1 << 20) == -ENOENT, "unknown option accepted");
	bublk_target_close(&g.t);
	struct fixture h = { .config = { "chunk=5000" }, .nr_config = 1, .nr_backends = 2 };
	CHECK(fixture_load(&h, "stripe", 1 << 20) == -EDOM, "chunk 5000 accepted");
	/* the target's own reason (bublk_refuse) reaches the message, with the errno */
	CHECK(strstr(h.err, "target stripe refused the device: chunk must be a power of two >= 4K (Numerical argument out of domain)"),
	      "refusal message: %s", h.err);
	bublk_target_close(&h.t);
	struct fixture h2 = { .config = { "chunk=4M" }, .nr_config = 1, .nr_backends = 2 };
	CHECK(fixture_load(&h2, "stripe", 1 << 20) == -EFBIG, "chunk larger than a backend accepted");
	CHECK(strstr(h2.err, "chunk is larger than the smallest backing file"), "refusal message: %s",
	      h2.err);
	bublk_target_close(&h2.t);
	struct fixture k = { .config = { "chunk=64K" }, .nr_config = 1 };
	CHECK(fixture_load(&k, "loop", 1 << 20) == -EINVAL, "loop took a chunk option");
	bublk_target_close(&k.t);
}

static void expect_seg(struct fixture *f, int tag, int i, __u8 op, __u16 b, __u64 boff,
		       __u64 doff, __u32 len)
{
	const struct bublk_seg *s = seg_of(f, tag, i);

	CHECK(s->op == op && s->backend == b && s->backend_off == boff && s->data_off == doff &&
	      s->len == len, "tag %d seg %d: op %u backend %u off %llu data %llu len %u; want op %u backend %u off %llu data %llu len %u",
	      tag, i, s->op, s->backend, (unsigned long long)s->backend_off,
	      (unsigned long long)s->data_off, s->len, op, b, (unsigned long long)boff,
	      (unsigned long long)doff, len);
}

static void test_linear_concatenates(void)
{
	/* 1M, 3M + 1000 (3M usable), 2M */
	struct fixture f = { .nr_backends = 3, .target_sizes = true,
			     .sizes = { 1 << 20, (3 << 20) + 1000, 2 << 20 } };
	struct bublk_dev_info di;

	if (fixture_load(&f, "linear", 0)) {
		CHECK(0, "linear target did not load");
		return;
	}
	CHECK(!bublk_target_read_dev(&f.t, &di) && di.size == 6 << 20, "size %llu",
	      (unsigned long long)di.size);
	/* 128K across the first boundary */
	add_req(&f, 0, 1, BUBLK_OP_WRITE, (1 << 20) - (64 << 10), 128 << 10, 0);
	/* the whole middle backend and 4K on each side */
	add_req(&f, 1, 2, BUBLK_OP_READ, (1 << 20) - 4096, (3 << 20) + 8192, 0);
	/* inside the last one */
	add_req(&f, 2, 3, BUBLK_OP_DISCARD, (5 << 20), 8192, 0);
	add_req(&f, 3, 4, BUBLK_OP_FLUSH, 0, 0, 0);
	CHECK(dispatch(&f, 4) == 0, "dispatch");
	CHECK(f.reqs[1].nr_segs == 2, "boundary write: %u segs", f.reqs[1].nr_segs);
	expect_seg(&f, 1, 0, BUBLK_SEG_WRITE, 0, (1 << 20) - (64 << 10), 0, 64 << 10);
	expect_seg(&f, 1, 1, BUBLK_SEG_WRITE, 1, 0, 64 << 10, 64 << 10);
	CHECK(f.reqs[2].nr_segs == 3, "spanning read: %u segs", f.reqs[2].nr_segs);
	expect_seg(&f, 2, 0, BUBLK_SEG_READ, 0, (1 << 20) - 4096, 0, 4096);
	expect_seg(&f, 2, 1, BUBLK_SEG_READ, 1, 0, 4096, 3 << 20);
	expect_seg(&f, 2, 2, BUBLK_SEG_READ, 2, 0, (3 << 20) + 4096, 4096);
	expect_seg(&f, 3, 0, BUBLK_SEG_DISCARD, 2, 1 << 20, 0, 8192);
	CHECK(f.reqs[4].nr_segs == 3, "flush to all: %u", f.reqs[4].nr_segs);
	bublk_target_close(&f.t);

	/* a backend smaller than 4K holds nothing: the walk steps over it */
	struct fixture g = { .nr_backends = 3, .target_sizes = true,
			     .sizes = { 1 << 20, 2000, 1 << 20 } };

	if (fixture_load(&g, "linear", 0)) {
		CHECK(0, "linear target did not load");
		return;
	}
	CHECK(!bublk_target_read_dev(&g.t, &di) && di.size == 2 << 20, "size %llu",
	      (unsigned long long)di.size);
	add_req(&g, 0, 1, BUBLK_OP_WRITE, (1 << 20) - 4096, 8192, 0);
	/* past the end: the target says EIO rather than emitting nothing */
	add_req(&g, 1, 2, BUBLK_OP_READ, (2 << 20) - 4096, 8192, 0);
	CHECK(dispatch(&g, 2) == 0, "dispatch");
	CHECK(g.reqs[1].action == BUBLK_ACT_EXEC && g.reqs[1].nr_segs == 2,
	      "across the empty backend: action %u, %u segs", g.reqs[1].action, g.reqs[1].nr_segs);
	expect_seg(&g, 1, 0, BUBLK_SEG_WRITE, 0, (1 << 20) - 4096, 0, 4096);
	expect_seg(&g, 1, 1, BUBLK_SEG_WRITE, 2, 0, 4096, 4096);
	CHECK(g.reqs[2].action == BUBLK_ACT_COMPLETE && g.reqs[2].result == -EIO,
	      "past the end: action %u result %d", g.reqs[2].action, g.reqs[2].result);
	bublk_target_close(&g.t);
}

static void test_mirror_fails_over(void)
{
	struct fixture f = { .nr_backends = 2, .target_sizes = true };
	int ok_fail[] = { 0, -EIO }, fail[] = { -EIO };
	__u16 leg;

	if (fixture_load(&f, "mirror", 8 << 20)) {
		CHECK(0, "mirror target did not load");
		return;
	}
	CHECK(f.t.done_fd >= 0, "mirror has no bublk_done");
	add_req(&f, 0, 1, BUBLK_OP_WRITE, 65536, 8192, 0);
	add_req(&f, 1, 2, BUBLK_OP_READ, 0, 4096, 0);
	add_req(&f, 2, 3, BUBLK_OP_READ, 65536, 4096, 0);
	CHECK(dispatch(&f, 3) == 0, "dispatch");
	CHECK(f.reqs[1].nr_segs == 2, "write to both legs: %u", f.reqs[1].nr_segs);
	expect_seg(&f, 1, 0, BUBLK_SEG_WRITE, 0, 65536, 0, 8192);
	expect_seg(&f, 1, 1, BUBLK_SEG_WRITE, 1, 65536, 0, 8192);
	/* reads spread by 64K region */
	expect_seg(&f, 2, 0, BUBLK_SEG_READ, 0, 0, 0, 4096);
	expect_seg(&f, 3, 0, BUBLK_SEG_READ, 1, 65536, 0, 4096);

	/* leg 1 fails the write: still a success, leg 1 is now failed */
	CHECK(done(&f, 0, 1, 1, ok_fail) == 0, "done");
	CHECK(f.reqs[1].action == BUBLK_ACT_COMPLETE && f.reqs[1].result == 0,
	      "write with one leg left: action %u result %d", f.reqs[1].action, f.reqs[1].result);
	/* the read that went to leg 1 is retried on leg 0 */
	CHECK(done(&f, 0, 3, 1, fail) == 0, "done");
	CHECK(f.reqs[3].action == BUBLK_ACT_EXEC && f.reqs[3].nr_segs == 1, "retry: action %u nr %u",
	      f.reqs[3].action, f.reqs[3].nr_segs);
	leg = seg_of(&f, 3, 0)->backend;
	CHECK(leg == 0, "retried on leg %u", leg);
	/* new requests avoid leg 1 */
	add_req(&f, 0, 5, BUBLK_OP_READ, 65536, 4096, 0);
	add_req(&f, 1, 6, BUBLK_OP_WRITE, 0, 4096, 0);
	CHECK(dispatch(&f, 2) == 0, "dispatch");
	expect_seg(&f, 5, 0, BUBLK_SEG_READ, 0, 65536, 0, 4096);
	CHECK(f.reqs[6].nr_segs == 1 && seg_of(&f, 6, 0)->backend == 0, "write skips failed leg");
	/* the last leg fails too: the client gets the error */
	CHECK(done(&f, 0, 5, 1, fail) == 0, "done");
	CHECK(f.reqs[5].action == BUBLK_ACT_COMPLETE && f.reqs[5].result == -EIO,
	      "no leg left: action %u result %d", f.reqs[5].action, f.reqs[5].result);
	bublk_target_close(&f.t);

	struct fixture g = { .nr_backends = 1 };
	CHECK(fixture_load(&g, "mirror", 1 << 20) == -EINVAL, "mirror with one leg accepted");
	bublk_target_close(&g.t);
}

static void test_fault_rules(void)
{
	struct fixture f = { .config = { "ops=2", "err=28", "start=8", "end=16", "every=2" },
			     .nr_config = 5, .target_sizes = true };
	int ok[] = { 0 };

	if (fixture_load(&f, "fault", 1 << 20)) {
		CHECK(0, "fault target did not load");
		return;
	}
	/* writes touching sectors 8..15 fail with ENOSPC, every second one */
	for (int round = 0; round < 2; round++) {
		add_req(&f, 0, 1, BUBLK_OP_WRITE, 4096, 4096, 0);	/* sectors 8-15 */
		add_req(&f, 1, 2, BUBLK_OP_WRITE, 8192, 4096, 0);	/* 16-23: outside */
		add_req(&f, 2, 3, BUBLK_OP_READ, 4096, 4096, 0);	/* a read */
		CHECK(dispatch(&f, 3) == 0, "dispatch");
		if (round == 0)
			CHECK(f.reqs[1].action == BUBLK_ACT_EXEC, "1st matching write failed");
		else
			CHECK(f.reqs[1].action == BUBLK_ACT_COMPLETE && f.reqs[1].result == -ENOSPC,
			      "2nd matching write: action %u result %d", f.reqs[1].action,
			      f.reqs[1].result);
		CHECK(f.reqs[2].action == BUBLK_ACT_EXEC, "write outside the range failed");
		CHECK(f.reqs[3].action == BUBLK_ACT_EXEC, "read failed");
		expect_seg(&f, 3, 0, BUBLK_SEG_READ, 0, 4096, 0, 4096);
	}
	bublk_target_close(&f.t);

	/* a delayed failure: DELAY alone, then bublk_done fails it */
	struct fixture g = { .config = { "ops=1", "err=5", "delay_us=1000" }, .nr_config = 3,
			     .target_sizes = true };
	if (fixture_load(&g, "fault", 1 << 20)) {
		CHECK(0, "fault target did not load");
		return;
	}
	add_req(&g, 0, 7, BUBLK_OP_READ, 0, 4096, 0);
	CHECK(dispatch(&g, 1) == 0, "dispatch");
	CHECK(g.reqs[7].action == BUBLK_ACT_EXEC && g.reqs[7].nr_segs == 1 && g.reqs[7].notify,
	      "delayed failure: action %u nr %u notify %u", g.reqs[7].action, g.reqs[7].nr_segs,
	      g.reqs[7].notify);
	expect_seg(&g, 7, 0, BUBLK_SEG_DELAY, 0, 0, 0, 1000);
	CHECK(done(&g, 0, 7, 1, ok) == 0, "done");
	CHECK(g.reqs[7].action == BUBLK_ACT_COMPLETE && g.reqs[7].result == -EIO,
	      "after the delay: action %u result %d", g.reqs[7].action, g.reqs[7].result);
	bublk_target_close(&g.t);
}

/* an overlay file whose table says: slot 3 holds device block 7 */
static int overlay_file(void)
{
	char path[] = "/tmp/bublk-overlay-XXXXXX";
	__u64 entry = 7 + 1;
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	if (ftruncate(fd, 2 << 20) || pwrite(fd, &entry, 8, 3 * 8) != 8) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_overlay_copy_on_write(void)
{
	struct fixture f = { .nr_backends = 2, .target_sizes = true,
			     .sizes = { 2 << 20, 1 << 20 } };
	const __u64 data = 1 << 20;	/* slots start after the 1 MiB table */
	int ok4[] = { 0, 0, 0, 0 };
	struct bublk_dev_info di;
	__u64 *scratch;
	int fd;

	if (fixture_load(&f, "overlay", 0)) {
		CHECK(0, "overlay target did not load");
		return;
	}
	CHECK(!bublk_target_read_dev(&f.t, &di), "read dev");
	CHECK(di.size == 1 << 20 && di.block_size == 4096 && di.max_io_bytes == 64 << 10 &&
	      di.preload_pages == 256 && di.preload_backend == 0,
	      "init: size %llu block %u max_io %u preload %u pages of backend %u",
	      (unsigned long long)di.size, di.block_size, di.max_io_bytes, di.preload_pages,
	      di.preload_backend);
	fd = overlay_file();
	CHECK(fd >= 0, "overlay file");
	if (fd < 0)
		return;
	{
		char err[256] = "";
		int ret = bublk_target_preload(&f.t, fd, 0, di.preload_pages, err, sizeof(err));

		CHECK(ret == 0, "preload: %s", err);
	}
	close(fd);
	/* block 7 is in slot 3 (from the table); block 3 is only in the base */
	add_req(&f, 0, 1, BUBLK_OP_READ, 7 * 4096, 4096, 0);
	add_req(&f, 1, 2, BUBLK_OP_READ, 3 * 4096, 8192, 0);
	/* first write of blocks 5-6: slots 4 and 5 (after the table's highest) */
	add_req(&f, 2, 3, BUBLK_OP_WRITE, 5 * 4096, 8192, 0);
	CHECK(dispatch(&f, 3) == 0, "dispatch");
	expect_seg(&f, 1, 0, BUBLK_SEG_READ, 0, data + 3 * 4096, 0, 4096);
	expect_seg(&f, 2, 0, BUBLK_SEG_READ, 1, 3 * 4096, 0, 4096);
	expect_seg(&f, 2, 1, BUBLK_SEG_READ, 1, 4 * 4096, 4096, 4096);
	CHECK(f.reqs[3].nr_segs == 4 && f.reqs[3].notify, "write: %u segs notify %u",
	      f.reqs[3].nr_segs, f.reqs[3].notify);
	expect_seg(&f, 3, 0, BUBLK_SEG_WRITE, 0, data + 4 * 4096, 0, 4096);
	expect_seg(&f, 3, 1, BUBLK_SEG_WRITE, 0, data + 5 * 4096, 4096, 4096);
	/* stage 1: the table entries, from the arena scratch */
	expect_seg(&f, 3, 2, BUBLK_SEG_WRITE, 0, 4 * 8, 0, 8);
	expect_seg(&f, 3, 3, BUBLK_SEG_WRITE, 0, 5 * 8, 8, 8);
	CHECK(seg_of(&f, 3, 0)->stage == 0 && seg_of(&f, 3, 2)->stage == 1 &&
	      seg_of(&f, 3, 2)->flags == BUBLK_SEG_F_ARENA, "stages/flags");
	scratch = (__u64 *)((char *)f.t.arena + SCRATCH_OFF + 3 * BUBLK_SCRATCH_SIZE);
	CHECK(scratch[0] == 5 + 1 && scratch[1] == 6 + 1, "entries %llu %llu",
	      (unsigned long long)scratch[0], (unsigned long long)scratch[1]);

	/* before the write completes, a read of block 5 still goes to the base */
	add_req(&f, 0, 4, BUBLK_OP_READ, 5 * 4096, 4096, 0);
	CHECK(dispatch(&f, 1) == 0, "dispatch");
	expect_seg(&f, 4, 0, BUBLK_SEG_READ, 1, 5 * 4096, 0, 4096);
	/* both stages done: persisted, later reads and writes use the slot only */
	CHECK(done(&f, 0, 3, 1, ok4) == 0, "done");
	CHECK(f.reqs[3].action == BUBLK_ACT_COMPLETE && f.reqs[3].result == 0, "write done");
	add_req(&f, 0, 4, BUBLK_OP_READ, 5 * 4096, 4096, 0);
	add_req(&f, 1, 5, BUBLK_OP_WRITE, 6 * 4096, 4096, 0);
	CHECK(dispatch(&f, 2) == 0, "dispatch");
	expect_seg(&f, 4, 0, BUBLK_SEG_READ, 0, data + 4 * 4096, 0, 4096);
	CHECK(f.reqs[5].nr_segs == 1 && !f.reqs[5].notify, "rewrite: %u segs", f.reqs[5].nr_segs);
	expect_seg(&f, 5, 0, BUBLK_SEG_WRITE, 0, data + 5 * 4096, 0, 4096);
	bublk_target_close(&f.t);
}

/* examples/hello.bpf.o: what a newcomer copies must load and work too */
static void test_example_hello(void)
{
	struct fixture f = { .config = { "skip=1M" }, .nr_config = 1, .target_sizes = true };
	struct bublk_dev_info di;

	if (fixture_load(&f, "../examples/hello", 4 << 20)) {
		CHECK(0, "examples/hello did not load");
		return;
	}
	CHECK(!bublk_target_read_dev(&f.t, &di) && di.size == 3 << 20, "size %llu",
	      (unsigned long long)di.size);
	add_req(&f, 0, 2, BUBLK_OP_WRITE, 8192, 4096, 0);
	CHECK(dispatch(&f, 1) == 0, "dispatch");
	expect_seg(&f, 2, 0, BUBLK_SEG_WRITE, 0, (1 << 20) + 8192, 0, 4096);
	bublk_target_close(&f.t);
	struct fixture g = { .config = { "skip=1000" }, .nr_config = 1, .target_sizes = true };
	CHECK(fixture_load(&g, "../examples/hello", 4 << 20) == -EDOM, "unaligned skip accepted");
	CHECK(strstr(g.err, "skip must be a multiple of 4K"), "refusal message: %s", g.err);
	bublk_target_close(&g.t);
}

/*
 * The hostile test target (selftests/targets/hostile.bpf.c) makes, in each
 * mode, exactly the mistake the runtime's checks must name; requests below
 * 1 MiB stay correct. The device test t_hostile_modes runs it for real.
 */
static void test_hostile_modes(void)
{
	static const struct { const char *mode; enum bublk_reject rd, wr; } cases[] = {
		{ "mode=0", BUBLK_REJ_NONE, BUBLK_REJ_NONE },
		{ "mode=1", BUBLK_REJ_DATA_RANGE, BUBLK_REJ_DATA_RANGE },
		{ "mode=2", BUBLK_REJ_TOO_MANY_SEGS, BUBLK_REJ_TOO_MANY_SEGS },
		{ "mode=3", BUBLK_REJ_BACKEND, BUBLK_REJ_BACKEND },
		{ "mode=4", BUBLK_REJ_BACKEND_RANGE, BUBLK_REJ_BACKEND_RANGE },
		{ "mode=5", BUBLK_REJ_OVERLAP, BUBLK_REJ_NONE },
		{ "mode=6", BUBLK_REJ_OP, BUBLK_REJ_OP },
		{ "mode=7", BUBLK_REJ_ACTION, BUBLK_REJ_ACTION },
	};
	struct bublk_backend be = { .fd = -1, .size = 2 << 20 };

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct fixture f = { .config = { cases[c].mode }, .nr_config = 1 };
		enum bublk_reject got[3];

		if (fixture_load(&f, "../selftests/targets/hostile", be.size)) {
			CHECK(0, "hostile %s did not load", cases[c].mode);
			continue;
		}
		add_req(&f, 0, 1, BUBLK_OP_READ, 0, 8192, 0);		/* below 1 MiB: good */
		add_req(&f, 1, 2, BUBLK_OP_READ, 1 << 20, 8192, 0);
		add_req(&f, 2, 3, BUBLK_OP_WRITE, (1 << 20) + 8192, 8192, 0);
		CHECK(dispatch(&f, 3) == 0, "%s: dispatch", cases[c].mode);
		for (int tag = 1; tag <= 3; tag++) {
			const struct bublk_req *rq = &f.reqs[tag];

			got[tag - 1] = bublk_answer_check(rq, MAX_SEGS);
			if (!got[tag - 1] && rq->action == BUBLK_ACT_EXEC)
				got[tag - 1] = bublk_segs_check(rq, seg_of(&f, tag, 0), rq->nr_segs, &be, 1);
		}
		CHECK(got[0] == BUBLK_REJ_NONE, "%s: good request refused (%s)", cases[c].mode,
		      bublk_reject_name(got[0]));
		CHECK(got[1] == cases[c].rd, "%s: read got %s, want %s", cases[c].mode,
		      bublk_reject_name(got[1]), bublk_reject_name(cases[c].rd));
		CHECK(got[2] == cases[c].wr, "%s: write got %s, want %s", cases[c].mode,
		      bublk_reject_name(got[2]), bublk_reject_name(cases[c].wr));
		bublk_target_close(&f.t);
	}
}

/* bublk add --help's list comes from the objects: every target, nothing else */
static void test_target_list(void)
{
	char names[512];
	int nr;

	setenv("BUBLK_TARGET_PATH", obj_dir, 1);
	nr = bublk_target_list(NULL, NULL, names, sizeof(names));
	unsetenv("BUBLK_TARGET_PATH");
	CHECK(nr >= 7, "%d targets: %s", nr, names);
	CHECK(strstr(names, "loop, mirror, null, overlay, stripe"), "names: %s", names);
	CHECK(!strstr(names, "sg_hook"), "a non-target is listed: %s", names);
}

static void test_loader_refuses_non_targets(void)
{
	struct bublk_target t;
	char err[512] = "", garbage[300];
	FILE *f;

	CHECK(bublk_target_open(&t, "/nonexistent.bpf.o", err, sizeof(err)) < 0, "missing file");
	snprintf(garbage, sizeof(garbage), "%s/../selftests/garbage.bpf.o", obj_dir);
	f = fopen(garbage, "w");
	if (!f) {
		CHECK(0, "cannot create %s", garbage);
		return;
	}
	fputs("this is not an ELF file", f);
	fclose(f);
	err[0] = 0;
	CHECK(bublk_target_open(&t, garbage, err, sizeof(err)) < 0, "garbage accepted");
	CHECK(strstr(err, "not a loadable BPF object") != NULL, "message: %s", err);
	/* a target that would submit I/O itself from inside the kernel engine */
	snprintf(garbage, sizeof(garbage), "%s/../selftests/targets/kfunc_caller.bpf.o", obj_dir);
	err[0] = 0;
	CHECK(bublk_target_open(&t, garbage, err, sizeof(err)) == -EPERM,
	      "a target calling bpf_io_uring_submit_sqes opened: %s", err);
	CHECK(strstr(err, "io_uring's kfunc bpf_io_uring_submit_sqes") != NULL, "message: %s", err);
}

/*
 * Every shipped object (bpf/, examples/, selftests/targets/) loads on this
 * kernel, and each of its programs verifies within VERIFIER_BUDGET: one
 * line per object with each program's bpf_prog_info.verified_insns, so the
 * figure exists per kernel. Not here: kfunc_caller (refused on purpose)
 * and sg_hook, whose struct_ops type
 * exists only in the test ublk module (selftests/kmod).
 */
static void load_counted(const char *path, const char *name)
{
	struct bublk_dev_info di = {
		.nr_queues = 1, .depth = DEPTH, .block_size = 512, .nr_backends = 2,
		.max_io_bytes = 512 << 10,
	};
	char line[512], err[512] = "";
	struct bublk_target t;
	struct bpf_program *p;
	bool over = false;
	int len = 0;

	for (int i = 0; i < BUBLK_MAX_BACKENDS; i++)
		di.backend_size[i] = 16 << 20;
	if (bublk_target_open(&t, path, err, sizeof(err))) {
		printf("not ok load %s: %s\n", name, err);
		t_failed++;
		return;
	}
	/*
	 * Only the verifier's verdict counts here: whether bublk_init accepts
	 * this made-up device is the functional tests' business.
	 */
	bublk_target_load(&t, 2 * 1024 * 1024, &di, NULL, 0, err, sizeof(err));
	bpf_object__for_each_program(p, t.obj) {
		struct bpf_prog_info info;
		__u32 info_len = sizeof(info);
		int fd = bpf_program__fd(p);

		memset(&info, 0, sizeof(info));
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &info_len)) {
			/* fd < 0: the object did not load; err says why, the verifier's log is above */
			if (fd < 0)
				printf("not ok load %s: %s\n", name, err);
			else
				printf("not ok load %s: no bpf_prog_info for %s: %s\n", name,
				       bpf_program__name(p), strerror(errno));
			t_failed++;
			bublk_target_close(&t);
			return;
		}
		if (info.verified_insns > VERIFIER_BUDGET)
			over = true;
		len += snprintf(line + len, sizeof(line) - len, "%s%s %u insns", len ? ", " : "",
				bpf_program__name(p), info.verified_insns);
		if (len >= (int)sizeof(line))
			len = sizeof(line) - 1;
	}
	bublk_target_close(&t);
	if (over) {
		printf("not ok load %s: %s; over the budget of %d verified instructions: reshape it (bpf_loop() for walks, one call site per helper)\n",
		       name, line, VERIFIER_BUDGET);
		t_failed++;
	} else {
		printf("ok load %s: %s\n", name, line);
		t_passed++;
	}
}

static void test_verifier_budget(void)
{
	static const char *const dirs[] = { "", "../examples/", "../selftests/targets/" };
	char pattern[PATH_MAX], name[128];

	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		glob_t g;

		snprintf(pattern, sizeof(pattern), "%s/%s*.bpf.o", obj_dir, dirs[d]);
		/* the budget must not pass by finding nothing */
		if (glob(pattern, 0, NULL, &g)) {
			printf("not ok load %s: no such objects: build them first (make all plus the Makefile's TEST_PROGS)\n",
			       pattern);
			t_failed++;
			continue;
		}
		for (size_t i = 0; i < g.gl_pathc; i++) {
			const char *base = strrchr(g.gl_pathv[i], '/') + 1;

			/* the module's type; refused by the loader on purpose */
			if (!strcmp(base, "sg_hook.bpf.o") || !strcmp(base, "kfunc_caller.bpf.o"))
				continue;
			snprintf(name, sizeof(name), "%s%.*s", d == 1 ? "examples/" : d == 2 ? "targets/" : "",
				 (int)(strlen(base) - strlen(".bpf.o")), base);
			load_counted(g.gl_pathv[i], name);
		}
		globfree(&g);
	}
}

int main(int argc, char **argv)
{
	if (geteuid()) {
		printf("not ok bpf_targets: needs root (BPF_PROG_RUN of syscall programs)\n");
		return 1;
	}
	if (arena_skip(argc, argv, "bpf_targets", &obj_dir))
		return 0;
	/* prints its own "ok load NAME: ..." line per object */
	test_verifier_budget();
	RUN(test_null_completes_everything);
	RUN(test_loop_maps_identity);
	RUN(test_stripe_splits_at_chunks);
	RUN(test_linear_concatenates);
	RUN(test_mirror_fails_over);
	RUN(test_fault_rules);
	RUN(test_overlay_copy_on_write);
	RUN(test_example_hello);
	RUN(test_hostile_modes);
	RUN(test_target_list);
	RUN(test_loader_refuses_non_targets);
	printf("# %d checks passed, %d failed\n", t_passed, t_failed);
	return t_failed != 0;
}

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

#include "loader.h"
#include "seg.h"
#include "test.h"

#define DEPTH 64
#define MAX_SEGS BUBLK_MAX_SEGS

static const char *obj_dir = "build/bpf";

struct fixture {
	const char *config[4];
	int nr_config;
	int nr_backends;
	bool target_sizes;	/* device size 0: the target's init chooses */
	struct bublk_target t;
	struct bublk_req *reqs;
	__u16 *tags;
	struct bublk_seg *segs;
};

static int fixture_load(struct fixture *f, const char *name, __u64 backend_size)
{
	struct bublk_dev_info di = {
		.size = f->target_sizes ? 0 : backend_size, .nr_queues = 1, .depth = DEPTH,
		.block_size = 512, .nr_backends = f->nr_backends ? f->nr_backends : 1,
		.max_io_bytes = 512 << 10,
	};
	char path[256], err[512] = "";
	int ret;

	for (int i = 0; i < BUBLK_MAX_BACKENDS; i++)
		di.backend_size[i] = backend_size;
	snprintf(path, sizeof(path), "%s/%s.bpf.o", obj_dir, name);
	ret = bublk_target_open(&f->t, path, err, sizeof(err));
	if (!ret)
		ret = bublk_target_load(&f->t, 2 * 1024 * 1024, &di, f->config, f->nr_config,
						err, sizeof(err));
	if (ret) {
		printf("  %s: %s\n", name, err);
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

static int dispatch(struct fixture *f, int nr)
{
	struct bublk_batch b = {
		.reqs = (__u64)(uintptr_t)f->reqs,
		.segs = (__u64)(uintptr_t)f->segs,
		.tags = (__u64)(uintptr_t)f->tags,
		.nr = nr, .max_segs = MAX_SEGS, .depth = DEPTH,
	};
	int ret = bublk_target_dispatch(&f->t, &b);

	if (!ret && (int)b.answered != nr)
		return -EPROTO;
	return ret;
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
		      s->len == want[i].len && s->data_off == 0 && !s->stage && !s->reserved,
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
	bublk_target_close(&h.t);
	struct fixture k = { .config = { "chunk=64K" }, .nr_config = 1 };
	CHECK(fixture_load(&k, "loop", 1 << 20) == -EINVAL, "loop took a chunk option");
	bublk_target_close(&k.t);
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
}

int main(int argc, char **argv)
{
	if (argc > 1)
		obj_dir = argv[1];
	if (geteuid()) {
		printf("not ok bpf_targets: needs root (BPF_PROG_RUN of syscall programs)\n");
		return 1;
	}
	RUN(test_null_completes_everything);
	RUN(test_loop_maps_identity);
	RUN(test_stripe_splits_at_chunks);
	RUN(test_hostile_modes);
	RUN(test_loader_refuses_non_targets);
	printf("# %d checks passed, %d failed\n", t_passed, t_failed);
	return t_failed != 0;
}

// SPDX-License-Identifier: MIT
/* Unit tests of the pure parts: descriptor validation, parsing, state JSON. */
#include <errno.h>
#include <string.h>

#include "parse.h"
#include "seg.h"
#include "state.h"
#include "test.h"

static struct bublk_backend backends[2] = {
	{ .fd = -1, .size = 1 << 20 },
	{ .fd = -1, .size = 4096, .readonly = true },
};

static struct bublk_seg seg(__u8 op, __u16 backend, __u64 boff, __u64 doff, __u32 len)
{
	struct bublk_seg s = { .op = op, .backend = backend, .backend_off = boff,
			       .data_off = doff, .len = len };
	return s;
}

static void test_seg_check(void)
{
	struct bublk_req rd = { .op = BUBLK_OP_READ, .len = 8192, .offset = 0 };
	struct bublk_req wr = { .op = BUBLK_OP_WRITE, .len = 8192, .offset = 0 };
	struct bublk_seg s;

#define EXPECT(rq, sg, want) do {						\
	struct bublk_seg _s = (sg);						\
	enum bublk_reject _r = bublk_seg_check(&(rq), &_s, backends, 2);	\
	CHECK(_r == (want), "got %s, want %s", bublk_reject_name(_r), bublk_reject_name(want)); \
} while (0)

	EXPECT(rd, seg(BUBLK_SEG_READ, 0, 0, 0, 8192), BUBLK_REJ_NONE);
	EXPECT(rd, seg(BUBLK_SEG_READ, 0, (1 << 20) - 8192, 0, 8192), BUBLK_REJ_NONE);
	EXPECT(rd, seg(BUBLK_SEG_READ, 0, (1 << 20) - 4096, 0, 8192), BUBLK_REJ_BACKEND_RANGE);
	EXPECT(rd, seg(BUBLK_SEG_READ, 0, ~0ULL - 100, 0, 8192), BUBLK_REJ_BACKEND_RANGE);
	EXPECT(rd, seg(BUBLK_SEG_READ, 0, 0, 4096, 8192), BUBLK_REJ_DATA_RANGE);
	EXPECT(rd, seg(BUBLK_SEG_READ, 0, 0, ~0ULL - 10, 4096), BUBLK_REJ_DATA_RANGE);
	EXPECT(rd, seg(BUBLK_SEG_READ, 2, 0, 0, 512), BUBLK_REJ_BACKEND);
	EXPECT(rd, seg(BUBLK_SEG_READ, 0, 0, 0, 0), BUBLK_REJ_LENGTH);
	EXPECT(rd, seg(0, 0, 0, 0, 512), BUBLK_REJ_OP);
	EXPECT(rd, seg(BUBLK_SEG_OP_MAX, 0, 0, 0, 512), BUBLK_REJ_OP);
	EXPECT(rd, seg(BUBLK_SEG_WRITE, 0, 0, 0, 512), BUBLK_REJ_DIRECTION);
	EXPECT(wr, seg(BUBLK_SEG_READ, 0, 0, 0, 512), BUBLK_REJ_DIRECTION);
	EXPECT(wr, seg(BUBLK_SEG_WRITE, 0, 4096, 4096, 4096), BUBLK_REJ_NONE);
	EXPECT(wr, seg(BUBLK_SEG_WRITE, 1, 0, 0, 512), BUBLK_REJ_READONLY);
	EXPECT(rd, seg(BUBLK_SEG_READ, 1, 0, 0, 4096), BUBLK_REJ_NONE);
	EXPECT(wr, seg(BUBLK_SEG_FLUSH, 0, 0, 0, 0), BUBLK_REJ_NONE);
	EXPECT(wr, seg(BUBLK_SEG_DISCARD, 0, 0, 0, 1 << 20), BUBLK_REJ_NONE);
	EXPECT(wr, seg(BUBLK_SEG_DISCARD, 1, 0, 0, 512), BUBLK_REJ_READONLY);
	/* stages are checked for order by the queue, any value is fine here */
	s = seg(BUBLK_SEG_READ, 0, 0, 0, 512);
	s.stage = 3;
	EXPECT(rd, s, BUBLK_REJ_NONE);
	s.stage = 0;
	s.flags = 1U << 7;
	EXPECT(rd, s, BUBLK_REJ_RESERVED);

	/* arena-sourced metadata: bounded by the tag's scratch, either direction */
	s = seg(BUBLK_SEG_WRITE, 0, 0, 0, 512);
	s.flags = BUBLK_SEG_F_ARENA;
	EXPECT(rd, s, BUBLK_REJ_NONE);
	s.data_off = BUBLK_SCRATCH_SIZE - 512;
	EXPECT(wr, s, BUBLK_REJ_NONE);
	s.data_off = BUBLK_SCRATCH_SIZE - 256;
	EXPECT(wr, s, BUBLK_REJ_DATA_RANGE);
	s = seg(BUBLK_SEG_READ, 0, 0, 0, BUBLK_SCRATCH_SIZE + 512);
	s.flags = BUBLK_SEG_F_ARENA;
	EXPECT(wr, s, BUBLK_REJ_DATA_RANGE);
	s = seg(BUBLK_SEG_DISCARD, 0, 0, 0, 512);
	s.flags = BUBLK_SEG_F_ARENA;
	EXPECT(wr, s, BUBLK_REJ_RESERVED);
	s = seg(BUBLK_SEG_WRITE, 1, 0, 0, 512);
	s.flags = BUBLK_SEG_F_ARENA;
	EXPECT(wr, s, BUBLK_REJ_READONLY);

	/* ZERO_FILL: only a READ's own data, no backend */
	EXPECT(rd, seg(BUBLK_SEG_ZERO_FILL, 0, 0, 4096, 4096), BUBLK_REJ_NONE);
	EXPECT(rd, seg(BUBLK_SEG_ZERO_FILL, 0, 0, 4096, 8192), BUBLK_REJ_DATA_RANGE);
	EXPECT(wr, seg(BUBLK_SEG_ZERO_FILL, 0, 0, 0, 4096), BUBLK_REJ_DIRECTION);
	EXPECT(rd, seg(BUBLK_SEG_ZERO_FILL, 1, 0, 0, 4096), BUBLK_REJ_RESERVED);
	EXPECT(rd, seg(BUBLK_SEG_ZERO_FILL, 0, 0, 0, 0), BUBLK_REJ_LENGTH);
}

static void test_overlap(void)
{
	struct bublk_req rd = { .op = BUBLK_OP_READ, .len = 8192 };
	struct bublk_req wr = { .op = BUBLK_OP_WRITE, .len = 8192 };
	struct bublk_seg two[2];

	/* two halves: fine; the same half twice, or one byte shared: refused */
	two[0] = seg(BUBLK_SEG_READ, 0, 0, 0, 4096);
	two[1] = seg(BUBLK_SEG_READ, 0, 65536, 4096, 4096);
	CHECK(bublk_segs_check(&rd, two, 2, backends, 2) == BUBLK_REJ_NONE, "disjoint reads");
	two[1].data_off = 0;
	CHECK(bublk_segs_check(&rd, two, 2, backends, 2) == BUBLK_REJ_OVERLAP, "same range read twice");
	two[1].data_off = 4095;
	CHECK(bublk_segs_check(&rd, two, 2, backends, 2) == BUBLK_REJ_OVERLAP, "one shared byte");
	/* a bad descriptor is reported as itself, not as an overlap */
	two[1].backend = 7;
	CHECK(bublk_segs_check(&rd, two, 2, backends, 2) == BUBLK_REJ_BACKEND, "bad backend first");
	/* writes may read the same request bytes twice (a mirror does) */
	two[0] = seg(BUBLK_SEG_WRITE, 0, 0, 0, 8192);
	two[1] = seg(BUBLK_SEG_WRITE, 0, 65536, 0, 8192);
	CHECK(bublk_segs_check(&wr, two, 2, backends, 2) == BUBLK_REJ_NONE, "mirrored write");
}

static void test_answer_check(void)
{
	struct bublk_req r = { .action = BUBLK_ACT_EXEC, .nr_segs = BUBLK_MAX_SEGS };

	CHECK(bublk_answer_check(&r, BUBLK_MAX_SEGS) == BUBLK_REJ_NONE, "max segs");
	r.nr_segs = BUBLK_MAX_SEGS + 1;
	CHECK(bublk_answer_check(&r, BUBLK_MAX_SEGS) == BUBLK_REJ_TOO_MANY_SEGS, "too many");
	r.action = BUBLK_ACT_NONE;
	CHECK(bublk_answer_check(&r, BUBLK_MAX_SEGS) == BUBLK_REJ_ACTION, "no answer");
	r.action = 0xee;
	CHECK(bublk_answer_check(&r, BUBLK_MAX_SEGS) == BUBLK_REJ_ACTION, "junk action");
	r.action = BUBLK_ACT_COMPLETE;
	CHECK(bublk_answer_check(&r, BUBLK_MAX_SEGS) == BUBLK_REJ_NONE, "complete");
}

static void test_parse_size(void)
{
	struct { const char *s; uint64_t v; int ok; } cases[] = {
		{ "4096", 4096, 1 }, { "64K", 65536, 1 }, { "1M", 1 << 20, 1 },
		{ "2G", 2ULL << 30, 1 }, { "1T", 1ULL << 40, 1 }, { "512KiB", 512 << 10, 1 },
		{ "1MB", 1 << 20, 1 }, { "0x1000", 4096, 1 },
		{ "", 0, 0 }, { "12Q", 0, 0 }, { "-1", 0, 0 }, { "1Mx", 0, 0 },
		{ "99999999999999999999", 0, 0 }, { "20000000T", 0, 0 }, { "K", 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 0;
		int ret = parse_size(cases[i].s, &v);

		CHECK(cases[i].ok ? (!ret && v == cases[i].v) : ret == -EINVAL,
		      "parse_size(\"%s\") = %d, %llu", cases[i].s, ret, (unsigned long long)v);
	}
	int n;
	CHECK(!parse_int("12", 1, 32, &n) && n == 12, "12");
	CHECK(parse_int("33", 1, 32, &n) == -EINVAL, "out of range");
	CHECK(parse_int("3x", 1, 32, &n) == -EINVAL, "junk");
}

static void test_json_lookup(void)
{
	const char *j = "{\"dev_id\": 3, \"pid\": 1234, \"target\": \"lo\\\"op\", "
			"\"backends\": [{\"path\": \"/a\", \"size\": 9}], \"size\": 4096}";
	unsigned long long v = 0;
	char s[32];

	CHECK(!bublk_json_get_u64(j, "pid", &v) && v == 1234, "pid %llu", v);
	CHECK(!bublk_json_get_u64(j, "size", &v) && v == 4096, "top-level size, not the backend's: %llu", v);
	CHECK(!bublk_json_get_str(j, "target", s, sizeof(s)) && !strcmp(s, "lo\"op"), "target %s", s);
	CHECK(bublk_json_get_u64(j, "missing", &v) == -ENOENT, "missing key");
	CHECK(bublk_json_get_u64(j, "target", &v) == -EINVAL, "string as number");
	CHECK(bublk_json_get_str("{\"a\": \"unterminated", "a", s, sizeof(s)) == -EINVAL, "unterminated");
	CHECK(bublk_json_get_str("{\"a\": \"0123456789\"}", "a", s, 4) == -ENAMETOOLONG, "too long");
	CHECK(bublk_json_get_u64("{\"a", "a", &v) == -ENOENT, "truncated");
}

int main(void)
{
	RUN(test_seg_check);
	RUN(test_overlap);
	RUN(test_answer_check);
	RUN(test_parse_size);
	RUN(test_json_lookup);
	printf("# %d checks passed, %d failed\n", t_passed, t_failed);
	return t_failed != 0;
}

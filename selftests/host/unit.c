// SPDX-License-Identifier: MIT
/* Unit tests of the pure parts: descriptor validation, parsing, state JSON. */
#include <errno.h>
#include <string.h>

#include "nbd_url.h"
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

/* --- the state file's schema (runtime/lib/state_*.c) -------------------- */
#include <stdlib.h>
#include "dev.h"

static struct bublk_state st_a, st_b;

/* a device with every field away from its default */
static void state_fill(struct bublk_state *st)
{
	memset(st, 0, sizeof(*st));
	st->dev_id = 7;
	st->pid = 4242;
	snprintf(st->target, sizeof(st->target), "overlay");
	snprintf(st->object, sizeof(st->object), "/opt/b\u00fcblk/t\"a\\r\tget/overlay.bpf.o");
	st->size = 3ULL << 30;
	st->block_size = 4096;
	st->rotational = true;
	st->readonly = true;
	st->nr_queues = 2;
	st->depth = 48;
	st->max_io_bytes = 256 << 10;
	st->data_mode = BUBLK_MODE_USER_COPY;
	st->flags = 0x80000000000004caULL;	/* above INT64_MAX: a uint64 in json-c */
	st->legacy = true;
	st->recovery = true;
	st->dispatch_c = true;
	st->shmem_zc = true;
	snprintf(st->shmem_socket, sizeof(st->shmem_socket), "/run/ublk/ublkb7.sock");
	st->shmem_sg_hook = true;
	st->nr_backends = 3;
	st->has_base = true;
	snprintf(st->backends[0].path, PATH_MAX, "/tmp/a \"b\".img");
	snprintf(st->backends[1].path, PATH_MAX, "/tmp/\\c,d\n\x01\x7f \u2713 x\"readonly\": false");
	snprintf(st->backends[2].path, PATH_MAX, "/srv/base image.img");
	st->backends[0].size = 1 << 20;
	st->backends[1].size = 0;
	st->backends[2].size = 18446744073709551615ULL;
	st->nr_options = 2;
	snprintf(st->options[0], BUBLK_STATE_OPTIONS_LEN, "chunk=64K");
	snprintf(st->options[1], BUBLK_STATE_OPTIONS_LEN, "mode=\"1\"");
	snprintf(st->pin_dir, sizeof(st->pin_dir), "/sys/fs/bpf/bublk/7");
	st->nr_progs = 2;
	snprintf(st->progs[0].name, BUBLK_STATE_NAME_LEN, "bublk_dispatch");
	st->progs[0].id = 12;
	snprintf(st->progs[1].name, BUBLK_STATE_NAME_LEN, "bublk_done");
	st->progs[1].id = 4294967295U;
	st->nr_maps = 1;
	snprintf(st->maps[0].name, BUBLK_STATE_NAME_LEN, "bublk_stats");
	st->maps[0].id = 40;
}

/* write st, read it back: the same struct, and the same text again */
static bool state_round_trip(const struct bublk_state *st, const char *what)
{
	char err[512] = "", *s1 = bublk_state_format(st, -1), *s2 = NULL;
	int ret = s1 ? bublk_state_parse(s1, strlen(s1), &st_b, err, sizeof(err)) : -ENOMEM;
	bool ok;

	CHECK(!ret, "%s: parse of its own output: %d %s", what, ret, err);
	ok = !ret && !memcmp(st, &st_b, sizeof(*st));
	CHECK(ok, "%s: a field changed on the way", what);
	if (!ret)
		s2 = bublk_state_format(&st_b, -1);
	CHECK(s1 && s2 && !strcmp(s1, s2), "%s: rewritten differently:\n%s\n%s", what, s1, s2);
	free(s1);
	free(s2);
	return ok;
}

static void test_state_round_trip(void)
{
	struct bublk_dev_opts o;
	char *s;

	state_fill(&st_a);
	state_round_trip(&st_a, "every field");

	/* the fields bublk recover used to lose, checked one by one */
	s = bublk_state_format(&st_a, -1);
	CHECK(s && !bublk_state_parse(s, strlen(s), &st_b, NULL, 0), "parse");
	CHECK(st_b.block_size == 4096 && st_b.rotational && st_b.readonly && st_b.nr_queues == 2 &&
	      st_b.depth == 48, "block %u rot %d ro %d q %d d %d", st_b.block_size, st_b.rotational,
	      st_b.readonly, st_b.nr_queues, st_b.depth);
	CHECK(!strcmp(st_b.backends[1].path, st_a.backends[1].path), "escaped path %s",
	      st_b.backends[1].path);
	/* one line (the tests' sed reads "pid" from it), paths unescaped where JSON allows */
	CHECK(s && !strchr(s, '\n') && strstr(s, "\"pid\": 4242") && strstr(s, "\"/sys/fs/bpf/bublk/7\""),
	      "%s", s);
	free(s);

	/* what recover serves again */
	bublk_state_opts(&st_b, &o);
	CHECK(o.block_size == 4096 && o.rotational && o.readonly && o.nr_queues == 2 &&
	      o.depth == 48 && o.max_io_bytes == 256 << 10 && o.size == 3ULL << 30 && o.legacy &&
	      o.recovery && o.data_mode == BUBLK_MODE_USER_COPY && o.dispatch == BUBLK_DISPATCH_C,
	      "recover options");
	CHECK(o.nr_files == 2 && !strcmp(o.files[1], st_a.backends[1].path) && o.base &&
	      !strcmp(o.base, "/srv/base image.img") && !strcmp(o.target, st_a.object),
	      "files %d base %s", o.nr_files, o.base);
	CHECK(o.nr_config == 2 && !strcmp(o.config[1], "mode=\"1\""), "options %d", o.nr_config);

	/* "alive" is list's addition, after everything else */
	s = bublk_state_format(&st_a, 1);
	CHECK(s && strstr(s, "\"alive\": true }"), "alive: %s", s);
	free(s);

	/* the smallest device: no files, no options, no pins */
	memset(&st_a, 0, sizeof(st_a));
	snprintf(st_a.target, sizeof(st_a.target), "null");
	snprintf(st_a.object, sizeof(st_a.object), "null.bpf.o");
	st_a.size = 512;
	st_a.block_size = 512;
	st_a.nr_queues = 1;
	st_a.depth = 1;
	st_a.max_io_bytes = 4096;
	st_a.data_mode = BUBLK_MODE_COPY;
	state_round_trip(&st_a, "minimal");

	/* a device being created (security review 8): said so, its size still unknown */
	st_a.creating = true;
	st_a.size = 0;
	state_round_trip(&st_a, "creating");
	s = bublk_state_format(&st_a, -1);
	CHECK(s && strstr(s, "\"state\": \"creating\""), "creating: %s", s);
	free(s);
	/* files from before "state" existed describe live devices */
	st_a.creating = false;
	st_a.size = 512;
	s = bublk_state_format(&st_a, -1);
	{
		char *at = s ? strstr(s, "\"state\": \"live\", ") : NULL;

		CHECK(at, "no live state: %s", s);
		if (at)
			memmove(at, at + strlen("\"state\": \"live\", "), strlen(at) + 1 - strlen("\"state\": \"live\", "));
		CHECK(at && !bublk_state_parse(s, strlen(s), &st_b, NULL, 0) && !st_b.creating &&
		      st_b.size == 512, "a file without \"state\": %s", s);
	}
	free(s);
}

static void test_state_big(void)
{
	struct bublk_dev_opts o;
	size_t total = 0;

	/* 16 files with the longest names a path holds: ~64 KiB, far over the old 8 KiB */
	state_fill(&st_a);
	st_a.has_base = false;
	st_a.nr_backends = BUBLK_MAX_BACKENDS;
	for (int i = 0; i < BUBLK_MAX_BACKENDS; i++) {
		char *p = st_a.backends[i].path;

		memset(p, 'a' + i, PATH_MAX - 1);
		p[0] = '/';
		p[10] = '"';
		p[20] = '\\';
		p[30] = ',';
		p[PATH_MAX - 1] = 0;
		total += strlen(p);
	}
	CHECK(total > 8192, "%zu bytes of names", total);
	state_round_trip(&st_a, "16 long paths");
	bublk_state_opts(&st_b, &o);
	CHECK(o.nr_files == BUBLK_MAX_BACKENDS && !o.base && strlen(o.files[15]) == PATH_MAX - 1,
	      "files %d", o.nr_files);
}

static void test_state_refused(void)
{
	static const char *const junk[] = {
		"", " ", "null", "[]", "{}", "\"x\"", "{\"schema\": 1}", "{\"a\"",
		"{\"schema\": 1, \"dev_id\": 7,",
	};
	/* one field of the full file replaced: what is refused, and why */
	static const struct { const char *from, *to, *why; } edits[] = {
		{ "\"queues\": 2", "\"queues\": 4294967298", "queues" },
		{ "\"queues\": 2", "\"queues\": 0", "queues" },
		{ "\"queues\": 2", "\"queues\": -2", "queues" },
		{ "\"queues\": 2", "\"queues\": 2.0", "queues" },
		{ "\"queues\": 2", "\"queues\": \"2\"", "queues" },
		{ "\"depth\": 48", "\"depth\": 4097", "depth" },
		{ "\"block_size\": 4096", "\"block_size\": 1024", "block_size" },
		{ "\"size\": 3221225472", "\"size\": 3221225473", "size" },
		{ "\"size\": 3221225472", "\"size\": 99999999999999999999", "size" },
		{ "\"max_io_bytes\": 262144", "\"max_io_bytes\": 262145", "max_io_bytes" },
		{ "\"schema\": 1", "\"schema\": 2", "schema" },
		{ "\"schema\": 1", "\"schemo\": 1", "schema" },
		{ "\"state\": \"live\"", "\"state\": \"dead\"", "state" },
		{ "\"state\": \"live\"", "\"state\": true", "state" },
		{ "\"data_mode\": \"user_copy\"", "\"data_mode\": \"telepathy\"", "data_mode" },
		{ "\"dispatch\": \"c\"", "\"dispatch\": true", "dispatch" },
		{ "\"readonly\": true", "\"readonly\": 1", "readonly" },
		{ "\"target\": \"overlay\"", "\"target\": \"an overlay target with a much too long name\"", "target" },
		{ "\"/tmp/a", "\"\\u0000/tmp/a", "NUL" },
		{ "\"base\": false", "\"base\": true", "base" },
		{ "\"chunk=64K\"", "\"chunk=64K;mode=2\"", "options" },
		{ "\"bublk_stats\": 40", "\"bublk_stats\": -40", "maps" },
		{ "\"pid\": 4242", "\"pid\": 4294967296", "pid" },
		{ "\"dev_id\": 7", "\"dev_id\": 7 ,,", "JSON" },
		{ "}", "} x", "junk" },
	};
	char err[512], *full, *s;
	size_t len;

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		err[0] = 0;
		CHECK(bublk_state_parse(junk[i], strlen(junk[i]), &st_b, err, sizeof(err)) == -EINVAL &&
		      err[0], "junk \"%s\" accepted (%s)", junk[i], err);
	}

	state_fill(&st_a);
	full = bublk_state_format(&st_a, -1);
	len = strlen(full);
	/* every truncation of a real file is refused, and leaves nothing behind */
	for (size_t n = 0; n < len - 1; n++) {
		err[0] = 0;
		if (bublk_state_parse(full, n, &st_b, err, sizeof(err)) != -EINVAL || !err[0] ||
		    st_b.dev_id || st_b.nr_backends) {
			CHECK(0, "truncated to %zu bytes: accepted or no reason (%s)", n, err);
			break;
		}
	}
	CHECK(1, "truncations");
	/* trailing whitespace is fine (the file ends in a newline) */
	s = malloc(len + 3);
	snprintf(s, len + 3, "%s\n\n", full);
	CHECK(!bublk_state_parse(s, len + 2, &st_b, err, sizeof(err)), "newline: %s", err);
	free(s);

	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		const char *at = strstr(full, edits[i].from);
		size_t flen = strlen(edits[i].from), tlen = strlen(edits[i].to);

		CHECK(at, "no %s in %s", edits[i].from, full);
		if (!at)
			continue;
		s = malloc(len + tlen + 1);
		memcpy(s, full, at - full);
		memcpy(s + (at - full), edits[i].to, tlen);
		strcpy(s + (at - full) + tlen, at + flen);
		err[0] = 0;
		CHECK(bublk_state_parse(s, strlen(s), &st_b, err, sizeof(err)) == -EINVAL &&
		      (strstr(err, edits[i].why) || !strcmp(edits[i].why, "junk")) &&
		      !st_b.dev_id, "%s -> %s: accepted or unclear: \"%s\"", edits[i].from,
		      edits[i].to, err);
		free(s);
	}

	/* a NUL byte outside the JSON, and a file over the limit */
	s = malloc(len + 2);
	memcpy(s, full, len);
	s[len] = 0;
	s[len + 1] = '\n';
	CHECK(bublk_state_parse(s, len + 2, &st_b, err, sizeof(err)) == -EINVAL, "NUL after the object");
	free(s);
	s = calloc(1, BUBLK_STATE_MAX_BYTES + 2);
	memset(s, ' ', BUBLK_STATE_MAX_BYTES + 1);
	memcpy(s, full, len);
	CHECK(bublk_state_parse(s, BUBLK_STATE_MAX_BYTES + 1, &st_b, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "limit"), "over the limit: %s", err);
	free(s);
	free(full);
}

/* --- security review findings 4 and 11 (issue 13) ----------------------- */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "rundir.h"

/* finding 11: "0100M" made a 64 MiB device (strtoull base 0 read it as octal) */
static void test_parse_no_octal(void)
{
	struct { const char *s; uint64_t v; int ok; } cases[] = {
		{ "0100M", 0, 0 }, { "0100", 0, 0 }, { "00", 0, 0 }, { "010K", 0, 0 },
		{ "0", 0, 1 }, { "0K", 0, 1 }, { "100M", 100ULL << 20, 1 }, { "10", 10, 1 },
		{ "0x10", 16, 1 }, { "0X1000", 4096, 1 }, { "0x", 0, 0 }, { "0x0x10", 0, 0 },
		{ "0xg", 0, 0 }, { " 12", 0, 0 }, { "+12", 0, 0 }, { "1e3", 0, 0 },
	};
	int n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int ret = parse_size(cases[i].s, &v);

		CHECK(cases[i].ok ? (!ret && v == cases[i].v) : ret == -EINVAL,
		      "parse_size(\"%s\") = %d, %llu", cases[i].s, ret, (unsigned long long)v);
	}
	CHECK(parse_int(" 12", 0, 99, &n) == -EINVAL, "leading space");
	CHECK(parse_int("+12", 0, 99, &n) == -EINVAL, "plus sign");
	CHECK(!parse_int("-3", -5, 99, &n) && n == -3, "negative");
	CHECK(!parse_int("010", 0, 99, &n) && n == 10, "decimal, not octal: %d", n);
}

/*
 * finding 4: a run directory a user could have made or planted symlinks
 * in is refused; one only root (here: this user) can write is trusted
 */
static void test_dir_trusted(void)
{
	char base[] = "/tmp/bublk-unit-XXXXXX", p[128], q[128], err[512];
	int fd;

	if (!mkdtemp(base)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	chmod(base, 0755);
	CHECK(!bublk_dir_trusted(base, false, 0755, err, sizeof(err)), "own 0755 dir refused: %s", err);
	chmod(base, 0777);
	CHECK(bublk_dir_trusted(base, false, 0755, err, sizeof(err)) == -EPERM, "0777 dir trusted");
	CHECK(strstr(err, "refusing to trust") != NULL, "message: %s", err);
	chmod(base, 0775);
	CHECK(bublk_dir_trusted(base, false, 0755, err, sizeof(err)) == -EPERM, "group-writable dir trusted");
	chmod(base, 0755);

	snprintf(p, sizeof(p), "%s/run", base);
	CHECK(bublk_dir_trusted(p, false, 0755, err, sizeof(err)) == -ENOENT, "missing, no create");
	CHECK(!bublk_dir_trusted(p, true, 0755, err, sizeof(err)), "created: %s", err);
	CHECK(!bublk_dir_trusted(p, true, 0755, err, sizeof(err)), "exists already: %s", err);

	/* a symlink to a good directory is still refused (finding 4's attack) */
	snprintf(q, sizeof(q), "%s/link", base);
	CHECK(!symlink(p, q), "symlink: %s", strerror(errno));
	CHECK(bublk_dir_trusted(q, true, 0755, err, sizeof(err)) == -ENOTDIR, "symlink trusted");
	CHECK(strstr(err, "symlink") != NULL, "message: %s", err);
	unlink(q);
	fd = open(q, O_CREAT | O_WRONLY, 0644);
	close(fd);
	CHECK(bublk_dir_trusted(q, true, 0755, err, sizeof(err)) == -ENOTDIR, "file trusted");
	unlink(q);

	/* a parent others may write (not sticky) could swap the directory out */
	chmod(base, 0777);
	CHECK(bublk_dir_trusted(p, false, 0755, err, sizeof(err)) == -EPERM, "swappable parent");
	chmod(base, 01777);
	CHECK(!bublk_dir_trusted(p, false, 0755, err, sizeof(err)), "sticky parent refused: %s", err);
	chmod(base, 0755);

	/* as root: a directory a user owns is refused whatever its mode */
	if (geteuid() == 0) {
		CHECK(!chown(p, 65534, 65534), "chown: %s", strerror(errno));
		CHECK(bublk_dir_trusted(p, true, 0755, err, sizeof(err)) == -EPERM, "nobody's dir trusted");
		CHECK(strstr(err, "uid 65534") != NULL, "message: %s", err);
	}
	rmdir(p);
	rmdir(base);
}

/* suspected in the review: any client could pin 64 x 4 GiB through the daemon */
#include "shmem.h"

static void test_shmem_limits(void)
{
	const char *why = "";

	CHECK(!bublk_shmem_limits(0, 0, 1 << 20, &why), "first buffer: %s", why);
	CHECK(!bublk_shmem_limits(15, 0, 4096, &why), "16th buffer: %s", why);
	CHECK(bublk_shmem_limits(16, 0, 4096, &why) == -ENOSPC, "17th buffer of one client");
	CHECK(strstr(why, "16") != NULL, "message: %s", why);
	CHECK(!bublk_shmem_limits(0, 3ULL << 30, 1ULL << 30, &why), "exactly 4 GiB in all: %s", why);
	CHECK(bublk_shmem_limits(0, 3ULL << 30, (1ULL << 30) + 4096, &why) == -ENOSPC, "past 4 GiB");
	CHECK(bublk_shmem_limits(0, ~0ULL - 10, 4096, &why) == -ENOSPC, "total overflow");
	CHECK(bublk_shmem_limits(0, 0, BUBLK_SHMEM_MAX_CLIENT_BYTES + 4096, &why) == -ENOSPC,
	      "one buffer past the total");
}

/*
 * issue 13 item 5: the scattered shared-memory path (UBLK_IO_F_SHMEM_SG)
 * decodes the iov the hook wrote into the arena. The arena is mapped at
 * BUBLK_ARENA_ADDR normally and higher under ASan (make SAN=1), so the
 * slot address is checked against where the arena really is: here an
 * "arena" wherever mmap put it, never BUBLK_ARENA_ADDR. The sanitized VM
 * run does not boot the test module, so this is what covers it there.
 */
#include <sys/mman.h>
#include <bublk/ublk_proto.h>
#include "dev.h"

static void test_sg_decode(void)
{
	const size_t slots_off = 8192, slot_bytes = sizeof(struct ublk_shmem_sg_iov) +
		BUBLK_SG_MAX_PIECES * sizeof(struct ublk_shmem_sg_entry);
	const __u32 slot = 3;
	static struct bublk_shmem shm;
	struct iovec out[BUBLK_SG_MAX_PIECES];
	struct ublk_shmem_sg_iov *iov;
	char *arena, *buf0, *buf1;
	__u64 addr;
	int n;

	arena = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf0 = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf1 = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED || buf0 == MAP_FAILED || buf1 == MAP_FAILED) {
		CHECK(0, "mmap: %s", strerror(errno));
		return;
	}
	CHECK((__u64)(uintptr_t)arena != BUBLK_ARENA_ADDR, "the test arena must not sit at the default");
	memset(&shm, 0, sizeof(shm));
	shm.bufs[0] = (struct bublk_shmem_buf){ .base = buf0, .len = 1 << 20, .conn_fd = -1 };
	shm.bufs[5] = (struct bublk_shmem_buf){ .base = buf1, .len = 1 << 20, .conn_fd = -1 };

	addr = (__u64)(uintptr_t)arena + slots_off + slot * slot_bytes;
	iov = (struct ublk_shmem_sg_iov *)(uintptr_t)addr;
	/* 12 KiB: 4 KiB at buf0 + 8 KiB, then 8 KiB at buf1 + 64 KiB */
	iov->nr = 2;
	iov->bytes = 12288;
	iov->e[0] = (struct ublk_shmem_sg_entry){ .buf_index = 0, .len = 4096, .offset = 8192 };
	iov->e[1] = (struct ublk_shmem_sg_entry){ .buf_index = 5, .len = 8192, .offset = 65536 };

#define DECODE(a, len) bublk_sg_decode(arena, slots_off, slot_bytes, slot, (a), (len), &shm, out)
	n = DECODE(addr, 12288);
	CHECK(n == 2, "a good iov at a moved arena decodes: %d", n);
	CHECK(n == 2 && out[0].iov_base == buf0 + 8192 && out[0].iov_len == 4096 &&
	      out[1].iov_base == buf1 + 65536 && out[1].iov_len == 8192, "pieces where the iov says");

	/* the address the kernel would hand a build that assumed the fixed arena */
	CHECK(DECODE(BUBLK_ARENA_ADDR + slots_off + slot * slot_bytes, 12288) == -EINVAL,
	      "the fixed arena address accepted for a moved arena");
	CHECK(DECODE(addr + slot_bytes, 12288) == -EINVAL, "another tag's slot accepted");
	CHECK(DECODE(addr, 8192) == -EINVAL, "iov bytes != request length accepted");

	/* each bad field refused, then put back */
	iov->nr = 0;
	CHECK(DECODE(addr, 12288) == -EINVAL, "zero pieces accepted");
	iov->nr = BUBLK_SG_MAX_PIECES + 1;
	CHECK(DECODE(addr, 12288) == -EINVAL, "more pieces than the slot holds accepted");
	iov->nr = 2;
	iov->e[1].len = 0;
	CHECK(DECODE(addr, 12288) == -EINVAL, "zero-length piece accepted");
	iov->e[1].len = 8192;
	iov->e[1].buf_index = 6;
	CHECK(DECODE(addr, 12288) == -EINVAL, "unregistered buffer accepted");
	iov->e[1].buf_index = 5;
	iov->e[1].offset = (1 << 20) - 4096;
	CHECK(DECODE(addr, 12288) == -EINVAL, "piece past its buffer's end accepted");
	iov->e[1].offset = 1ULL << 32;
	CHECK(DECODE(addr, 12288) == -EINVAL, "offset past 32 bits accepted");
	iov->e[1].offset = 65536;
	/* a piece longer than claimed: the sum must match the request exactly */
	iov->e[1].len = 12288;
	CHECK(DECODE(addr, 12288) == -EINVAL, "pieces summing past the request accepted");
	iov->e[1].len = 0xfffff000U;
	CHECK(DECODE(addr, 12288) == -EINVAL, "huge piece accepted");
	iov->e[1].len = 8192;
	CHECK(DECODE(addr, 12288) == 2, "restored iov decodes again");
	CHECK(bublk_sg_decode(NULL, slots_off, slot_bytes, slot, addr, 12288, &shm, out) == -EINVAL,
	      "no arena: nothing decodes");
#undef DECODE
	munmap(arena, 4 << 20);
	munmap(buf0, 1 << 20);
	munmap(buf1, 1 << 20);
}

/* NBD addresses: what -f accepts as an export, and the refusals */
static void test_nbd_url(void)
{
	struct bublk_nbd_url u;
	char err[512];

	CHECK(bublk_nbd_is_url("nbd://h/x") && bublk_nbd_is_url("nbd+unix:///?socket=/s") &&
	      bublk_nbd_is_url("nbds://h/x"), "NBD schemes are NBD addresses");
	CHECK(!bublk_nbd_is_url("disk.img") && !bublk_nbd_is_url("./nbd://x") &&
	      !bublk_nbd_is_url("/dev/nbd0") && !bublk_nbd_is_url("nbd.img"), "files are not");

	CHECK(!bublk_nbd_url_parse("nbd://host/disk", &u, err, sizeof(err)) && !u.unix_socket &&
	      !strcmp(u.host, "host") && !strcmp(u.port, "10809") && !strcmp(u.export_name, "disk"),
	      "tcp: %s", err);
	CHECK(!bublk_nbd_url_parse("nbd://10.0.0.1:10900", &u, err, sizeof(err)) &&
	      !strcmp(u.host, "10.0.0.1") && !strcmp(u.port, "10900") && !u.export_name[0],
	      "tcp with port, default export: %s", err);
	CHECK(!bublk_nbd_url_parse("nbd://[::1]:99/a%2Fb%20c", &u, err, sizeof(err)) &&
	      !strcmp(u.host, "::1") && !strcmp(u.port, "99") && !strcmp(u.export_name, "a/b c"),
	      "IPv6, escapes: %s", err);
	CHECK(!bublk_nbd_url_parse("nbd://h/", &u, err, sizeof(err)) && !u.export_name[0],
	      "empty export: %s", err);
	CHECK(!bublk_nbd_url_parse("nbd+unix:///?socket=/tmp/s", &u, err, sizeof(err)) &&
	      u.unix_socket && !strcmp(u.socket, "/tmp/s") && !u.export_name[0], "unix: %s", err);
	CHECK(!bublk_nbd_url_parse("nbd+unix:///exp?socket=/run/a%20b", &u, err, sizeof(err)) &&
	      !strcmp(u.socket, "/run/a b") && !strcmp(u.export_name, "exp"), "unix export: %s", err);

#define REFUSED(url, why) do {							\
	err[0] = 0;								\
	CHECK(bublk_nbd_url_parse(url, &u, err, sizeof(err)) == -EINVAL &&	\
	      strstr(err, why), "%s: \"%s\"", url, err);				\
} while (0)
	REFUSED("nbd:///disk", "no host");
	REFUSED("nbd://:10809/disk", "empty host");
	REFUSED("nbd://h:0/x", "port");
	REFUSED("nbd://h:65536/x", "port");
	REFUSED("nbd://h:12ab/x", "port");
	REFUSED("nbd://h:/x", "port");
	REFUSED("nbd://user@h/x", "user names");
	REFUSED("nbd://[::1/x", "closing");
	REFUSED("nbd://h/x?tls=require", "TLS");
	REFUSED("nbd://h/x#frag", "fragment");
	REFUSED("nbd://h/a%2", "escape");
	REFUSED("nbd://h/a%00b", "escape");
	REFUSED("nbds://h/x", "TLS");
	REFUSED("nbd+vsock://1/x", "vsock");
	REFUSED("nbdx://h/x", "unknown scheme");
	REFUSED("nbd+unix:///x", "socket=PATH");
	REFUSED("nbd+unix://host/x?socket=/s", "no host");
	REFUSED("nbd+unix:///x?socket=rel/s", "absolute");
	REFUSED("nbd+unix:///x?socket=/a&socket=/b", "twice");
	REFUSED("nbd+unix:///x?socket=/s&foo=1", "unsupported parameter");
	{
		char longp[200];

		memset(longp, 'a', sizeof(longp));
		memcpy(longp, "nbd+unix:///?socket=/", 21);
		longp[sizeof(longp) - 1] = 0;
		REFUSED(longp, "too long");
	}
	/* every refusal says what is accepted */
	CHECK(strstr(err, "nbd://HOST[:PORT]/EXPORT"), "%s", err);
#undef REFUSED
}

int main(void)
{
	RUN(test_seg_check);
	RUN(test_overlap);
	RUN(test_answer_check);
	RUN(test_parse_size);
	RUN(test_state_round_trip);
	RUN(test_state_big);
	RUN(test_state_refused);
	RUN(test_parse_no_octal);
	RUN(test_dir_trusted);
	RUN(test_shmem_limits);
	RUN(test_sg_decode);
	RUN(test_nbd_url);
	printf("# %d checks passed, %d failed\n", t_passed, t_failed);
	return t_failed != 0;
}

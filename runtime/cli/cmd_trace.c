// SPDX-License-Identifier: MIT
/*
 * bublk trace: recent requests of a live device and the segments its
 * target chose, from the pinned bublk_trace ring (mmapped read-only);
 * -f follows new ones as they complete.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "state.h"
#include "stats_map.h"

static const char *op_name(unsigned int op)
{
	static const char *const n[] = { "READ", "WRITE", "FLUSH", "DISCARD", "?", "WRITE_ZEROES" };

	return op < ARRAY_SIZE(n) ? n[op] : "?";
}

static const char *seg_name(unsigned int op)
{
	static const char *const n[] = { "?", "READ", "WRITE", "FLUSH", "DISCARD", "WRITE_ZEROES",
					 "ZERO_FILL", "DELAY" };

	return op < ARRAY_SIZE(n) ? n[op] : "?";
}

static const char *action_name(unsigned int a)
{
	static const char *const n[] = { "none", "exec", "complete", "fallback" };

	return a < ARRAY_SIZE(n) ? n[a] : "?";
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bublk trace -n ID [-f] [--json]\n\n"
		   "The last %d completed requests of each queue of /dev/ublkbID: what was asked,\n"
		   "what the target answered (its first %d segments), what the client got.\n"
		   "From the pinned map /sys/fs/bpf/bublk/ID/bublk_trace.\n\n"
		   "  -f, --follow   keep printing requests as they complete (until SIGINT)\n"
		   "      --json     one JSON object per request\n",
		   BUBLK_TRACE_PER_QUEUE, BUBLK_TRACE_SEGS);
}

static void print_rec(const struct bublk_trace_rec *r, bool json)
{
	int n = min(r->nr_segs, BUBLK_TRACE_SEGS);

	if (json) {
		printf("{\"q\": %u, \"seq\": %llu, \"tag\": %u, \"op\": \"%s\", \"offset\": %llu, \"len\": %u, \"action\": \"%s\", \"rounds\": %u, \"result\": %d, \"nr_segs\": %u, \"segs\": [",
		       r->q_id, (unsigned long long)r->seq, r->tag, op_name(r->op),
		       (unsigned long long)r->offset, r->len, action_name(r->action), r->rounds,
		       r->result, r->nr_segs);
		for (int i = 0; i < n; i++)
			printf("%s{\"op\": \"%s\", \"stage\": %u, \"backend\": %u, \"offset\": %llu, \"len\": %u}",
			       i ? ", " : "", seg_name(r->segs[i].op), r->segs[i].stage,
			       r->segs[i].backend, (unsigned long long)r->segs[i].backend_off,
			       r->segs[i].len);
		printf("]}\n");
		return;
	}
	printf("q%u #%-6llu %-5s %8u @ %-12llu -> %-8d %s", r->q_id, (unsigned long long)r->seq,
	       op_name(r->op), r->len, (unsigned long long)r->offset, r->result, action_name(r->action));
	if (r->rounds)
		printf(" +%u done-round(s)", r->rounds);
	for (int i = 0; i < n; i++)
		printf("%s %s b%u @ %llu +%u%s", i ? ";" : ":", seg_name(r->segs[i].op),
		       r->segs[i].backend, (unsigned long long)r->segs[i].backend_off, r->segs[i].len,
		       r->segs[i].stage ? (r->segs[i].stage == 1 ? " (stage 1)" : " (later stage)") : "");
	if (r->nr_segs > n)
		printf("; ... %u more", r->nr_segs - n);
	printf("\n");
}

/* a consistent copy of record i, or false while it is being written */
static bool copy_rec(const struct bublk_trace_rec *ring, int i, struct bublk_trace_rec *out)
{
	__u64 seq = __atomic_load_n(&ring[i].seq, __ATOMIC_ACQUIRE);

	if (!seq)
		return false;
	memcpy(out, &ring[i], sizeof(*out));
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&ring[i].seq, __ATOMIC_RELAXED) == seq && out->seq == seq;
}

/* print queue q's records newer than *last, oldest first */
static void drain(const struct bublk_trace_rec *ring, int q, __u64 *last, bool json)
{
	const struct bublk_trace_rec *qr = ring + q * BUBLK_TRACE_PER_QUEUE;
	struct bublk_trace_rec r;
	__u64 newest = 0;

	for (int i = 0; i < BUBLK_TRACE_PER_QUEUE; i++)
		if (copy_rec(qr, i, &r) && r.seq > newest)
			newest = r.seq;
	if (newest <= *last)
		return;
	if (*last && newest - *last > BUBLK_TRACE_PER_QUEUE && !json)
		printf("q%d: %llu requests not shown (the ring holds %d)\n", q,
		       (unsigned long long)(newest - *last - BUBLK_TRACE_PER_QUEUE), BUBLK_TRACE_PER_QUEUE);
	for (__u64 s = newest > BUBLK_TRACE_PER_QUEUE ? newest - BUBLK_TRACE_PER_QUEUE + 1 : 1;
	     s <= newest; s++) {
		if (s <= *last)
			continue;
		/* record s sits at (s - 1) % BUBLK_TRACE_PER_QUEUE */
		if (copy_rec(qr, (s - 1) % BUBLK_TRACE_PER_QUEUE, &r) && r.seq == s)
			print_rec(&r, json);
	}
	*last = newest;
	fflush(stdout);
}

int cmd_trace(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "number", required_argument, NULL, 'n' },
		{ "follow", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	__u64 last[BUBLK_MAX_QUEUES] = { 0 };
	unsigned int queues = 0;
	bool follow = false, json = false;
	const struct bublk_trace_rec *ring;
	int id = -1, opt, fd;
	size_t len;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "n:fh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (cli_dev_id("trace", optarg, &id))
				return 2;
			break;
		case 'f':
			follow = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (id < 0 || optind != argc) {
		usage(stderr);
		return 2;
	}
	fd = cli_live_map("trace", id, "bublk_trace", &queues);
	if (fd < 0)
		return 1;
	len = (size_t)BUBLK_MAX_QUEUES * BUBLK_TRACE_PER_QUEUE * sizeof(struct bublk_trace_rec);
	len = PAGE_ALIGN(len);
	ring = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (ring == MAP_FAILED) {
		cli_err("trace", "dev %d: mmap of bublk_trace: %s", id, strerror(errno));
		return 1;
	}
	do {
		for (unsigned int q = 0; q < queues; q++)
			drain(ring, q, &last[q], json);
		if (follow)
			usleep(100000);
	} while (follow);
	munmap((void *)ring, len);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * bublk stats: a live device's counters, summed over its queues, from the
 * pinned bublk_stats map (the same numbers bpftool shows); with -w, rates.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dev.h"
#include "seg.h"
#include "state.h"
#include "stats_map.h"

static const char *const op_names[BUBLK_STATS_OPS] = {
	[BUBLK_OP_READ] = "read", [BUBLK_OP_WRITE] = "write", [BUBLK_OP_FLUSH] = "flush",
	[BUBLK_OP_DISCARD] = "discard", [BUBLK_OP_WRITE_ZEROES] = "write_zeroes",
};

static void usage(FILE *f)
{
	fprintf(f, "usage: bublk stats -n ID [--json] [-w SECONDS [-c COUNT]]\n\n"
		   "Counters of /dev/ublkbID, summed over its queues: per op requests, bytes,\n"
		   "errors and segments; batches (and their sizes), completion-program runs,\n"
		   "C-path fallbacks, BPF failures, refused target answers by reason, reloads;\n"
		   "for NBD backends, the queues connected and connections lost and regained.\n"
		   "They live in the pinned map /sys/fs/bpf/bublk/ID/bublk_stats.\n\n"
		   "  -w, --watch SECONDS  print rates every SECONDS (until SIGINT, or COUNT times)\n"
		   "  -c, --count N        with -w: stop after N intervals\n"
		   "      --json           one JSON object (per interval with -w)\n");
}

static int sample(int fd, int queues, struct bublk_stats *sum)
{
	struct bublk_stats per[BUBLK_MAX_QUEUES];
	int ret = stats_read(fd, queues, per);

	if (!ret)
		bublk_stats_sum(per, queues, sum);
	return ret;
}

/* an NBD backend's connections: every counter is 0 for a file */
static bool nbd_backend(const struct bublk_stats *s, int i)
{
	return s->nbd_up[i] || s->nbd_lost[i] || s->nbd_reconnects[i];
}

static void print_nbd(const struct bublk_stats *s, unsigned int queues, bool json)
{
	bool first = true;

	if (json)
		printf(", \"nbd\": [");
	for (int i = 0; i < BUBLK_MAX_BACKENDS; i++) {
		if (!nbd_backend(s, i))
			continue;
		if (json)
			printf("%s{\"backend\": %d, \"queues_connected\": %llu, \"queues\": %u, \"lost\": %llu, \"reconnects\": %llu}",
			       first ? "" : ", ", i, (unsigned long long)s->nbd_up[i], queues,
			       (unsigned long long)s->nbd_lost[i],
			       (unsigned long long)s->nbd_reconnects[i]);
		else
			printf("NBD backend %d: %s, connected on %llu of %u queues; connections lost %llu, regained %llu\n",
			       i, s->nbd_up[i] == queues ? "up" : s->nbd_up[i] ? "partly down" : "DOWN",
			       (unsigned long long)s->nbd_up[i], queues,
			       (unsigned long long)s->nbd_lost[i],
			       (unsigned long long)s->nbd_reconnects[i]);
		first = false;
	}
	if (json)
		printf("]");
}

static void print_totals(unsigned int id, const struct bublk_stats *s, unsigned int queues,
			 bool json)
{
	bool first = true;

	if (json) {
		printf("{\"dev_id\": %u, \"ops\": {", id);
		for (int o = 0; o < BUBLK_STATS_OPS; o++) {
			if (!op_names[o])
				continue;
			printf("%s\"%s\": {\"reqs\": %llu, \"bytes\": %llu, \"errors\": %llu, \"segs\": %llu}",
			       first ? "" : ", ", op_names[o], (unsigned long long)s->op[o].reqs,
			       (unsigned long long)s->op[o].bytes, (unsigned long long)s->op[o].errors,
			       (unsigned long long)s->op[o].segs);
			first = false;
		}
		printf("}, \"fallbacks\": %llu, \"batches\": %llu, \"batch_reqs\": %llu, \"batch_hist\": [",
		       (unsigned long long)s->fallbacks, (unsigned long long)s->batches,
		       (unsigned long long)s->batch_reqs);
		for (int b = 0; b < BUBLK_STATS_BATCH_HIST; b++)
			printf("%s%llu", b ? ", " : "", (unsigned long long)s->batch_hist[b]);
		printf("], \"done_batches\": %llu, \"bpf_errors\": %llu, \"reloads\": %llu, "
		       "\"reg_buf_reqs\": %llu, \"shmem\": {\"zc_reqs\": %llu, \"zc_bytes\": %llu, \"copy_reqs\": %llu, \"copy_bytes\": %llu, \"bad\": %llu, \"sg_reqs\": %llu}, \"rejects\": {",
		       (unsigned long long)s->done_batches, (unsigned long long)s->bpf_errors,
		       (unsigned long long)s->reloads, (unsigned long long)s->reg_buf_reqs,
		       (unsigned long long)s->zc_reqs,
		       (unsigned long long)s->zc_bytes, (unsigned long long)s->copy_reqs,
		       (unsigned long long)s->copy_bytes, (unsigned long long)s->zc_bad,
		       (unsigned long long)s->zc_sg_reqs);
		first = true;
		for (int r = 1; r < BUBLK_REJ_NR; r++) {
			if (!s->rejects[r])
				continue;
			printf("%s\"%s\": %llu", first ? "" : ", ", bublk_reject_name(r),
			       (unsigned long long)s->rejects[r]);
			first = false;
		}
		printf("}, \"engine\": {\"kernel_reqs\": %llu, \"parked\": %llu, \"stops\": %llu, \"errors\": %llu}",
		       (unsigned long long)s->engine_reqs, (unsigned long long)s->engine_parked,
		       (unsigned long long)s->engine_stops, (unsigned long long)s->engine_errors);
		print_nbd(s, queues, true);
		printf("}\n");
		return;
	}
	printf("%-13s %12s %14s %8s %12s\n", "op", "requests", "bytes", "errors", "segments");
	for (int o = 0; o < BUBLK_STATS_OPS; o++) {
		if (op_names[o])
			printf("%-13s %12llu %14llu %8llu %12llu\n", op_names[o],
			       (unsigned long long)s->op[o].reqs, (unsigned long long)s->op[o].bytes,
			       (unsigned long long)s->op[o].errors, (unsigned long long)s->op[o].segs);
	}
	printf("\nbatches %llu (mean %.1f requests), completion runs %llu, C fallbacks %llu, BPF errors %llu, reloads %llu\n",
	       (unsigned long long)s->batches, s->batches ? (double)s->batch_reqs / s->batches : 0.0,
	       (unsigned long long)s->done_batches, (unsigned long long)s->fallbacks,
	       (unsigned long long)s->bpf_errors, (unsigned long long)s->reloads);
	printf("batch sizes  1:%llu 2-3:%llu 4-7:%llu 8-15:%llu 16-31:%llu 32-63:%llu 64-127:%llu 128+:%llu\n",
	       (unsigned long long)s->batch_hist[0], (unsigned long long)s->batch_hist[1],
	       (unsigned long long)s->batch_hist[2], (unsigned long long)s->batch_hist[3],
	       (unsigned long long)s->batch_hist[4], (unsigned long long)s->batch_hist[5],
	       (unsigned long long)s->batch_hist[6], (unsigned long long)s->batch_hist[7]);
	for (int r = 1; r < BUBLK_REJ_NR; r++) {
		if (s->rejects[r])
			printf("refused target answers (%s): %llu\n", bublk_reject_name(r),
			       (unsigned long long)s->rejects[r]);
	}
	if (s->engine_reqs || s->engine_parked)
		printf("kernel engine: %llu requests served inside io_uring_enter, %llu CQEs handed to user space in %llu stops, %llu errors\n",
		       (unsigned long long)s->engine_reqs, (unsigned long long)s->engine_parked,
		       (unsigned long long)s->engine_stops, (unsigned long long)s->engine_errors);
	if (s->reg_buf_reqs)
		printf("zero copy: %llu requests with their buffer registered by the daemon (manual mode, or the driver could not)\n",
		       (unsigned long long)s->reg_buf_reqs);
	if (s->zc_reqs || s->copy_reqs || s->zc_bad)
		printf("shared memory: %llu zero-copy requests (%llu scattered, %llu bytes), %llu outside it (%llu bytes, in the device's data mode), %llu with an unknown buffer\n",
		       (unsigned long long)s->zc_reqs, (unsigned long long)s->zc_sg_reqs,
		       (unsigned long long)s->zc_bytes,
		       (unsigned long long)s->copy_reqs, (unsigned long long)s->copy_bytes,
		       (unsigned long long)s->zc_bad);
	print_nbd(s, queues, false);
}

static void print_rates(const struct bublk_stats *a, const struct bublk_stats *b, double secs,
			bool json)
{
	bool first = true;

	printf(json ? "{\"seconds\": %.2f" : "%6.2fs", secs);
	for (int o = 0; o < BUBLK_STATS_OPS; o++) {
		double iops, mbs, errs;

		if (!op_names[o])
			continue;
		iops = (b->op[o].reqs - a->op[o].reqs) / secs;
		mbs = (b->op[o].bytes - a->op[o].bytes) / secs / (1 << 20);
		errs = (b->op[o].errors - a->op[o].errors) / secs;
		if (json)
			printf(", \"%s\": {\"iops\": %.1f, \"mib_s\": %.2f, \"errors_s\": %.1f}",
			       op_names[o], iops, mbs, errs);
		else if (o <= BUBLK_OP_WRITE || iops > 0)
			printf("%s %s %.0f IOPS %.1f MiB/s%s", first ? " " : " |", op_names[o], iops, mbs,
			       errs > 0 ? " ERRORS" : "");
		first = false;
	}
	printf(json ? "}\n" : "\n");
	fflush(stdout);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int cmd_stats(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "number", required_argument, NULL, 'n' },
		{ "watch", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	unsigned int queues = 0;
	int id = -1, watch = 0, count = 0, opt, fd, ret;
	struct bublk_stats a, b;
	bool json = false;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "n:w:c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (cli_dev_id("stats", optarg, &id))
				return 2;
			break;
		case 'w':
			if (parse_int(optarg, 1, 3600, &watch)) {
				cli_err("stats", "bad -w \"%s\": seconds, 1..3600", optarg);
				return 2;
			}
			break;
		case 'c':
			if (parse_int(optarg, 1, INT_MAX, &count)) {
				cli_err("stats", "bad -c \"%s\": a positive count", optarg);
				return 2;
			}
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
	fd = cli_live_map("stats", id, "bublk_stats", &queues);
	if (fd < 0)
		return 1;
	ret = sample(fd, queues, &a);
	if (!ret && !watch)
		print_totals(id, &a, queues, json);
	for (int i = 0; !ret && watch && (!count || i < count); i++) {
		double t0 = now();

		sleep(watch);
		ret = sample(fd, queues, &b);
		if (!ret)
			print_rates(&a, &b, now() - t0, json);
		a = b;
	}
	close(fd);
	if (ret)
		cli_err("stats", "dev %d: reading bublk_stats: %s", id, strerror(-ret));
	return ret ? 1 : 0;
}

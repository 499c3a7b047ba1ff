// SPDX-License-Identifier: MIT
/*
 * Host dispatch benchmark: nanoseconds per request of one bublk_dispatch
 * BPF_PROG_RUN over a batch, against the C twin (runtime/lib/cmap.c) doing
 * the identical mapping on the identical arena memory, for every shipped
 * target and batch size. Batch 0 is the bare cost of one BPF_PROG_RUN.
 *
 * Time is this thread's CPU time (CLOCK_THREAD_CPUTIME_ID, which includes
 * the syscall): on a 2-core machine shared with builds and VMs, wall time
 * would mostly measure who else got the CPU. The BPF and C sides alternate
 * repetition by repetition so both see the same machine.
 *
 * Prints one JSON object per line (selftests/bench/report.py reads them)
 * and progress on stderr.  usage: dispatch [OBJ_DIR] [REPS] [REQUESTS_PER_RUN]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "target_fixture.h"

/* requests per measurement: enough that timer and cache warm-up vanish */
static long reqs_per_run = 1 << 18;

static const int batches[] = { 0, 1, 4, 16, 32, 64, 128 };

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* one measurement: ns per call of the chosen side over batch of nr */
static double run_once(struct fx *f, int nr, bool c, long calls)
{
	struct bublk_batch b = fx_batch(f, nr);
	double t0 = now_ns();

	for (long i = 0; i < calls; i++) {
		b.nr = nr;
		if (c ? bublk_cmap_dispatch(&f->cmap, &b) : bublk_target_dispatch(&f->t, &b)) {
			fprintf(stderr, "dispatch failed: %s\n", strerror(errno));
			exit(1);
		}
	}
	return (now_ns() - t0) / calls;
}

/* 4 KiB random reads: the request the IOPS figures are made of */
static void fill(struct fx *f, int nr)
{
	__u64 s = 88172645463325252ULL;

	for (int i = 0; i < nr; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		fx_req(f, i, i, BUBLK_OP_READ, (s % ((256ULL << 20) >> 12)) << 12, 4096);
	}
}

static void bench_target(const char *obj_dir, const char *name, int nr_backends,
			 const char *config, int reps)
{
	struct fx f;

	if (fx_load(&f, obj_dir, name, nr_backends, 64ULL << 20, config))
		exit(1);
	for (size_t k = 0; k < sizeof(batches) / sizeof(batches[0]); k++) {
		int nr = batches[k];
		long calls = reqs_per_run / (nr ? nr : 1);
		double per_call[2][16];

		fill(&f, nr);
		for (int c = 0; c <= 1; c++)
			run_once(&f, nr, c, calls / 16 + 1);	/* warm up */
		for (int r = 0; r < reps; r++)
			for (int c = 0; c <= 1; c++)
				per_call[c][r] = run_once(&f, nr, c, calls);
		for (int c = 0; c <= 1; c++) {
			double *pc = per_call[c];

			if (nr == 0 && c)
				continue;	/* an empty C call measures nothing */
			qsort(pc, reps, sizeof(double), cmp_double);
			printf("{\"kind\": \"dispatch\", \"target\": \"%s\", \"mode\": \"%s\", \"batch\": %d, "
			       "\"reps\": %d, \"ns_per_call\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f}",
			       name, c ? "c" : "bpf", nr, reps, pc[reps / 2], pc[0], pc[reps - 1]);
			if (nr)
				printf(", \"ns_per_req\": {\"median\": %.2f, \"min\": %.2f, \"max\": %.2f}",
				       pc[reps / 2] / nr, pc[0] / nr, pc[reps - 1] / nr);
			printf("}\n");
			fflush(stdout);
			fprintf(stderr, "  dispatch %-6s %-3s batch %3d: %8.1f ns/call%s",
				name, c ? "c" : "bpf", nr, pc[reps / 2], nr ? "" : "\n");
			if (nr)
				fprintf(stderr, ", %7.2f ns/request\n", pc[reps / 2] / nr);
		}
	}
	bublk_target_close(&f.t);
}

int main(int argc, char **argv)
{
	const char *obj_dir = argc > 1 ? argv[1] : "build/bpf";
	int reps = argc > 2 ? atoi(argv[2]) : 5;

	if (argc > 3)
		reqs_per_run = atol(argv[3]);
	if (reqs_per_run < 128) {
		fprintf(stderr, "dispatch: REQUESTS_PER_RUN must be >= 128\n");
		return 2;
	}

	if (reps < 1 || reps > 16) {
		fprintf(stderr, "dispatch: REPS must be 1..16\n");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "dispatch: needs root (BPF_PROG_RUN of syscall programs)\n");
		return 1;
	}
	bench_target(obj_dir, "null", 1, NULL, reps);
	bench_target(obj_dir, "loop", 1, NULL, reps);
	bench_target(obj_dir, "stripe", 4, "chunk=64K", reps);
	return 0;
}

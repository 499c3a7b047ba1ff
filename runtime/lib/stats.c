// SPDX-License-Identifier: MIT
/*
 * What the queues count (struct bublk_stats, one per queue in the
 * bublk_stats map) and what they remember of finished requests (the
 * bublk_trace ring): read by "bublk stats" and "bublk trace" from the
 * maps, and logged once by the daemon when its queues are gone.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "queue.h"

/* the counters of io's op */
static struct bublk_op_stats *op_stats(struct bublk_queue *q, const struct bublk_io *io)
{
	return &q->stats->op[io->op & (BUBLK_STATS_OPS - 1)];
}

/*
 * Record the finished request in this queue's part of the trace ring: what
 * it was, what the target decided (its last round's first segments), and
 * what the client got. seq goes last, so a reader sees whole records.
 * bpf/engine.bpf.h's __bublk_engine_trace writes the same record for what
 * the kernel engine serves: a field added here goes there too
 * (t_kernel_engine compares both engines' traces).
 */
static void trace_io(struct bublk_queue *q, int tag, int res)
{
	const struct bublk_io *io = &q->ios[tag];
	const struct bublk_seg *segs = io_segs(q, tag);
	/* with the kernel engine, its records and ours share one sequence */
	__u64 *seqp = q->engine_park ? &q->engine_park->trace_seq : &q->trace_seq;
	struct bublk_trace_rec *r = &q->trace[*seqp % BUBLK_TRACE_PER_QUEUE];
	int n = io->nr_segs < BUBLK_TRACE_SEGS ? io->nr_segs : BUBLK_TRACE_SEGS;

	__atomic_store_n(&r->seq, 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	r->offset = io->offset;
	r->len = io->len;
	r->result = res;
	r->q_id = q->q_id;
	r->tag = tag;
	r->op = io->op;
	r->nr_segs = io->nr_segs;
	r->rounds = io->round;
	r->action = io->action;
	for (int i = 0; i < BUBLK_TRACE_SEGS; i++) {
		struct bublk_trace_seg *t = &r->segs[i];

		if (i < n)
			*t = (struct bublk_trace_seg){ .op = segs[i].op, .stage = segs[i].stage,
				.backend = segs[i].backend, .len = segs[i].len,
				.backend_off = segs[i].backend_off };
		else
			memset(t, 0, sizeof(*t));
	}
	__atomic_store_n(&r->seq, ++*seqp, __ATOMIC_RELEASE);
}

/* a request finished with res (its byte count, 0, or -errno): count and trace it */
void bublk_stats_io(struct bublk_queue *q, int tag, int res)
{
	struct bublk_op_stats *st = op_stats(q, &q->ios[tag]);

	if (res < 0)
		st->errors++;
	else
		st->bytes += res;
	st->reqs++;
	trace_io(q, tag, res);
}

/* a segment of tag went to a backend */
void bublk_stats_seg(struct bublk_queue *q, int tag)
{
	op_stats(q, &q->ios[tag])->segs++;
}

/* batch_hist bucket: 1, 2-3, 4-7, ..., 128 and more */
static int batch_bucket(int nr)
{
	int b = 31 - __builtin_clz(nr);

	return b < BUBLK_STATS_BATCH_HIST ? b : BUBLK_STATS_BATCH_HIST - 1;
}

/* one bublk_dispatch run over nr requests */
void bublk_stats_batch(struct bublk_queue *q, int nr)
{
	q->stats->batches++;
	q->stats->batch_reqs += nr;
	q->stats->batch_hist[batch_bucket(nr)]++;
}

void bublk_stats_sum(const struct bublk_stats *per_queue, int nr_queues, struct bublk_stats *sum)
{
	const __u64 *src;
	__u64 *dst = (__u64 *)sum;

	/* every member is a __u64 counter */
	memset(sum, 0, sizeof(*sum));
	for (int q = 0; q < nr_queues; q++) {
		src = (const __u64 *)&per_queue[q];
		for (size_t i = 0; i < sizeof(*sum) / sizeof(__u64); i++)
			dst[i] += src[i];
	}
}

/*
 * The daemon's counters, once, into its log (/run/bublk/N.log) when the
 * queues are gone: what a user checks after a misbehaving target or
 * backend ("refused: backend_range=3" names the rejection reasons).
 */
void bublk_log_stats(const struct bublk_dev *dev)
{
	__u64 reqs = 0, errors = 0, bytes = 0, segs = 0;
	char refused[512] = "";
	struct bublk_stats st;
	size_t n = 0;

	if (!dev->target.stats || !dev->info.nr_hw_queues)
		return;
	bublk_stats_sum(dev->target.stats, dev->info.nr_hw_queues, &st);
	for (int o = 0; o < BUBLK_STATS_OPS; o++) {
		reqs += st.op[o].reqs;
		errors += st.op[o].errors;
		bytes += st.op[o].bytes;
		segs += st.op[o].segs;
	}
	for (int r = 1; r < BUBLK_REJ_NR && n < sizeof(refused); r++) {
		if (st.rejects[r])
			n += snprintf(refused + n, sizeof(refused) - n, " %s=%llu",
				      bublk_reject_name(r), (unsigned long long)st.rejects[r]);
	}
	/* dispatch_calls: what one BPF_PROG_RUN was amortised over (make bench) */
	bublk_log("dev %u: stats: requests=%llu errors=%llu bytes=%llu segments=%llu dispatch_calls=%llu fallbacks=%llu dispatch_errors=%llu refused:%s",
		  dev->info.dev_id, (unsigned long long)reqs, (unsigned long long)errors,
		  (unsigned long long)bytes, (unsigned long long)segs,
		  (unsigned long long)st.batches, (unsigned long long)st.fallbacks,
		  (unsigned long long)st.bpf_errors, n ? refused : " none");
}

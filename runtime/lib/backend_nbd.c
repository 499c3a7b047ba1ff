// SPDX-License-Identifier: MIT
/*
 * NBD backends through libnbd's asynchronous API, driven from the queue's
 * io_uring loop (docs/nbd.md). Each queue has one connection per NBD
 * backend: a libnbd handle belongs to one event loop. A segment becomes
 * one NBD command; its completion callback only records the result (it
 * runs under libnbd's lock, where calling libnbd again would deadlock), and
 * bublk_nbd_run hands the recorded results to bublk_seg_done, exactly as a
 * file segment's CQE is, once libnbd has returned. The connection's socket
 * is polled with one-shot IORING_OP_POLL_ADDs, armed for the directions
 * libnbd asks for after every pass of the loop.
 *
 * A connection that fails: its in-flight commands come back from libnbd
 * with an error, and they and every segment on that backend fail with EIO
 * while it is down, so a mirror drops the leg as it would a failing file.
 * The queue reconnects on its own, asynchronously, with a backoff (250 ms
 * doubling up to 5 s) on an io_uring timeout; once the server answers with
 * the same export (same size, writable if it was), requests go to it
 * again. Other backends and queues are not affected. bublk stats counts
 * connections lost and regained per backend.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

#include "backend_nbd.h"
#include "dev.h"
#include "log.h"
#include "queue.h"

/* what a UD_NBD_POLL completion is (its seg field); tag = backend, expect = generation */
enum { DIR_IN, DIR_OUT, UD_NBD_REMOVED, UD_NBD_RETRY };

#define RETRY_FIRST_MS	250
#define RETRY_MAX_MS	5000

enum conn_state {
	CONN_NONE,		/* not an NBD backend */
	CONN_UP,		/* transmission phase: segments go to it */
	CONN_DOWN,		/* lost: segments fail with EIO, a retry timer is on the ring */
	CONN_CONNECTING,	/* a new connection's handshake is under way */
};

struct nbd_conn {
	struct nbd_handle *h;		/* NULL while down */
	struct bublk_nbd_url *url;	/* where to reconnect */
	int		fd;		/* libnbd's socket, polled (not a registered file) */
	__u32		gen;		/* of h: completions for an older handle are dropped */
	__u8		caps;		/* BUBLK_NBD_CAN_* of this connection */
	__u8		state;		/* enum conn_state */
	bool		armed[2];	/* a POLLIN / POLLOUT poll is on the ring */
	bool		refused_logged;	/* libnbd refused a command: logged once */
	bool		mismatch_logged; /* a reconnect found another export: logged once */
	__u32		attempts;	/* reconnections tried since it went down */
	__u32		backoff_ms;
	struct __kernel_timespec retry_ts;
};

/* one segment's NBD command: at most one per (tag, segment) at a time */
struct nbd_op {
	struct bublk_nbd_queue *nq;
	__u16		tag;
	__u8		seg;
	bool		then_flush;	/* a FUA write on a server without FUA: flush next */
	int		err;		/* its errno from libnbd (or ours), 0 */
};

struct bublk_nbd_queue {
	struct nbd_conn	conns[BUBLK_MAX_BACKENDS];
	struct nbd_op	*ops;		/* [depth * max_segs] */
	__u32		*fin;		/* ring of finished ops, not yet handed on */
	__u32		nr_ops, head, count;
};

bool bublk_dev_has_nbd(const struct bublk_dev *dev)
{
	for (int i = 0; i < dev->nr_backends; i++) {
		if (dev->backends[i].nbd)
			return true;
	}
	return false;
}

/*
 * One connection to u, negotiated into the transmission phase; NULL with
 * err. Option mode separates the two ways it can fail: no server there, or
 * a server that will not serve that export.
 */
static struct nbd_handle *nbd_connect_url(const struct bublk_nbd_url *u, const char *url, int *errp,
					  char *err, size_t errlen)
{
	struct nbd_handle *h = nbd_create();
	int r;

	*errp = EIO;
	if (!h) {
		snprintf(err, errlen, "NBD %s: libnbd: %s", url, nbd_get_error());
		return NULL;
	}
	if (nbd_set_opt_mode(h, true) || nbd_set_export_name(h, u->export_name)) {
		snprintf(err, errlen, "NBD %s: libnbd: %s", url, nbd_get_error());
		goto fail;
	}
	r = u->unix_socket ? nbd_connect_unix(h, u->socket) : nbd_connect_tcp(h, u->host, u->port);
	if (r) {
		*errp = nbd_get_errno() ? nbd_get_errno() : EIO;
		snprintf(err, errlen, "NBD server %s: cannot connect: %s (is an NBD server running and listening %s?)",
			 url, nbd_get_error(), u->unix_socket ? "on that socket" : "at that host and port");
		goto fail;
	}
	/* an old-style server skips the options: the handle is ready already */
	if (nbd_aio_is_negotiating(h) && nbd_opt_go(h)) {
		*errp = nbd_get_errno() ? nbd_get_errno() : EIO;
		if (*errp == ENOENT)
			snprintf(err, errlen, "NBD server %s has no export \"%s\" (%s): check the export name (the path part of the address)",
				 url, u->export_name, nbd_get_error());
		else
			snprintf(err, errlen, "NBD server %s refused export \"%s\": %s",
				 url, u->export_name, nbd_get_error());
		goto fail;
	}
	if (!nbd_aio_is_ready(h)) {
		snprintf(err, errlen, "NBD server %s: the handshake did not finish (%s)", url,
			 nbd_connection_state(h));
		goto fail;
	}
	return h;
fail:
	nbd_close(h);
	return NULL;
}

static __u8 nbd_caps_of(struct nbd_handle *h)
{
	return (nbd_can_flush(h) > 0 ? BUBLK_NBD_CAN_FLUSH : 0) |
	       (nbd_can_fua(h) > 0 ? BUBLK_NBD_CAN_FUA : 0) |
	       (nbd_can_trim(h) > 0 ? BUBLK_NBD_CAN_TRIM : 0) |
	       (nbd_can_zero(h) > 0 ? BUBLK_NBD_CAN_ZERO : 0) |
	       (nbd_can_multi_conn(h) > 0 ? BUBLK_NBD_CAN_MULTI_CONN : 0);
}

int bublk_nbd_backend_open(struct bublk_backend *b, const char *url, bool readonly,
			   char *err, size_t errlen)
{
	struct bublk_nbd_url u;
	struct nbd_handle *h;
	int64_t size, minbs;
	int ret, e, ro;

	ret = bublk_nbd_url_parse(url, &u, err, errlen);
	if (ret)
		return ret;
	h = nbd_connect_url(&u, url, &e, err, errlen);
	if (!h)
		return -e;
	size = nbd_get_size(h);
	ro = nbd_is_read_only(h);
	if (size < 0 || ro < 0) {
		snprintf(err, errlen, "NBD server %s: %s", url, nbd_get_error());
		ret = -EIO;
		goto out;
	}
	if (ro && !readonly) {
		snprintf(err, errlen, "NBD export %s is read-only on its server: add --readonly (or make the export writable)",
			 url);
		ret = -EROFS;
		goto out;
	}
	b->nbd = true;
	b->fd = -1;
	b->size = size;
	b->readonly = readonly;
	b->nbd_caps = nbd_caps_of(h);
	minbs = nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM);
	b->min_block = minbs > 0 && minbs <= UINT32_MAX ? (__u32)minbs : 0;
	ret = 0;
	/* a polite goodbye: this connection was only a look */
	nbd_shutdown(h, 0);
out:
	nbd_close(h);
	return ret;
}

int bublk_nbd_dev_check(struct bublk_dev *dev, const struct bublk_dev_opts *o,
			char *err, size_t errlen)
{
	for (int i = 0; i < dev->nr_backends; i++) {
		const struct bublk_backend *b = &dev->backends[i];

		if (!b->nbd)
			continue;
		if (o->shmem_zc) {
			snprintf(err, errlen, "--shmem-zc cannot serve the NBD backend %s yet: leave out --shmem-zc",
				 b->path);
			return -EOPNOTSUPP;
		}
		if (o->nr_queues > 1 && !b->readonly && !(b->nbd_caps & BUBLK_NBD_CAN_MULTI_CONN)) {
			snprintf(err, errlen, "the NBD server of %s does not advertise multi-conn: with -q %d each queue has its own connection and a flush on one would not cover writes made on another; use -q 1",
				 b->path, o->nr_queues);
			return -EINVAL;
		}
		if (b->min_block > 4096) {
			snprintf(err, errlen, "NBD export %s accepts only requests of %u bytes or more: bublk devices have 512- or 4096-byte blocks",
				 b->path, b->min_block);
			return -EINVAL;
		}
		if (b->min_block > dev->block_size) {
			if (o->block_size) {
				snprintf(err, errlen, "NBD export %s accepts only requests of %u bytes or more: give --block-size 4096",
					 b->path, b->min_block);
				return -EINVAL;
			}
			dev->block_size = 4096;
		}
	}
	return 0;
}

static void arm_polls(struct bublk_queue *q);

/* the queue's state for its NBD backends; nothing when it has none */
int bublk_nbd_queue_setup(struct bublk_queue *q)
{
	struct bublk_dev *dev = q->dev;
	struct bublk_nbd_queue *nq;
	char err[1024];
	int e;

	if (!bublk_dev_has_nbd(dev))
		return 0;
	nq = calloc(1, sizeof(*nq));
	if (!nq)
		return -ENOMEM;
	q->nbd = nq;
	nq->nr_ops = (__u32)q->depth * dev->max_segs;
	nq->ops = calloc(nq->nr_ops, sizeof(*nq->ops));
	nq->fin = calloc(nq->nr_ops, sizeof(*nq->fin));
	if (!nq->ops || !nq->fin)
		return -ENOMEM;
	for (__u32 i = 0; i < nq->nr_ops; i++)
		nq->ops[i].nq = nq;
	for (int i = 0; i < dev->nr_backends; i++) {
		const struct bublk_backend *b = &dev->backends[i];
		struct nbd_conn *c = &nq->conns[i];

		if (!b->nbd)
			continue;
		c->url = malloc(sizeof(*c->url));
		if (!c->url)
			return -ENOMEM;
		if (bublk_nbd_url_parse(b->path, c->url, err, sizeof(err)))
			return -EINVAL;	/* parsed when the backend was opened */
		c->h = nbd_connect_url(c->url, b->path, &e, err, sizeof(err));
		if (!c->h) {
			bublk_log("dev %u queue %d: %s", dev->info.dev_id, q->q_id, err);
			return -e;
		}
		if (nbd_get_size(c->h) != (int64_t)b->size) {
			bublk_log("dev %u queue %d: NBD export %s is %lld bytes now, %llu when the device was made",
				  dev->info.dev_id, q->q_id, b->path, (long long)nbd_get_size(c->h),
				  (unsigned long long)b->size);
			return -ESTALE;
		}
		c->fd = nbd_aio_get_fd(c->h);
		c->caps = nbd_caps_of(c->h);
		if (c->fd < 0)
			return -EIO;
		c->state = CONN_UP;
		q->stats->nbd_up[i] = 1;
	}
	/*
	 * The polls now, not after the loop's first completion: a queue that
	 * gets no request for a while must still see its server go away.
	 */
	arm_polls(q);
	return 0;
}

void bublk_nbd_queue_release(struct bublk_queue *q)
{
	struct bublk_nbd_queue *nq = q->nbd;

	if (!nq)
		return;
	/* the ring is gone: no poll refers to a socket any more */
	for (int i = 0; i < BUBLK_MAX_BACKENDS; i++) {
		nbd_close(nq->conns[i].h);
		free(nq->conns[i].url);
	}
	free(nq->ops);
	free(nq->fin);
	free(nq);
	q->nbd = NULL;
}

static void fin_push(struct bublk_nbd_queue *nq, struct nbd_op *op)
{
	/* each op is here at most once: count never exceeds nr_ops */
	nq->fin[(nq->head + nq->count) % nq->nr_ops] = op - nq->ops;
	nq->count++;
}

/* libnbd's completion callback: under its lock, so only record the result */
static int nbd_op_done(void *user_data, int *error)
{
	struct nbd_op *op = user_data;

	op->err = *error;
	fin_push(op->nq, op);
	return 1;	/* retire the command: nothing asks libnbd about it later */
}

static __u64 ud_conn(int i, const struct nbd_conn *c, unsigned int what)
{
	return ud_make(UD_NBD_POLL, i, c->gen) | ((__u64)what << 32);
}

/* the retry timer: the next reconnection attempt after the backoff */
static void arm_retry(struct bublk_queue *q, int i)
{
	struct nbd_conn *c = &q->nbd->conns[i];
	struct io_uring_sqe *sqe = bublk_get_sqe(q);

	c->backoff_ms = !c->backoff_ms ? RETRY_FIRST_MS :
			c->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : c->backoff_ms * 2;
	c->retry_ts.tv_sec = c->backoff_ms / 1000;
	c->retry_ts.tv_nsec = (c->backoff_ms % 1000) * 1000000LL;
	if (!sqe) {
		/* the ring is full even after a submit: at worst, the queue never retries */
		bublk_log("dev %u queue %d: NBD backend %d: no room on the ring for the retry timer",
			  q->dev->info.dev_id, q->q_id, i);
		return;
	}
	io_uring_prep_timeout(sqe, &c->retry_ts, 0, 0);
	sqe->user_data = ud_conn(i, c, UD_NBD_RETRY);
}

/*
 * Let go of the connection's handle. libnbd has called back every command
 * once it is dead or closed; one that is neither (it refused to go on) is
 * made so first: with its socket shut down, a read finds the end of the
 * stream and libnbd aborts what it still holds. Polls on the old socket
 * are removed; anything of theirs that comes back has an old generation.
 */
static void drop_handle(struct bublk_queue *q, int i)
{
	struct nbd_conn *c = &q->nbd->conns[i];

	if (!c->h)
		return;
	if (!nbd_aio_is_dead(c->h) && !nbd_aio_is_closed(c->h) && c->fd >= 0) {
		shutdown(c->fd, SHUT_RDWR);
		nbd_aio_notify_read(c->h);
	}
	if (nbd_aio_in_flight(c->h) > 0)
		bublk_log("dev %u queue %d: NBD backend %d: libnbd still holds %d commands of a failed connection",
			  q->dev->info.dev_id, q->q_id, i, nbd_aio_in_flight(c->h));
	for (int dir = DIR_IN; dir <= DIR_OUT; dir++) {
		struct io_uring_sqe *sqe;

		if (!c->armed[dir])
			continue;
		sqe = bublk_get_sqe(q);
		if (sqe) {
			io_uring_prep_poll_remove(sqe, ud_conn(i, c, dir));
			sqe->user_data = ud_conn(i, c, UD_NBD_REMOVED);
		}
		c->armed[dir] = false;
	}
	nbd_close(c->h);
	c->h = NULL;
	c->fd = -1;
	c->gen++;
}

/* the connection (up, or a reconnection under way) is lost: down, retry later */
static void conn_failed(struct bublk_queue *q, int i, const char *what)
{
	struct nbd_conn *c = &q->nbd->conns[i];

	if (c->state != CONN_UP && c->state != CONN_CONNECTING)
		return;
	if (c->state == CONN_UP) {
		bublk_log("dev %u queue %d: NBD backend %d (%s) failed (%s: %s); its requests fail with EIO until it is back (reconnecting)",
			  q->dev->info.dev_id, q->q_id, i, q->dev->backends[i].path, what,
			  nbd_get_error() ? nbd_get_error() : "connection closed");
		q->stats->nbd_lost[i]++;
		q->stats->nbd_up[i] = 0;
		c->attempts = 0;
		c->backoff_ms = 0;
	}
	c->state = CONN_DOWN;
	drop_handle(q, i);
	arm_retry(q, i);
}

/* the retry timer fired: start a new connection, its handshake driven like I/O */
static void reconnect(struct bublk_queue *q, int i)
{
	struct nbd_conn *c = &q->nbd->conns[i];
	const struct bublk_nbd_url *u = c->url;
	struct nbd_handle *h;
	int r;

	c->attempts++;
	h = nbd_create();
	if (!h) {
		arm_retry(q, i);
		return;
	}
	r = nbd_set_export_name(h, u->export_name);
	if (!r)
		r = u->unix_socket ? nbd_aio_connect_unix(h, u->socket) :
				     nbd_aio_connect_tcp(h, u->host, u->port);
	if (r || nbd_aio_get_fd(h) < 0) {
		/* nobody listening yet: the usual case while a server is away */
		nbd_close(h);
		arm_retry(q, i);
		return;
	}
	c->h = h;
	c->fd = nbd_aio_get_fd(h);
	c->state = CONN_CONNECTING;
}

/*
 * A reconnection's handshake ended well: the server must serve the export
 * the device was made with (same size; writable if the device is).
 */
static void connected(struct bublk_queue *q, int i)
{
	struct nbd_conn *c = &q->nbd->conns[i];
	const struct bublk_backend *b = &q->dev->backends[i];
	int64_t size = nbd_get_size(c->h);
	int ro = nbd_is_read_only(c->h);

	if (size != (int64_t)b->size || ro < 0 || (ro && !b->readonly)) {
		if (!c->mismatch_logged)
			bublk_log("dev %u queue %d: NBD backend %d (%s) is back but serves another export (%lld bytes%s, the device has %llu): not used; retrying",
				  q->dev->info.dev_id, q->q_id, i, b->path, (long long)size,
				  ro > 0 ? ", read-only" : "", (unsigned long long)b->size);
		c->mismatch_logged = true;
		c->state = CONN_DOWN;
		drop_handle(q, i);
		arm_retry(q, i);
		return;
	}
	c->caps = nbd_caps_of(c->h);
	c->state = CONN_UP;
	c->mismatch_logged = false;
	c->refused_logged = false;
	q->stats->nbd_reconnects[i]++;
	q->stats->nbd_up[i] = 1;
	bublk_log("dev %u queue %d: NBD backend %d (%s) is back after %u attempt%s",
		  q->dev->info.dev_id, q->q_id, i, b->path, c->attempts, c->attempts == 1 ? "" : "s");
	c->attempts = 0;
	c->backoff_ms = 0;
}

/* libnbd would not take a command: the connection is gone, or it refused it */
static int issue_failed(struct bublk_queue *q, int i)
{
	struct nbd_conn *c = &q->nbd->conns[i];

	if (nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h)) {
		conn_failed(q, i, "sending a command");
	} else if (!c->refused_logged) {
		c->refused_logged = true;
		bublk_log("dev %u queue %d: NBD backend %d (%s): libnbd refused a command: %s; failing it with EIO",
			  q->dev->info.dev_id, q->q_id, i, q->dev->backends[i].path, nbd_get_error());
	}
	return EIO;
}

void bublk_nbd_queue_seg(struct bublk_queue *q, int tag, int i)
{
	struct bublk_nbd_queue *nq = q->nbd;
	struct bublk_io *io = &q->ios[tag];
	const struct bublk_seg *s = &io_segs(q, tag)[i];
	struct nbd_conn *c = &nq->conns[s->backend];
	struct nbd_op *op = &nq->ops[(size_t)tag * q->dev->max_segs + i];
	nbd_completion_callback cb = { .callback = nbd_op_done, .user_data = op };
	char *data;
	int64_t cookie = -1;
	__u32 flags = 0;

	op->tag = tag;
	op->seg = i;
	op->then_flush = false;
	op->err = 0;
	io->pending++;
	bublk_stats_seg(q, tag);
	if (c->state != CONN_UP) {
		op->err = EIO;	/* down, or still shaking hands again */
		goto now;
	}
	/* the data is in our memory: NBD devices never run zero copy (ctlplane.c) */
	if (s->flags & BUBLK_SEG_F_ARENA)
		data = (char *)q->scratch + (size_t)tag * BUBLK_SCRATCH_SIZE + s->data_off;
	else
		data = (char *)io->data + s->data_off;
	switch (s->op) {
	case BUBLK_SEG_READ:
		cookie = nbd_aio_pread(c->h, data, s->len, s->backend_off, cb, 0);
		break;
	case BUBLK_SEG_WRITE:
		if (io->flags & BUBLK_REQ_F_FUA) {
			if (c->caps & BUBLK_NBD_CAN_FUA)
				flags = LIBNBD_CMD_FLAG_FUA;
			else if (c->caps & BUBLK_NBD_CAN_FLUSH)
				op->then_flush = true;
			/* neither: the server keeps no write cache, a write is stable */
		}
		cookie = nbd_aio_pwrite(c->h, data, s->len, s->backend_off, cb, flags);
		break;
	case BUBLK_SEG_FLUSH:
		/*
		 * No flush advertised: the server has no volatile cache to
		 * flush (the kernel's NBD client sends none either). Failing
		 * it would make every fsync fail and a mirror drop the leg.
		 */
		if (!(c->caps & BUBLK_NBD_CAN_FLUSH))
			goto now;
		cookie = nbd_aio_flush(c->h, cb, 0);
		break;
	case BUBLK_SEG_DISCARD:
		if (!(c->caps & BUBLK_NBD_CAN_TRIM)) {
			op->err = EOPNOTSUPP;
			goto now;
		}
		cookie = nbd_aio_trim(c->h, s->len, s->backend_off, cb, 0);
		break;
	case BUBLK_SEG_WRITE_ZEROES:
		if (!(c->caps & BUBLK_NBD_CAN_ZERO)) {
			op->err = EOPNOTSUPP;
			goto now;
		}
		cookie = nbd_aio_zero(c->h, s->len, s->backend_off, cb, 0);
		break;
	default:
		op->err = EINVAL;	/* exec.c sends only the ops above */
		goto now;
	}
	if (cookie >= 0) {
		/* the callback may have run already: a connection that died while sending */
		if (nbd_aio_is_dead(c->h))
			conn_failed(q, s->backend, "sending a command");
		return;
	}
	op->err = issue_failed(q, s->backend);
now:
	/* finished without libnbd: handed on by bublk_nbd_run like any other */
	fin_push(nq, op);
}

/*
 * Whether a read on the socket would find something now (data, EOF or an
 * error). libnbd (1.14) must never be told "readable" when it is not: a
 * read notification that finds nothing leaves it waiting in REPLY.START
 * for a reply, asking only to read, and a request it was half-way through
 * sending is never finished; the server waits for the rest of it and the
 * connection hangs for good. It happened, rarely: a make test run hung in
 * t_nbd on 6.12, a stress run on 7.3, and a bare libnbd + io_uring poll
 * loop on the host (6.18) stopped in that state once in about 800 runs,
 * although only a POLLIN completion calls notify_read there and nothing
 * else reads the socket. So readability is checked again here, at the
 * price of one poll(2) per completion.
 */
static bool socket_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

void bublk_nbd_poll_cqe(struct bublk_queue *q, __u64 ud, int res)
{
	struct bublk_nbd_queue *nq = q->nbd;
	unsigned int i = ud_tag(ud), what = ud_seg(ud), dir = what;
	struct nbd_conn *c;
	unsigned int want;
	int r;

	if (!nq || i >= BUBLK_MAX_BACKENDS)
		return;
	c = &nq->conns[i];
	if (ud_expect(ud) != c->gen || what == UD_NBD_REMOVED)
		return;	/* of a handle let go of since, or a poll removal's own answer */
	if (what == UD_NBD_RETRY) {
		if (res == -ETIME && c->state == CONN_DOWN)
			reconnect(q, i);
		return;
	}
	if (dir > DIR_OUT)
		return;
	c->armed[dir] = false;
	if (res < 0 || !c->h)
		return;	/* canceled, or nothing to tell libnbd */
	/* libnbd may want something else by now: a stale poll is just dropped */
	want = nbd_aio_get_direction(c->h);
	if (dir == DIR_IN && (want & LIBNBD_AIO_DIRECTION_READ) && socket_readable(c->fd))
		r = nbd_aio_notify_read(c->h);
	else if (dir == DIR_OUT && (want & LIBNBD_AIO_DIRECTION_WRITE))
		r = nbd_aio_notify_write(c->h);
	else
		return;
	if (r < 0 || nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h))
		conn_failed(q, i, dir == DIR_IN ? "receiving" : "sending");
}

static void arm_poll(struct bublk_queue *q, int i, int dir)
{
	struct nbd_conn *c = &q->nbd->conns[i];
	struct io_uring_sqe *sqe = bublk_get_sqe(q);

	if (!sqe)
		return;	/* the ring is full even after a submit: the next pass arms it */
	/* one-shot: it reports readiness as of now, so nothing can be missed between passes */
	io_uring_prep_poll_add(sqe, c->fd, dir == DIR_OUT ? POLLOUT : POLLIN);
	sqe->user_data = ud_conn(i, c, dir);
	c->armed[dir] = true;
}

/* poll each live connection's socket for what libnbd waits for */
static void arm_polls(struct bublk_queue *q)
{
	struct bublk_nbd_queue *nq = q->nbd;

	for (int i = 0; i < q->dev->nr_backends; i++) {
		struct nbd_conn *c = &nq->conns[i];
		unsigned int want;

		if (c->state == CONN_CONNECTING) {
			if (nbd_aio_is_ready(c->h))
				connected(q, i);
			else if (nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h))
				conn_failed(q, i, "reconnecting");
		}
		if (c->state != CONN_UP && c->state != CONN_CONNECTING)
			continue;
		want = nbd_aio_get_direction(c->h);
		if ((want & LIBNBD_AIO_DIRECTION_READ) && !c->armed[DIR_IN])
			arm_poll(q, i, DIR_IN);
		if ((want & LIBNBD_AIO_DIRECTION_WRITE) && !c->armed[DIR_OUT])
			arm_poll(q, i, DIR_OUT);
	}
}

void bublk_nbd_run(struct bublk_queue *q)
{
	struct bublk_nbd_queue *nq = q->nbd;

	if (!nq)
		return;
	/* handing one on may issue the request's next stage: the loop takes those too */
	while (nq->count) {
		struct nbd_op *op = &nq->ops[nq->fin[nq->head]];
		const struct bublk_seg *s = &io_segs(q, op->tag)[op->seg];
		struct nbd_conn *c = &nq->conns[s->backend];
		__u32 expect = s->op == BUBLK_SEG_READ || s->op == BUBLK_SEG_WRITE ? s->len : 0;
		int err = op->err;

		nq->head = (nq->head + 1) % nq->nr_ops;
		nq->count--;
		if (err == ENOTCONN || err == ESHUTDOWN)
			err = EIO;	/* aborted with its connection: an I/O error to the target */
		if (!err && op->then_flush) {
			nbd_completion_callback cb = { .callback = nbd_op_done, .user_data = op };

			op->then_flush = false;
			if (c->state != CONN_UP)
				err = EIO;
			else if (nbd_aio_flush(c->h, cb, 0) >= 0)
				continue;
			else
				err = issue_failed(q, s->backend);
		}
		bublk_seg_done(q, op->tag, op->seg, err ? -err : (int)expect, expect);
	}
	arm_polls(q);
}

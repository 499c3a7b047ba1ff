// SPDX-License-Identifier: MIT
/*
 * An NBD connection's life on its queue's io_uring (docs/nbd.md): one-shot
 * polls of libnbd's socket for the directions it asks for, their
 * completions handed to libnbd, and a lost connection's reconnection on a
 * retry timer, its handshake driven by the same polls. Every completion
 * carries the handle's generation: one for a handle let go of is dropped.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "backend_nbd_int.h"
#include "dev.h"
#include "log.h"

/* the reconnection backoff: the first retry, doubling up to the last */
#define RETRY_FIRST_MS	250
#define RETRY_MAX_MS	5000

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
void nbd_conn_failed(struct bublk_queue *q, int i, const char *what)
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
	int r, fd;

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
	fd = r ? -1 : nbd_aio_get_fd(h);
	if (fd < 0) {
		/* nobody listening yet: the usual case while a server is away */
		nbd_close(h);
		arm_retry(q, i);
		return;
	}
	c->h = h;
	c->fd = fd;
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
		nbd_conn_failed(q, i, dir == DIR_IN ? "receiving" : "sending");
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
void nbd_arm_polls(struct bublk_queue *q)
{
	struct bublk_nbd_queue *nq = q->nbd;

	for (int i = 0; i < q->dev->nr_backends; i++) {
		struct nbd_conn *c = &nq->conns[i];
		unsigned int want;

		if (c->state == CONN_CONNECTING) {
			if (nbd_aio_is_ready(c->h))
				connected(q, i);
			else if (nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h))
				nbd_conn_failed(q, i, "reconnecting");
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

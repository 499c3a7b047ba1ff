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
 * libnbd asks for after every pass of the loop (nbd_conn.c).
 *
 * A connection that fails: its in-flight commands come back from libnbd
 * with an error, and they and every segment on that backend fail with EIO
 * while it is down, so a mirror drops the leg as it would a failing file.
 * The queue reconnects on its own, asynchronously, with a backoff on an
 * io_uring timeout (nbd_conn.c); once the server answers with
 * the same export (same size, writable if it was), requests go to it
 * again. Other backends and queues are not affected. bublk stats counts
 * connections lost and regained per backend.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

#include "backend_nbd_int.h"
#include "dev.h"
#include "log.h"


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

__u8 nbd_caps_of(struct nbd_handle *h)
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
	nbd_arm_polls(q);
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


/* libnbd would not take a command: the connection is gone, or it refused it */
static int issue_failed(struct bublk_queue *q, int i)
{
	struct nbd_conn *c = &q->nbd->conns[i];

	if (nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h)) {
		nbd_conn_failed(q, i, "sending a command");
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
			nbd_conn_failed(q, s->backend, "sending a command");
		return;
	}
	op->err = issue_failed(q, s->backend);
now:
	/* finished without libnbd: handed on by bublk_nbd_run like any other */
	fin_push(nq, op);
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
	nbd_arm_polls(q);
}

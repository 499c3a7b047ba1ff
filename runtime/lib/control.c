// SPDX-License-Identifier: MIT
/*
 * The daemon's control socket, /run/bublk/N.sock: one request per
 * connection, one line each way. Today it understands
 *
 *	reload /abs/path/target.bpf.o	->	"ok ..." | "error: ..."
 *
 * It runs in its own thread, never on a queue thread; anything it does not
 * understand gets an error line and the device keeps serving.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "ctlplane.h"
#include "log.h"
#include "state.h"
#include "util.h"

#define CONTROL_MAX_MSG		4096
#define CONTROL_MAX_PENDING	4	/* connections whose request is still coming */
#define CONTROL_WAIT_MS		2000	/* for a request line, per connection */

/*
 * MSG_NOSIGNAL: a client that closed before reading its answer (Ctrl-C on
 * "bublk reload") must cost it the answer, not kill the daemon with SIGPIPE.
 */
static void reply(int fd, const char *fmt, const char *a, const char *b)
{
	char line[CONTROL_MAX_MSG + 64];
	int n = snprintf(line, sizeof(line), fmt, a, b);

	if (n > 0 && bublk_listener_send(fd, line, min((size_t)n, sizeof(line) - 1)) < 0)
		bublk_log("control: reply: %s", strerror(errno));
}

/* one complete request line (NUL-terminated in msg, n bytes) */
static void handle(struct bublk_control *c, int fd, char *msg, size_t n)
{
	char err[1024] = "";
	char *nl;

	nl = memchr(msg, '\n', n);
	if (!nl || memchr(msg, '\0', n)) {
		reply(fd, "error: %s%s\n", "a request is one line of text ending in a newline", "");
		return;
	}
	*nl = '\0';
	/* resize, quiesce: the 7.x control plane (ctlplane.c) */
	if (bublk_ctlplane_request(c->dev, msg, err, sizeof(err))) {
		reply(fd, "%s%s", err, "");
		return;
	}
	if (strncmp(msg, "reload ", 7) || msg[7] != '/') {
		reply(fd, "error: unknown request \"%.80s\"; this daemon understands: %s\n", msg,
		      "reload /ABSOLUTE/PATH.bpf.o, resize BYTES, quiesce TIMEOUT_MS");
		return;
	}
	if (bublk_dev_reload(c->dev, msg + 7, err, sizeof(err))) {
		bublk_log("dev %u: reload of %s refused: %s", c->dev->info.dev_id, msg + 7, err);
		reply(fd, "error: %s%s\n", err, "; the running target keeps serving");
		return;
	}
	bublk_state_write(c->dev, getpid());
	reply(fd, "ok: dev %s now runs %s\n", c->dev_name, msg + 7);
}

/*
 * A connection whose request line is still arriving. Requests are read as
 * they come, from every pending connection at once, so a client that
 * connects and says nothing delays nobody: it is dropped after
 * CONTROL_WAIT_MS, while the others are served.
 */
struct pending {
	struct bublk_client	c;
	size_t			len;
	char			msg[CONTROL_MAX_MSG + 1];
};

static void pending_drop(struct pending *p, int *n, int i)
{
	close(p[i].c.fd);
	p[i] = p[--*n];
}

static void *control_thread(void *arg)
{
	static struct pending pend[CONTROL_MAX_PENDING];	/* one control thread per daemon */
	struct bublk_control *c = arg;
	int npend = 0;

	for (;;) {
		bool incoming, allowed;
		long long now;
		pid_t pid;
		int fd;

		if (bublk_listener_wait_for(&c->listener, pend, c, npend, CONTROL_MAX_PENDING, POLLIN,
					    &incoming, &now))
			break;
		for (int i = npend - 1; i >= 0; i--) {
			struct pending *q = &pend[i];
			const char *why = "none within 2 s";
			bool done = now >= q->c.deadline;

			if (q->c.revents) {
				ssize_t n = recv(q->c.fd, q->msg + q->len, CONTROL_MAX_MSG - q->len,
						 MSG_DONTWAIT);

				if (n > 0) {
					q->len += n;
					done |= memchr(q->msg, '\n', q->len) || q->len == CONTROL_MAX_MSG;
				} else if (!n || (errno != EAGAIN && errno != EINTR)) {
					why = n ? strerror(errno) : "closed";
					done = true;
				}
			}
			if (!done)
				continue;	/* more of the line to come */
			q->msg[q->len] = '\0';
			if (q->len)
				handle(c, q->c.fd, q->msg, q->len);
			else
				bublk_log("dev %u control: no request (%s)", c->dev->info.dev_id, why);
			pending_drop(pend, &npend, i);
		}
		if (!incoming)
			continue;
		fd = bublk_listener_accept(&c->listener, &pid, &allowed);
		if (fd < 0)
			continue;
		if (!allowed) {
			reply(fd, "error: %s%s\n", "permission denied: only root or the daemon's user", "");
			close(fd);
			continue;
		}
		pend[npend++] = (struct pending){ .c = { .fd = fd, .pid = pid,
							 .deadline = now + CONTROL_WAIT_MS } };
	}
	for (int i = 0; i < npend; i++)
		close(pend[i].c.fd);
	return NULL;
}

int bublk_control_start(struct bublk_control *c, struct bublk_dev *dev)
{
	char path[sizeof(c->listener.path)];
	int ret;

	memset(c, 0, sizeof(*c));
	c->dev = dev;
	bublk_listener_init(&c->listener);
	snprintf(c->dev_name, sizeof(c->dev_name), "%u", dev->info.dev_id);
	bublk_state_path(path, sizeof(path), dev->info.dev_id, "sock");
	ret = bublk_listener_open(&c->listener, path, 4, control_thread, c);
	if (ret) {
		bublk_log("dev %u: control socket %s: %s", dev->info.dev_id, path, strerror(-ret));
		bublk_control_stop(c);
	}
	return ret;
}

void bublk_control_stop(struct bublk_control *c)
{
	bublk_listener_close(&c->listener);
}

int bublk_control_request(unsigned int dev_id, const char *request, char *answer, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	ssize_t n, got = 0;
	int fd, ret;

	answer[0] = '\0';
	bublk_state_path(sa.sun_path, sizeof(sa.sun_path), dev_id, "sock");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto fail;
	/* the answer is only worth something from root's (or our own) daemon */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen))
		goto fail;
	if (cred.uid != 0 && cred.uid != getuid()) {
		snprintf(answer, len, "error: %s is served by uid %u, not by root: not a bublk daemon\n",
			 sa.sun_path, (unsigned int)cred.uid);
		close(fd);
		return -EPERM;
	}
	if (send(fd, request, strlen(request), MSG_NOSIGNAL) != (ssize_t)strlen(request))
		goto fail;
	while (got < (ssize_t)len - 1 && (n = read(fd, answer + got, len - 1 - got)) > 0)
		got += n;
	close(fd);
	answer[got] = '\0';
	return strncmp(answer, "ok", 2) ? -EINVAL : 0;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

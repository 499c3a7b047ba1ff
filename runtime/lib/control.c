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
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "ctlplane.h"
#include "log.h"
#include "state.h"

#define CONTROL_MAX_MSG	4096

static void reply(int fd, const char *fmt, const char *a, const char *b)
{
	char line[CONTROL_MAX_MSG + 64];
	int n = snprintf(line, sizeof(line), fmt, a, b);

	if (n > 0 && write(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
		bublk_log("control: reply: %s", strerror(errno));
}

/* only root, or the daemon's own user, may change the target */
static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return false;
	return cred.uid == 0 || cred.uid == getuid();
}

static void handle(struct bublk_control *c, int fd)
{
	char msg[CONTROL_MAX_MSG + 1], err[1024] = "";
	struct timeval tv = { .tv_sec = 2 };
	ssize_t n;
	char *nl;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (!peer_allowed(fd)) {
		reply(fd, "error: %s%s\n", "permission denied: only root or the daemon's user", "");
		return;
	}
	n = read(fd, msg, CONTROL_MAX_MSG);
	if (n <= 0) {
		bublk_log("dev %u control: no request (%s)", c->dev->info.dev_id,
			  n < 0 ? strerror(errno) : "closed");
		return;
	}
	msg[n] = '\0';
	nl = memchr(msg, '\n', n);
	if (!nl || memchr(msg, '\0', n)) {
		reply(fd, "error: %s%s\n", "a request is one line of text ending in a newline", "");
		return;
	}
	*nl = '\0';
	/* resize: the 7.x control plane (ctlplane.c) */
	if (bublk_ctlplane_request(c->dev, msg, err, sizeof(err))) {
		reply(fd, "%s%s", err, "");
		return;
	}
	if (strncmp(msg, "reload ", 7) || msg[7] != '/') {
		reply(fd, "error: unknown request \"%.80s\"; this daemon understands: %s\n", msg,
		      "reload /ABSOLUTE/PATH.bpf.o, resize BYTES");
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

static void *control_thread(void *arg)
{
	struct bublk_control *c = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = c->listen_fd, .events = POLLIN },
				       { .fd = c->stop_pipe[0], .events = POLLIN } };
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		handle(c, fd);
		close(fd);
	}
	return NULL;
}

int bublk_control_start(struct bublk_control *c, struct bublk_dev *dev)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ret;

	memset(c, 0, sizeof(*c));
	c->dev = dev;
	c->listen_fd = -1;
	snprintf(c->dev_name, sizeof(c->dev_name), "%u", dev->info.dev_id);
	bublk_state_path(c->path, sizeof(c->path), dev->info.dev_id, "sock");
	memcpy(sa.sun_path, c->path, sizeof(sa.sun_path));
	if (pipe2(c->stop_pipe, O_CLOEXEC))
		return -errno;
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0)
		goto fail;
	unlink(c->path);	/* a crashed daemon's */
	if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(c->path, 0600) ||
	    listen(c->listen_fd, 4))
		goto fail;
	ret = pthread_create(&c->thread, NULL, control_thread, c);
	if (ret) {
		errno = ret;
		goto fail;
	}
	c->running = true;
	return 0;
fail:
	ret = -errno;
	bublk_log("dev %u: control socket %s: %s", dev->info.dev_id, c->path, strerror(errno));
	bublk_control_stop(c);
	return ret;
}

void bublk_control_stop(struct bublk_control *c)
{
	if (c->running) {
		if (write(c->stop_pipe[1], "x", 1) < 0)
			bublk_log("control: stop: %s", strerror(errno));
		pthread_join(c->thread, NULL);
		c->running = false;
	}
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->path);
	}
	c->listen_fd = -1;
	for (int i = 0; i < 2; i++) {
		if (c->stop_pipe[i] > 0)
			close(c->stop_pipe[i]);
		c->stop_pipe[i] = -1;
	}
}

int bublk_control_request(unsigned int dev_id, const char *request, char *answer, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ssize_t n, got = 0;
	int fd, ret;

	bublk_state_path(sa.sun_path, sizeof(sa.sun_path), dev_id, "sock");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while (got < (ssize_t)len - 1 && (n = read(fd, answer + got, len - 1 - got)) > 0)
		got += n;
	close(fd);
	answer[got] = '\0';
	return strncmp(answer, "ok", 2) ? -EINVAL : 0;
}

// SPDX-License-Identifier: MIT
/* A UNIX listening socket on a thread of its own (unix_listener.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "unix_listener.h"

/* stop pipe, listening socket, and at most this many clients per listener */
#define LISTENER_MAX_POLL	(2 + 64)

long long bublk_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void bublk_listener_init(struct bublk_listener *l)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->stop_pipe[0] = l->stop_pipe[1] = -1;
}

int bublk_listener_open(struct bublk_listener *l, const char *path, int backlog,
			void *(*fn)(void *), void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ret;

	snprintf(l->path, sizeof(l->path), "%s", path);
	memcpy(sa.sun_path, l->path, sizeof(sa.sun_path));
	if (pipe2(l->stop_pipe, O_CLOEXEC))
		return -errno;
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return -errno;
	unlink(l->path);	/* a crashed daemon's */
	/* only root (and the daemon's user) may connect; bublk_listener_accept checks again */
	if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(l->path, 0600) ||
	    listen(l->fd, backlog))
		return -errno;
	ret = pthread_create(&l->thread, NULL, fn, arg);
	if (ret) {
		errno = ret;
		return -ret;
	}
	l->running = true;
	return 0;
}

void bublk_listener_close(struct bublk_listener *l)
{
	if (l->running) {
		if (write(l->stop_pipe[1], "x", 1) < 0)
			bublk_log("%s: stop: %s", l->path, strerror(errno));
		pthread_join(l->thread, NULL);
		l->running = false;
	}
	if (l->fd >= 0) {
		close(l->fd);
		unlink(l->path);
		l->fd = -1;
	}
	for (int i = 0; i < 2; i++) {
		if (l->stop_pipe[i] >= 0)
			close(l->stop_pipe[i]);
		l->stop_pipe[i] = -1;
	}
}

static struct bublk_client *client_at(struct bublk_client *clients, size_t stride, int i)
{
	return (struct bublk_client *)((char *)clients + (size_t)i * stride);
}

int bublk_listener_wait(struct bublk_listener *l, struct bublk_client *clients, size_t stride,
			int n, int max, short events, bool *incoming, long long *now)
{
	struct pollfd p[LISTENER_MAX_POLL];

	if (n > LISTENER_MAX_POLL - 2 || max > LISTENER_MAX_POLL - 2)
		return -1;
	for (;;) {
		long long t = bublk_now_ms(), first = -1;

		p[0] = (struct pollfd){ .fd = l->stop_pipe[0], .events = POLLIN };
		p[1] = (struct pollfd){ .fd = l->fd, .events = n < max ? POLLIN : 0 };
		for (int i = 0; i < n; i++) {
			struct bublk_client *c = client_at(clients, stride, i);

			p[2 + i] = (struct pollfd){ .fd = c->fd, .events = events };
			if (c->deadline && (first < 0 || c->deadline < first))
				first = c->deadline;
		}
		if (poll(p, 2 + n, first < 0 ? -1 : (first > t ? (int)(first - t) : 0)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p[0].revents)
			return -1;
		*now = bublk_now_ms();
		for (int i = 0; i < n; i++)
			client_at(clients, stride, i)->revents = p[2 + i].revents;
		*incoming = p[1].revents & POLLIN;
		return 0;
	}
}

/* only root, or the daemon's own user, may talk to the daemon */
static bool peer_allowed(int fd, pid_t *pid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return false;
	*pid = cred.pid;
	return cred.uid == 0 || cred.uid == getuid();
}

int bublk_listener_accept(struct bublk_listener *l, pid_t *pid, bool *allowed)
{
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);

	*pid = 0;
	*allowed = fd >= 0 && peer_allowed(fd, pid);
	return fd;
}

ssize_t bublk_listener_send(int fd, const void *buf, size_t len)
{
	return send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

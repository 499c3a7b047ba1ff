// SPDX-License-Identifier: MIT
/*
 * Shared-memory zero copy: registrations and the client socket.
 *
 * Clients share memory two ways. With --htlb FILE, both sides mmap the
 * same (hugetlbfs) file. Or a client connects to /run/ublk/ublkb<N>.sock
 * and sends one memfd with SCM_RIGHTS; the daemon maps it, registers it
 * and answers with the int32 index (or a negative errno), the protocol
 * kublk and ublksrv use. The registration lasts while the connection is
 * open: a client closing it (or exiting) has released its mapping, so the
 * buffer is unregistered and unmapped.
 *
 * All of this runs on its own thread, never on a queue thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dev.h"
#include "log.h"
#include "shmem.h"

#define SHMEM_SOCK_DIR	"/run/ublk"
#define SHMEM_MAX_CONNS	64

void bublk_shmem_init(struct bublk_shmem *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->listen_fd = -1;
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
}

int bublk_shmem_register(struct bublk_dev *dev, void *base, size_t len, bool readonly,
			 int conn_fd)
{
	struct bublk_shmem *s = &dev->shmem;
	int idx;

	pthread_mutex_lock(&s->lock);
	idx = bublk_ctrl_reg_buf(&dev->ctrl, dev->info.dev_id, base, len,
				 readonly ? UBLK_SHMEM_BUF_READ_ONLY : 0);
	if (idx >= BUBLK_SHMEM_MAX_BUFS) {
		/* the kernel has more room than our table: give it back */
		bublk_ctrl_unreg_buf(&dev->ctrl, dev->info.dev_id, idx);
		idx = -ENOSPC;
	}
	if (idx >= 0) {
		s->bufs[idx].len = len;
		s->bufs[idx].readonly = readonly;
		s->bufs[idx].conn_fd = conn_fd;
		/* publish last: queue threads look up base */
		__atomic_store_n(&s->bufs[idx].base, base, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&s->lock);
	return idx;
}

int bublk_shmem_unregister(struct bublk_dev *dev, int idx)
{
	struct bublk_shmem *s = &dev->shmem;
	struct bublk_shmem_buf *b;
	int ret;

	if (idx < 0 || idx >= BUBLK_SHMEM_MAX_BUFS)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	b = &s->bufs[idx];
	if (!b->base) {
		pthread_mutex_unlock(&s->lock);
		return -ENOENT;
	}
	/* when this returns, no request carrying idx is in flight any more */
	ret = bublk_ctrl_unreg_buf(&dev->ctrl, dev->info.dev_id, idx);
	if (ret)
		bublk_log("dev %u: UNREG_BUF %d: %s", dev->info.dev_id, idx, strerror(-ret));
	munmap(b->base, b->len);
	__atomic_store_n(&b->base, NULL, __ATOMIC_RELEASE);
	b->len = 0;
	b->conn_fd = -1;
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* check what a client (or the user) hands us, map it shared: 0 or -errno + why */
static int map_shared(int fd, bool readonly, void **mem, size_t *len, const char **why)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st)) {
		*why = "cannot stat it";
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "not a memfd or regular file";
		return -EINVAL;
	}
	if (!st.st_size) {
		*why = "its size is zero";
		return -EINVAL;
	}
	if (st.st_size % sysconf(_SC_PAGESIZE)) {
		*why = "its size is not a multiple of the page size";
		return -EINVAL;
	}
	if ((unsigned long long)st.st_size > BUBLK_SHMEM_MAX_BYTES) {
		*why = "it is larger than 4 GiB";
		return -E2BIG;
	}
	p = mmap(NULL, st.st_size, PROT_READ | (readonly ? 0 : PROT_WRITE), MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		*why = strerror(errno);
		return -errno;
	}
	*mem = p;
	*len = st.st_size;
	return 0;
}

int bublk_shmem_add_file(struct bublk_dev *dev, const char *path, bool readonly,
			 char *err, size_t errlen)
{
	const char *why = "";
	size_t len = 0;
	void *p = NULL;
	int fd, idx, ret;

	fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "--htlb %s: %s", path, strerror(errno));
		return -errno;
	}
	ret = map_shared(fd, readonly, &p, &len, &why);
	close(fd);
	if (ret) {
		snprintf(err, errlen, "--htlb %s: %s (create it first, e.g. fallocate -l 4M on hugetlbfs)",
			 path, why);
		return -EINVAL;
	}
	idx = bublk_shmem_register(dev, p, len, readonly, -1);
	if (idx < 0) {
		munmap(p, len);
		snprintf(err, errlen, "dev %u: REG_BUF of %s (%zu bytes): %s", dev->info.dev_id, path,
			 len, strerror(-idx));
		return idx;
	}
	bublk_log("dev %u: registered %s (%zu bytes%s) as shared buffer %d", dev->info.dev_id, path,
		  len, readonly ? ", read-only" : "", idx);
	return 0;
}

int bublk_shmem_recv(int conn, void **mem, size_t *len, const char **why)
{
	char data[64], cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fd = -1, nfds = 0, ret = -EINVAL;

	*why = "no file descriptor in the message";
	if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) < 0) {
		*why = "nothing received";
		return -errno;
	}
	/* every descriptor that arrived is ours to close, whatever happens */
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (nfds++ == 0)
				fd = f;
			else
				close(f);
		}
	}
	if (nfds > 1 || (msg.msg_flags & MSG_CTRUNC)) {
		*why = "more file descriptors than one";
		goto out;
	}
	if (fd < 0)
		goto out;
	/* a memfd answers F_GET_SEALS; any other file does not */
	if (fcntl(fd, F_GET_SEALS) < 0) {
		*why = "not a memfd";
		goto out;
	}
	ret = map_shared(fd, false, mem, len, why);
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* one client message: exactly one fd, which must be a usable memfd */
static int accept_memfd(struct bublk_dev *dev, int conn)
{
	const char *why = "";
	size_t len = 0;
	void *p = NULL;
	int idx;

	idx = bublk_shmem_recv(conn, &p, &len, &why);
	if (idx)
		goto refuse;
	idx = bublk_shmem_register(dev, p, len, false, conn);
	if (idx < 0) {
		munmap(p, len);
		why = strerror(-idx);
		goto refuse;
	}
	bublk_log("dev %u: client memfd (%zu bytes) registered as shared buffer %d",
		  dev->info.dev_id, len, idx);
	return idx;
refuse:
	bublk_log("dev %u: %s: refused a client's buffer: %s", dev->info.dev_id, dev->shmem.path, why);
	return idx;
}

static void *listen_thread(void *arg)
{
	struct bublk_dev *dev = arg;
	struct bublk_shmem *s = &dev->shmem;
	struct pollfd p[2 + SHMEM_MAX_CONNS];
	int conns[SHMEM_MAX_CONNS], nconns = 0;

	for (;;) {
		int n = 0;

		p[n++] = (struct pollfd){ .fd = s->stop_pipe[0], .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = s->listen_fd,
					  .events = nconns < SHMEM_MAX_CONNS ? POLLIN : 0 };
		for (int i = 0; i < nconns; i++)
			p[n++] = (struct pollfd){ .fd = conns[i], .events = POLLIN | POLLRDHUP };
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		/* a client gone: its buffer goes with it */
		for (int i = nconns - 1; i >= 0; i--) {
			char junk[64];

			if (!p[2 + i].revents)
				continue;
			if (!(p[2 + i].revents & (POLLHUP | POLLRDHUP | POLLERR)) &&
			    recv(conns[i], junk, sizeof(junk), MSG_DONTWAIT) > 0)
				continue;	/* chatter after the memfd: ignored */
			for (int b = 0; b < BUBLK_SHMEM_MAX_BUFS; b++)
				if (s->bufs[b].base && s->bufs[b].conn_fd == conns[i])
					bublk_shmem_unregister(dev, b);
			close(conns[i]);
			conns[i] = conns[--nconns];
		}
		if (p[1].revents & POLLIN) {
			struct timeval tv = { .tv_sec = 2 };
			int conn = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			__s32 answer;

			if (conn < 0)
				continue;
			setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			answer = accept_memfd(dev, conn);
			if (write(conn, &answer, sizeof(answer)) != sizeof(answer) || answer < 0) {
				if (answer >= 0)
					bublk_shmem_unregister(dev, answer);
				close(conn);
				continue;
			}
			conns[nconns++] = conn;
		}
	}
	for (int i = 0; i < nconns; i++)
		close(conns[i]);
	return NULL;
}

int bublk_shmem_listen(struct bublk_dev *dev, char *err, size_t errlen)
{
	struct bublk_shmem *s = &dev->shmem;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ret;

	mkdir(SHMEM_SOCK_DIR, 0755);
	snprintf(s->path, sizeof(s->path), SHMEM_SOCK_DIR "/ublkb%u.sock", dev->info.dev_id);
	memcpy(sa.sun_path, s->path, sizeof(sa.sun_path));
	if (pipe2(s->stop_pipe, O_CLOEXEC))
		goto fail;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		goto fail;
	unlink(s->path);
	/* only root (and the daemon's user) may hand the daemon memory */
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(s->path, 0600) ||
	    listen(s->listen_fd, 8))
		goto fail;
	ret = pthread_create(&s->thread, NULL, listen_thread, dev);
	if (ret) {
		errno = ret;
		goto fail;
	}
	s->running = true;
	return 0;
fail:
	ret = -errno;
	snprintf(err, errlen, "dev %u: shared-memory socket %s: %s", dev->info.dev_id, s->path,
		 strerror(errno));
	return ret;
}

void bublk_shmem_release(struct bublk_dev *dev)
{
	struct bublk_shmem *s = &dev->shmem;

	if (s->running) {
		if (write(s->stop_pipe[1], "x", 1) < 0)
			bublk_log("shmem: stop: %s", strerror(errno));
		pthread_join(s->thread, NULL);
		s->running = false;
	}
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->path);
		s->listen_fd = -1;
	}
	for (int i = 0; i < 2; i++) {
		if (s->stop_pipe[i] >= 0)
			close(s->stop_pipe[i]);
		s->stop_pipe[i] = -1;
	}
	for (int b = 0; b < BUBLK_SHMEM_MAX_BUFS; b++)
		if (s->bufs[b].base)
			bublk_shmem_unregister(dev, b);
}

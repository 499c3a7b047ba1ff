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
 * What a client may do is bounded (docs/shared-memory.md): only root or
 * the daemon's user may connect; a memfd must be sealed against shrinking
 * (F_SEAL_SHRINK), because the daemon itself reads and writes the mapping
 * and a truncation under an in-flight request would kill it with SIGBUS;
 * at most BUBLK_SHMEM_MAX_PER_CLIENT buffers per client process and
 * BUBLK_SHMEM_MAX_CLIENT_BYTES of client memory in all are registered at once;
 * a client that connects and sends nothing is dropped after
 * SHMEM_WAIT_MS without delaying anyone else.
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
#include <unistd.h>

#include "dev.h"
#include "log.h"
#include "rundir.h"
#include "shmem.h"

#define SHMEM_SOCK_DIR		"/run/ublk"
#define SHMEM_MAX_CONNS		64		/* connections at once */
#define SHMEM_WAIT_MS		2000		/* for a connected client's memfd */

void bublk_shmem_init(struct bublk_shmem *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	bublk_listener_init(&s->listener);
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

/*
 * The daemon touches an --htlb file's pages itself (e.g. ZERO_FILL), so a
 * truncation while a request is in flight would kill it with SIGBUS.
 * hugetlbfs files cannot be sealed (F_SEAL_SHRINK works on memfds only),
 * so accept a file only if nobody but root or the daemon's user can
 * truncate it: sealed, or owned by one of them and writable by nobody else.
 */
static int htlb_untruncatable(int fd, const char *path, char *err, size_t errlen)
{
	int seals = fcntl(fd, F_GET_SEALS);
	struct stat st;

	if (seals >= 0 && (seals & F_SEAL_SHRINK))
		return 0;
	if (fstat(fd, &st)) {
		snprintf(err, errlen, "--htlb %s: %s", path, strerror(errno));
		return -errno;
	}
	if ((st.st_uid == 0 || st.st_uid == geteuid()) && !(st.st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	snprintf(err, errlen, "--htlb %s: owned by uid %u with mode %04o: whoever can write it can truncate it under an in-flight request; make it root's and writable by root only (chown root; chmod go-w)",
		 path, (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 07777));
	return -EPERM;
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
	ret = htlb_untruncatable(fd, path, err, errlen);
	if (ret) {
		close(fd);
		return ret;
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
	int fd = -1, nfds = 0, ret = -EINVAL, seals;

	*why = "no file descriptor in the message";
	/* called when the socket is readable: never wait for a slow client */
	if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) < 0) {
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
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0) {
		*why = "not a memfd";
		goto out;
	}
	/*
	 * Checked before the size is read: once sealed, the memfd cannot
	 * shrink under our mapping (SIGBUS in the daemon). Growing is fine.
	 */
	if (!(seals & F_SEAL_SHRINK)) {
		*why = "the memfd is not sealed against shrinking: create it with MFD_ALLOW_SEALING and add F_SEAL_SHRINK (bublk_shmem_share does)";
		ret = -EPERM;
		goto out;
	}
	ret = map_shared(fd, false, mem, len, why);
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

int bublk_shmem_limits(unsigned int client_bufs, unsigned long long total, size_t len,
		       const char **why)
{
	if (client_bufs >= BUBLK_SHMEM_MAX_PER_CLIENT) {
		*why = "this client process already holds the most buffers one may (16)";
		return -ENOSPC;
	}
	if (total > BUBLK_SHMEM_MAX_CLIENT_BYTES || len > BUBLK_SHMEM_MAX_CLIENT_BYTES - total) {
		*why = "the clients' buffers would exceed 4 GiB in all: close some first";
		return -ENOSPC;
	}
	return 0;
}

/* a connection: waiting for its memfd (idx < 0), or owning buffer idx */
struct shmem_conn {
	struct bublk_client	c;	/* c.deadline: while waiting */
	int			idx;
	size_t			len;
};

/*
 * One client message: exactly one fd, a sealed memfd, within the limits.
 * The buffer index, or -errno with the reason logged.
 */
static int accept_memfd(struct bublk_dev *dev, struct shmem_conn *conns, int nconns,
			struct shmem_conn *k)
{
	unsigned long long total = 0;
	const char *why = "";
	size_t len = 0;
	void *p = NULL;
	int idx, mine = 0;

	idx = bublk_shmem_recv(k->c.fd, &p, &len, &why);
	if (idx)
		goto refuse;
	for (int i = 0; i < nconns; i++) {
		if (conns[i].idx < 0)
			continue;
		total += conns[i].len;
		mine += conns[i].c.pid == k->c.pid;
	}
	idx = bublk_shmem_limits(mine, total, len, &why);
	if (!idx) {
		idx = bublk_shmem_register(dev, p, len, false, k->c.fd);
		why = idx < 0 ? strerror(-idx) : "";
	}
	if (idx < 0) {
		munmap(p, len);
		goto refuse;
	}
	k->len = len;
	bublk_log("dev %u: client memfd (%zu bytes, pid %d) registered as shared buffer %d",
		  dev->info.dev_id, len, (int)k->c.pid, idx);
	return idx;
refuse:
	bublk_log("dev %u: %s: refused a buffer from pid %d: %s", dev->info.dev_id,
		  dev->shmem.listener.path, (int)k->c.pid, why);
	return idx;
}

/* the answer: an int32, never a SIGPIPE if the client is gone already */
static bool answer(int fd, __s32 v)
{
	return bublk_listener_send(fd, &v, sizeof(v)) == sizeof(v);
}

static void conn_drop(struct bublk_dev *dev, struct shmem_conn *conns, int *nconns, int i)
{
	if (conns[i].idx >= 0)
		bublk_shmem_unregister(dev, conns[i].idx);
	close(conns[i].c.fd);
	conns[i] = conns[--*nconns];
}

static void *listen_thread(void *arg)
{
	struct bublk_dev *dev = arg;
	struct bublk_shmem *s = &dev->shmem;
	struct shmem_conn conns[SHMEM_MAX_CONNS];
	int nconns = 0;

	for (;;) {
		bool incoming, allowed;
		long long now;
		pid_t pid;
		int fd;

		if (bublk_listener_wait_for(&s->listener, conns, c, nconns, SHMEM_MAX_CONNS,
					    POLLIN | POLLRDHUP, &incoming, &now))
			break;
		/*
		 * Clients gone first: their buffers go with them, and must not
		 * count against the limits of what arrives in the same round.
		 */
		for (int i = nconns - 1; i >= 0; i--) {
			struct shmem_conn *k = &conns[i];
			char junk[64];

			if (k->idx < 0 || !k->c.revents)
				continue;
			if (!(k->c.revents & (POLLHUP | POLLRDHUP | POLLERR)) &&
			    recv(k->c.fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
				continue;	/* chatter after the memfd: ignored */
			conn_drop(dev, conns, &nconns, i);
		}
		/* then those waiting for their memfd: it came, or time is up */
		for (int i = nconns - 1; i >= 0; i--) {
			struct shmem_conn *k = &conns[i];

			if (k->idx >= 0)
				continue;
			if (k->c.revents) {
				int idx = accept_memfd(dev, conns, nconns, k);

				if (answer(k->c.fd, idx) && idx >= 0) {
					k->idx = idx;
					k->c.deadline = 0;	/* served: no more waiting */
					continue;
				}
				if (idx >= 0) {
					bublk_log("dev %u: client pid %d gone before its answer: buffer %d released",
						  dev->info.dev_id, (int)k->c.pid, idx);
					bublk_shmem_unregister(dev, idx);
				}
			} else if (now < k->c.deadline) {
				continue;
			} else {
				bublk_log("dev %u: %s: client pid %d sent no memfd within 2 s: dropped",
					  dev->info.dev_id, s->listener.path, (int)k->c.pid);
				answer(k->c.fd, -ETIMEDOUT);
			}
			conn_drop(dev, conns, &nconns, i);
		}
		if (!incoming)
			continue;
		fd = bublk_listener_accept(&s->listener, &pid, &allowed);
		if (fd < 0)
			continue;
		if (!allowed) {
			bublk_log("dev %u: %s: refused pid %d: only root or the daemon's user may share memory",
				  dev->info.dev_id, s->listener.path, (int)pid);
			answer(fd, -EPERM);
			close(fd);
			continue;
		}
		conns[nconns++] = (struct shmem_conn){
			.c = { .fd = fd, .pid = pid, .deadline = now + SHMEM_WAIT_MS }, .idx = -1 };
	}
	for (int i = 0; i < nconns; i++)
		close(conns[i].c.fd);
	return NULL;
}

int bublk_shmem_listen(struct bublk_dev *dev, char *err, size_t errlen)
{
	struct bublk_shmem *s = &dev->shmem;
	char path[sizeof(s->listener.path)];
	int ret;

	/* root's clients send their memory to whatever listens here */
	ret = bublk_dir_trusted(SHMEM_SOCK_DIR, true, 0755, err, errlen);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), SHMEM_SOCK_DIR "/ublkb%u.sock", dev->info.dev_id);
	ret = bublk_listener_open(&s->listener, path, 8, listen_thread, dev);
	if (ret)
		snprintf(err, errlen, "dev %u: shared-memory socket %s: %s", dev->info.dev_id, path,
			 strerror(-ret));
	return ret;
}

void bublk_shmem_release(struct bublk_dev *dev)
{
	struct bublk_shmem *s = &dev->shmem;

	bublk_listener_close(&s->listener);
	for (int b = 0; b < BUBLK_SHMEM_MAX_BUFS; b++)
		if (s->bufs[b].base)
			bublk_shmem_unregister(dev, b);
}

// SPDX-License-Identifier: MIT
/* The client side of the shared-memory socket (include/bublk/client.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/types.h>

#include <bublk/client.h>

int bublk_shmem_memfd(const char *name, size_t bytes)
{
	int fd = memfd_create(name ? name : "bublk-shmem", MFD_CLOEXEC | MFD_ALLOW_SEALING), ret;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, bytes) || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* the daemon refuses a memfd that could shrink under its mapping: seal it */
static int seal_shrink(int memfd)
{
	int seals = fcntl(memfd, F_GET_SEALS);

	if (seals < 0)
		return -errno;		/* not a memfd: the daemon says so too */
	if (seals & F_SEAL_SHRINK)
		return 0;
	/* EPERM: created without MFD_ALLOW_SEALING (F_SEAL_SEAL is set) */
	return fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) ? -errno : 0;
}

int bublk_shmem_share(unsigned int dev_id, int memfd, int *index)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char byte = 0, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct cmsghdr *c;
	__s32 answer;
	int fd, ret;

	ret = seal_shrink(memfd);
	if (ret && ret != -EINVAL)
		return ret;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/run/ublk/ublkb%u.sock", dev_id);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto fail;
	/* our memory goes only to root's daemon (or one of our own user's) */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen))
		goto fail;
	if (cred.uid != 0 && cred.uid != getuid()) {
		close(fd);
		return -EACCES;
	}
	memset(cbuf, 0, sizeof(cbuf));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &memfd, sizeof(int));
	/* MSG_NOSIGNAL: a daemon that went away is an error here, not SIGPIPE */
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) != 1)
		goto fail;
	ret = read(fd, &answer, sizeof(answer));
	if (ret != sizeof(answer)) {
		errno = ret < 0 ? errno : EPROTO;
		goto fail;
	}
	if (answer < 0) {
		close(fd);
		return answer;
	}
	*index = answer;
	return fd;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

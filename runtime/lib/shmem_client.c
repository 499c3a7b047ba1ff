// SPDX-License-Identifier: MIT
/* The client side of the shared-memory socket (include/bublk/client.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/types.h>

#include <bublk/client.h>

int bublk_shmem_share(unsigned int dev_id, int memfd, int *index)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char byte = 0, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	__s32 answer;
	int fd, ret;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/run/ublk/ublkb%u.sock", dev_id);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto fail;
	memset(cbuf, 0, sizeof(cbuf));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &memfd, sizeof(int));
	if (sendmsg(fd, &msg, 0) != 1)
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

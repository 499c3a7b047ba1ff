// SPDX-License-Identifier: MIT
/*
 * Fuzz what a client can send on a device's shared-memory socket
 * (runtime/lib/shmem.c, bublk_shmem_recv): any payload with zero to three
 * descriptors of any kind (memfds of any size, a regular file, a pipe).
 * An accepted message must be exactly one memfd, sealed against shrinking
 * (F_SEAL_SHRINK), of a non-zero, page-aligned size of at most
 * BUBLK_SHMEM_MAX_BYTES, mapped; every descriptor received
 * must be closed whatever the verdict (no fd leak across inputs).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shmem.h"

static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/*
 * a descriptor of kind k (0..3) and, for memfds, size from the input:
 * 0 a memfd sealed against shrinking (as bublk_shmem_memfd makes them),
 * 1 a memfd a client could still truncate under the daemon's mapping
 */
static int make_fd(uint8_t kind, uint64_t size)
{
	int fd, p[2];

	switch (kind & 3) {
	case 0:
	case 1:
		fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0)
			return fd;
		/* sizes up to 8 GiB + change: sparse, nothing is touched */
		if (ftruncate(fd, size % ((8ULL << 30) + 8193)))
			;
		if (!(kind & 1) && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK))
			abort();
		return fd;
	case 2:
		return open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	default:
		if (pipe2(p, O_CLOEXEC))
			return -1;
		close(p[1]);
		return p[0];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char cbuf[CMSG_SPACE(3 * sizeof(int))];
	int sv[2], fds[3], nfds, before, after, ret;
	struct msghdr msg = { 0 };
	struct iovec iov;
	const char *why = "";
	size_t len = 0;
	void *mem = NULL;

	if (size < 1 + 3 * 9)
		return 0;
	nfds = data[0] % 4;
	before = open_fds();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 0;
	for (int i = 0; i < nfds; i++) {
		uint64_t sz;

		memcpy(&sz, data + 2 + i * 9, sizeof(sz));
		fds[i] = make_fd(data[1 + i * 9], sz);
	}
	/* the payload: whatever follows, at least one byte (a stream socket) */
	iov.iov_base = (void *)(data + 28);
	iov.iov_len = size - 28 ? size - 28 : 1;
	if (size == 28)
		iov.iov_base = (void *)data;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	if (sendmsg(sv[1], &msg, MSG_DONTWAIT) < 0)
		goto out;
	ret = bublk_shmem_recv(sv[0], &mem, &len, &why);
	if (!ret) {
		/* accepted: one memfd sealed against shrinking, sane size, really mapped */
		if (nfds != 1 || (data[1] & 3) != 0 || !len || len % sysconf(_SC_PAGESIZE) ||
		    len > BUBLK_SHMEM_MAX_BYTES || !mem)
			__builtin_trap();
		munmap(mem, len);
	} else if (!why || !*why) {
		__builtin_trap();	/* every refusal says why */
	}
out:
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	close(sv[0]);
	close(sv[1]);
	after = open_fds();
	if (after != before)
		__builtin_trap();	/* a received descriptor was not closed */
	return 0;
}

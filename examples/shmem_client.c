// SPDX-License-Identifier: MIT
/*
 * shmem_client: zero-copy I/O to a bublk device created with --shmem-zc.
 *
 * It allocates its I/O buffers in a memfd, hands the memfd to the device's
 * daemon (bublk_shmem_share), then writes and reads the device with
 * O_DIRECT from that memory: the daemon reads and writes the same pages,
 * nothing is copied. It checks every byte read back, then does the same
 * with ordinary (malloc'd) buffers, which the device serves by copying,
 * and with vectored I/O whose halves lie in two different shared memfds
 * (zero copy only where the driver has bublk's scatter/gather hook).
 *
 *   shmem_client DEV_ID [MIB]      (default: 4 MiB of I/O each way)
 *
 * Build: cc shmem_client.c $(pkg-config --cflags --libs bublk) -o shmem_client
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <bublk/client.h>

#define CHUNK	(64 << 10)	/* bytes per request */

static int roundtrip(int dev, char *wbuf, char *rbuf, size_t bytes, unsigned int seed)
{
	for (size_t off = 0; off < bytes; off += CHUNK) {
		for (size_t i = 0; i < CHUNK; i++)
			wbuf[i] = (char)(seed * 131 + off / 512 + i * 7);
		if (pwrite(dev, wbuf, CHUNK, off) != CHUNK) {
			perror("pwrite");
			return -1;
		}
		memset(rbuf, 0, CHUNK);
		if (pread(dev, rbuf, CHUNK, off) != CHUNK) {
			perror("pread");
			return -1;
		}
		if (memcmp(wbuf, rbuf, CHUNK)) {
			fprintf(stderr, "data read back at %zu differs from what was written\n", off);
			return -1;
		}
	}
	return 0;
}

/* each request: its first half from memfd a, its second from memfd b */
static int roundtrip_vectored(int dev, char *a, char *b, size_t bytes)
{
	struct iovec w[2] = { { a, CHUNK / 2 }, { b, CHUNK / 2 } };
	struct iovec r[2] = { { a + CHUNK, CHUNK / 2 }, { b + CHUNK, CHUNK / 2 } };

	for (size_t off = 0; off < bytes; off += CHUNK) {
		for (size_t i = 0; i < CHUNK / 2; i++) {
			a[i] = (char)(off / 512 + i * 3);
			b[i] = (char)(off / 512 + i * 5 + 1);
		}
		if (pwritev(dev, w, 2, off) != CHUNK || preadv(dev, r, 2, off) != CHUNK) {
			perror("pwritev/preadv");
			return -1;
		}
		if (memcmp(a, a + CHUNK, CHUNK / 2) || memcmp(b, b + CHUNK, CHUNK / 2)) {
			fprintf(stderr, "vectored data read back at %zu differs\n", off);
			return -1;
		}
	}
	return 0;
}

/*
 * A memfd of bytes, mapped, shared with the daemon: the connection, or -1.
 * The daemon accepts only a memfd sealed against shrinking (a truncation
 * under its mapping would kill it), hence MFD_ALLOW_SEALING and
 * F_SEAL_SHRINK; bublk_shmem_memfd() does the same in one call.
 */
static int shared_memfd(const char *dev_id, size_t bytes, char **mem, int *index)
{
	int memfd = memfd_create("bublk-client", MFD_CLOEXEC | MFD_ALLOW_SEALING), conn;

	if (memfd < 0 || ftruncate(memfd, bytes) || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		perror("memfd");
		return -1;
	}
	*mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (*mem == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	conn = bublk_shmem_share(atoi(dev_id), memfd, index);
	close(memfd);	/* our mapping and the daemon's keep the memory */
	if (conn < 0)
		fprintf(stderr, "sharing a memfd with the daemon of /dev/ublkb%s: %s\n", dev_id,
			strerror(-conn));
	return conn;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 2 ? strtoul(argv[2], NULL, 0) : 4, bytes = mib << 20;
	char path[64], *mem, *mem2, *plain;
	int conn, conn2, dev, index, index2;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DEV_ID [MIB]\n", argv[0]);
		return 2;
	}
	/* the I/O buffers live in memfds the daemon maps too */
	conn = shared_memfd(argv[1], 2 * CHUNK, &mem, &index);
	conn2 = shared_memfd(argv[1], 2 * CHUNK, &mem2, &index2);
	if (conn < 0 || conn2 < 0)
		return 1;
	snprintf(path, sizeof(path), "/dev/ublkb%s", argv[1]);
	dev = open(path, O_RDWR | O_DIRECT);
	if (dev < 0) {
		perror(path);
		return 1;
	}
	if (roundtrip(dev, mem, mem + CHUNK, bytes, 1))
		return 1;
	/* ordinary memory: still correct, served by copying */
	if (posix_memalign((void **)&plain, 4096, 2 * CHUNK) ||
	    roundtrip(dev, plain, plain + CHUNK, bytes, 2))
		return 1;
	/* vectored: each request scattered over both shared buffers */
	if (roundtrip_vectored(dev, mem, mem2, bytes))
		return 1;
	printf("ok: %zu MiB written and read back from shared buffer %d, from ordinary memory, and vectored over buffers %d and %d\n",
	       mib, index, index, index2);
	close(dev);
	close(conn);	/* the daemon unregisters the buffers */
	close(conn2);
	return 0;
}

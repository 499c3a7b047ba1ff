// SPDX-License-Identifier: MIT
/* Backing files and block devices; NBD exports are backend_nbd.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>
#include <linux/fs.h>

#include "backend_nbd.h"
#include "dev.h"

/*
 * A limit of a block device's queue, as its sysfs queue directory says it
 * (a partition's queue is its disk's, one directory up); 0 when unknown.
 * Zero copy hands the client's pages straight to it, so the ublk device
 * asks the same of its clients (dev_start.c): the memory alignment its
 * O_DIRECT I/O needs (dma_alignment), and how it can take them in one
 * request (max_segments, max_segment_size).
 */
static __u32 blockdev_limit(dev_t rdev, const char *name)
{
	static const char *const where[] = { "queue", "../queue" };
	char path[128];
	unsigned long long v;

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		FILE *f;
		int n;

		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s/%s",
			 major(rdev), minor(rdev), where[i], name);
		f = fopen(path, "re");
		if (!f)
			continue;
		n = fscanf(f, "%llu", &v);
		fclose(f);
		if (n == 1)
			return v > 0xffffffffULL ? 0xffffffffU : (__u32)v;
	}
	return 0;
}

int bublk_backend_open(struct bublk_backend *b, const char *path, bool readonly,
		       char *err, size_t errlen)
{
	struct stat st;
	int ret, fl;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	snprintf(b->path, sizeof(b->path), "%s", path);
	b->readonly = readonly;
	if (bublk_nbd_is_url(path))
		return bublk_nbd_backend_open(b, path, readonly, err, errlen);
	/*
	 * O_NONBLOCK: opening a FIFO read-only would wait for a writer, with
	 * the stop signals already blocked. Anything but a regular file or a
	 * block device is refused below; O_NONBLOCK is cleared for the rest.
	 */
	b->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
	if (b->fd < 0) {
		ret = -errno;
		if (errno == EACCES || errno == EROFS || errno == EPERM)
			snprintf(err, errlen, "backing file %s: %s (open it read-only with --readonly)",
				 path, strerror(errno));
		else
			snprintf(err, errlen, "backing file %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(b->fd, &st)) {
		ret = -errno;
		snprintf(err, errlen, "backing file %s: stat: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(err, errlen, "backing file %s: not a regular file or block device", path);
		goto fail;
	}
	fl = fcntl(b->fd, F_GETFL);
	if (fl < 0 || fcntl(b->fd, F_SETFL, fl & ~O_NONBLOCK)) {
		ret = -errno;
		snprintf(err, errlen, "backing file %s: fcntl: %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		unsigned long long bytes;

		if (ioctl(b->fd, BLKGETSIZE64, &bytes)) {
			ret = -errno;
			snprintf(err, errlen, "backing device %s: BLKGETSIZE64: %s", path, strerror(errno));
			goto fail;
		}
		b->size = bytes;
		/*
		 * Block devices are driven with O_DIRECT: a write must fail when
		 * the device fails it (a mirror leg), not later in writeback.
		 * Our buffers are page aligned and requests sector aligned.
		 */
		fl = fcntl(b->fd, F_GETFL);
		if (fl >= 0 && !fcntl(b->fd, F_SETFL, fl | O_DIRECT)) {
			b->direct = true;
			b->dma_align = blockdev_limit(st.st_rdev, "dma_alignment");
			b->max_segments = blockdev_limit(st.st_rdev, "max_segments");
			b->max_segment_size = blockdev_limit(st.st_rdev, "max_segment_size");
		}
	} else {
		struct statfs fs;

		b->size = st.st_size;
		/*
		 * tmpfs punches holes but cannot zero a range in place: there
		 * WRITE_ZEROES punches (the range reads as zeros either way).
		 * Other filesystems that lack it are found at the first attempt.
		 */
		if (!fstatfs(b->fd, &fs) && fs.f_type == TMPFS_MAGIC)
			b->zero_by_punch = true;
	}
	return 0;
fail:
	close(b->fd);
	b->fd = -1;
	return ret;
}

void bublk_backend_close(struct bublk_backend *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

// SPDX-License-Identifier: MIT
/*
 * The parts of a device's start that dev.c's create and recover share:
 * each queue's place in the BPF arena, the device parameters, and the
 * queues themselves once /dev/ublkcN exists.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev.h"
#include "queue.h"
#include "util.h"

/* arena bytes one queue needs: request slots, tag lists, descriptors, scratch */
size_t bublk_queue_arena_bytes(int depth, __u32 max_segs)
{
	return PAGE_ALIGN(depth * sizeof(struct bublk_req)) +
	       2 * PAGE_ALIGN(depth * sizeof(__u16)) +
	       PAGE_ALIGN((size_t)depth * max_segs * sizeof(struct bublk_seg)) +
	       (size_t)depth * BUBLK_SCRATCH_SIZE;
}

static void queue_place_arena(struct bublk_dev *dev, struct bublk_queue *q, int q_id)
{
	int depth = dev->info.queue_depth;
	char *p = (char *)dev->target.arena + q_id * bublk_queue_arena_bytes(depth, dev->max_segs);

	/* all of it writable by the target: see struct bublk_queue */
	q->reqs = (struct bublk_req *)p;
	p += PAGE_ALIGN(depth * sizeof(struct bublk_req));
	q->tags = (__u16 *)p;
	p += PAGE_ALIGN(depth * sizeof(__u16));
	q->done_tags = (__u16 *)p;
	p += PAGE_ALIGN(depth * sizeof(__u16));
	q->segs = (struct bublk_seg *)p;
	p += PAGE_ALIGN((size_t)depth * dev->max_segs * sizeof(struct bublk_seg));
	q->scratch = (__u8 *)p;
	q->stats = &dev->target.stats[q_id];
	q->trace = &dev->target.trace[q_id * BUBLK_TRACE_PER_QUEUE];
}

int bublk_wait_for_node(const char *path)
{
	struct stat st;

	/* udev (or devtmpfs) may take a moment to create the node */
	for (int i = 0; i < 500; i++) {
		if (!stat(path, &st))
			return 0;
		usleep(10000);
	}
	return -ENOENT;
}

int bublk_dev_set_params(struct bublk_dev *dev, bool readonly)
{
	struct ublk_params p;
	unsigned int lbs_shift = dev->block_size == 4096 ? 12 : 9;

	memset(&p, 0, sizeof(p));
	p.types = UBLK_PARAM_TYPE_BASIC;
	/* only the types we set: older kernels know fewer */
	p.len = offsetof(struct ublk_params, devt);
	/* the backends are page-cached files: a volatile cache that FLUSH and FUA reach */
	p.basic.attrs = UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA |
			(readonly ? UBLK_ATTR_READ_ONLY : 0) |
			(dev->attrs & BUBLK_DEV_ROTATIONAL ? UBLK_ATTR_ROTATIONAL : 0);
	p.basic.logical_bs_shift = lbs_shift;
	p.basic.physical_bs_shift = 12;
	p.basic.io_opt_shift = 12;
	p.basic.io_min_shift = lbs_shift;
	p.basic.max_sectors = dev->max_io_bytes >> 9;
	p.basic.dev_sectors = dev->size >> 9;
	/*
	 * Zero copy hands the client's pages to the backends as they are: an
	 * O_DIRECT block device that needs more alignment than ublk's default
	 * (4 bytes) would fail such a request with EINVAL half way through.
	 * Asking it of the client instead, the kernel refuses a misaligned
	 * O_DIRECT buffer up front (EINVAL) and realigns its own I/O. In the
	 * same way the block layer builds requests the backend takes whole:
	 * no more segments, nor longer ones, than its queue allows (ublk's
	 * defaults are 65535 and 4 GiB; a kernel loop device takes 128 of at
	 * most 64 KiB). Kernels with zero copy (6.15+) all know both
	 * parameters (6.14+).
	 */
	if (dev->info.flags & (UBLK_F_AUTO_BUF_REG | UBLK_F_SUPPORT_ZERO_COPY)) {
		__u32 mask = 0, segs = 0xffff, seg_size = 0xffffffffU;

		for (int i = 0; i < dev->nr_backends; i++) {
			const struct bublk_backend *b = &dev->backends[i];

			if (b->dma_align > mask)
				mask = b->dma_align;
			if (b->max_segments && b->max_segments < segs)
				segs = b->max_segments;
			/* the driver's floor is one page */
			if (b->max_segment_size >= BUBLK_PAGE_SIZE && b->max_segment_size < seg_size)
				seg_size = b->max_segment_size;
		}
		if (mask > 3 && mask < BUBLK_PAGE_SIZE) {
			p.types |= UBLK_PARAM_TYPE_DMA_ALIGN;
			p.dma.alignment = mask;
			p.len = offsetof(struct ublk_params, seg);
		}
		if (segs < 0xffff || seg_size < 0xffffffffU) {
			p.types |= UBLK_PARAM_TYPE_SEGMENT;
			/* sysfs does not show a backend's: the block layer's default */
			p.seg.seg_boundary_mask = 0xffffffffULL;
			p.seg.max_segment_size = seg_size;
			p.seg.max_segments = segs;
			p.len = sizeof(p);	/* seg is its last member */
		}
	}
	if (readonly || (dev->attrs & BUBLK_DEV_NO_DISCARD && dev->attrs & BUBLK_DEV_NO_WRITE_ZEROES))
		return bublk_ctrl_set_params(&dev->ctrl, dev->info.dev_id, &p);
	/*
	 * Hole punching works in whole pages of the backing file. A discard is
	 * capped like any request, so a target's split of it fits in
	 * BUBLK_MAX_SEGS just as a read or write of max_io_bytes does.
	 */
	p.types |= UBLK_PARAM_TYPE_DISCARD;
	p.discard.discard_granularity = BUBLK_PAGE_SIZE;
	p.discard.max_discard_segments = 1;
	if (!(dev->attrs & BUBLK_DEV_NO_DISCARD))
		p.discard.max_discard_sectors = dev->max_io_bytes >> 9;
	if (!(dev->attrs & BUBLK_DEV_NO_WRITE_ZEROES))
		p.discard.max_write_zeroes_sectors = dev->max_io_bytes >> 9;
	return bublk_ctrl_set_params(&dev->ctrl, dev->info.dev_id, &p);
}

/* once the kernel device exists: open ublkcN, run the queues */
int bublk_dev_start_queues(struct bublk_dev *dev, char *err, size_t errlen)
{
	char cpath[64];
	int ret;

	snprintf(cpath, sizeof(cpath), "/dev/ublkc%u", dev->info.dev_id);
	if (bublk_wait_for_node(cpath) || (dev->cdev_fd = open(cpath, O_RDWR | O_CLOEXEC)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "dev %u: opening %s: %s", dev->info.dev_id, cpath, strerror(errno));
		return ret;
	}
	dev->queues = calloc(dev->info.nr_hw_queues, sizeof(*dev->queues));
	if (!dev->queues) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < dev->info.nr_hw_queues; i++) {
		queue_place_arena(dev, &dev->queues[i], i);
		/* run each queue on the CPUs the kernel maps to it */
		if (bublk_ctrl_get_queue_affinity(&dev->ctrl, dev->info.dev_id, i,
						  &dev->queues[i].cpus))
			CPU_ZERO(&dev->queues[i].cpus);
		dev->nr_queues_started++;
		ret = bublk_queue_start(dev, &dev->queues[i], i);
		if (ret) {
			snprintf(err, errlen, "dev %u: starting queue %d: %s", dev->info.dev_id, i,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

// SPDX-License-Identifier: MIT
/* Device lifecycle: everything between "bublk add" and the device going away. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev.h"
#include "log.h"

static size_t page_align(size_t n)
{
	return (n + BUBLK_PAGE_SIZE - 1) & ~((size_t)BUBLK_PAGE_SIZE - 1);
}

/* arena bytes one queue needs: request slots, tag list, descriptors */
static size_t queue_arena_bytes(int depth, __u32 max_segs)
{
	return page_align(depth * sizeof(struct bublk_req)) +
	       page_align(depth * sizeof(__u16)) +
	       page_align((size_t)depth * max_segs * sizeof(struct bublk_seg));
}

static void queue_place_arena(struct bublk_dev *dev, struct bublk_queue *q, int q_id)
{
	int depth = dev->info.queue_depth;
	char *p = (char *)dev->target.arena + q_id * queue_arena_bytes(depth, dev->max_segs);

	q->reqs = (struct bublk_req *)p;
	p += page_align(depth * sizeof(struct bublk_req));
	q->tags = (__u16 *)p;
	p += page_align(depth * sizeof(__u16));
	q->segs = (struct bublk_seg *)p;
}

static int wait_for_node(const char *path)
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

static int set_params(struct bublk_dev *dev, bool readonly)
{
	struct ublk_params p;

	memset(&p, 0, sizeof(p));
	p.types = UBLK_PARAM_TYPE_BASIC | UBLK_PARAM_TYPE_DISCARD;
	/* only the types we set: older kernels know fewer */
	p.len = offsetof(struct ublk_params, devt);
	p.basic.attrs = UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA | (readonly ? UBLK_ATTR_READ_ONLY : 0);
	p.basic.logical_bs_shift = 9;
	p.basic.physical_bs_shift = 12;
	p.basic.io_opt_shift = 12;
	p.basic.io_min_shift = 9;
	p.basic.max_sectors = dev->info.max_io_buf_bytes >> 9;
	p.basic.dev_sectors = dev->size >> 9;
	p.discard.discard_granularity = BUBLK_PAGE_SIZE;
	p.discard.max_discard_sectors = UINT32_MAX >> 9;
	p.discard.max_write_zeroes_sectors = UINT32_MAX >> 9;
	p.discard.max_discard_segments = 1;
	return bublk_ctrl_set_params(&dev->ctrl, dev->info.dev_id, &p);
}

static int check_opts(const struct bublk_dev_opts *o, char *err, size_t errlen)
{
	if (o->nr_queues < 1 || o->nr_queues > BUBLK_MAX_QUEUES) {
		snprintf(err, errlen, "queues must be 1..%d, not %d", BUBLK_MAX_QUEUES, o->nr_queues);
		return -EINVAL;
	}
	if (o->depth < 1 || o->depth > BUBLK_MAX_BATCH) {
		snprintf(err, errlen, "depth must be 1..%d, not %d", BUBLK_MAX_BATCH, o->depth);
		return -EINVAL;
	}
	if (o->max_io_bytes < BUBLK_PAGE_SIZE || o->max_io_bytes > (1U << UBLK_IO_BUF_BITS) ||
	    o->max_io_bytes % BUBLK_PAGE_SIZE) {
		snprintf(err, errlen, "max I/O size must be a multiple of 4K between 4K and 32M");
		return -EINVAL;
	}
	if (o->nr_files > BUBLK_MAX_BACKENDS) {
		snprintf(err, errlen, "at most %d backing files", BUBLK_MAX_BACKENDS);
		return -E2BIG;
	}
	return 0;
}

/* everything that can fail without the kernel: target object, backends, size */
static int dev_prepare(struct bublk_dev *dev, const struct bublk_dev_opts *o,
		       char *err, size_t errlen)
{
	char path[PATH_MAX];
	int ret;

	memset(dev, 0, sizeof(*dev));
	dev->cdev_fd = -1;
	dev->ctrl.fd = -1;
	for (int i = 0; i < BUBLK_MAX_BACKENDS; i++)
		dev->backends[i].fd = -1;
	ret = check_opts(o, err, errlen);
	if (ret)
		return ret;
	ret = bublk_target_resolve(o->target, path, sizeof(path));
	if (ret) {
		snprintf(err, errlen, "target \"%s\": no such target object (%s); built-in targets: null, loop, stripe",
			 o->target, strerror(-ret));
		return ret;
	}
	ret = bublk_target_open(&dev->target, path, err, errlen);
	if (ret)
		return ret;
	for (int i = 0; i < o->nr_files; i++) {
		ret = bublk_backend_open(&dev->backends[i], o->files[i], o->readonly, err, errlen);
		if (ret)
			return ret;
		dev->nr_backends++;
	}
	dev->readonly = o->readonly;
	dev->size = o->size;	/* 0: the target's bublk_init chooses */
	for (int i = 0; i < o->nr_config; i++) {
		size_t n = strlen(dev->config);

		snprintf(dev->config + n, sizeof(dev->config) - n, "%s%s", n ? ";" : "", o->config[i]);
	}
	dev->max_segs = BUBLK_MAX_SEGS;
	ret = bublk_ctrl_open(&dev->ctrl);
	if (ret) {
		if (ret == -ENOENT)
			snprintf(err, errlen, "/dev/ublk-control does not exist: load the ublk driver (modprobe ublk_drv)");
		else
			snprintf(err, errlen, "opening /dev/ublk-control: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

/*
 * Load the target with the device's shape and options; its bublk_init may
 * refuse the device or, when no size was given, choose it.
 */
static int dev_load_target(struct bublk_dev *dev, const struct bublk_dev_opts *o,
			   char *err, size_t errlen)
{
	struct bublk_dev_info di;
	int ret;

	memset(&di, 0, sizeof(di));
	di.size = dev->size;
	di.dev_id = dev->info.dev_id;
	di.nr_queues = dev->info.nr_hw_queues;
	di.depth = dev->info.queue_depth;
	di.block_size = 512;
	di.nr_backends = dev->nr_backends;
	di.max_io_bytes = dev->info.max_io_buf_bytes;
	for (int i = 0; i < dev->nr_backends; i++)
		di.backend_size[i] = dev->backends[i].size;
	ret = bublk_target_load(&dev->target,
				dev->info.nr_hw_queues *
				queue_arena_bytes(dev->info.queue_depth, dev->max_segs),
				&di, o->config, o->nr_config, err, errlen);
	if (ret)
		return ret;
	ret = bublk_target_read_dev(&dev->target, &di);
	if (ret) {
		snprintf(err, errlen, "reading back map bublk_dev: %s", strerror(-ret));
		return ret;
	}
	dev->size = di.size & ~511ULL;
	if (!dev->size) {
		snprintf(err, errlen, "device size is 0: give --size (target %s chose none; are the backing files empty?)",
			 dev->target.name);
		return -EINVAL;
	}
	/* after bublk_init, so the C twin sees the options it settled */
	if (o->dispatch == BUBLK_DISPATCH_C)
		return bublk_cmap_init(&dev->cmap, &dev->target, err, errlen);
	return 0;
}

/* once the kernel device exists: open ublkcN, run the queues */
static int dev_start_queues(struct bublk_dev *dev, char *err, size_t errlen)
{
	char cpath[64];
	int ret;

	snprintf(cpath, sizeof(cpath), "/dev/ublkc%u", dev->info.dev_id);
	if (wait_for_node(cpath) || (dev->cdev_fd = open(cpath, O_RDWR | O_CLOEXEC)) < 0) {
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

int bublk_dev_create(struct bublk_dev *dev, const struct bublk_dev_opts *o,
		     char *err, size_t errlen)
{
	char bpath[64];
	__u64 want;
	int ret;

	ret = dev_prepare(dev, o, err, errlen);
	if (ret)
		goto fail;

	dev->info.nr_hw_queues = o->nr_queues;
	dev->info.queue_depth = o->depth;
	dev->info.max_io_buf_bytes = o->max_io_bytes;
	dev->info.dev_id = (__u32)-1;
	want = o->data_mode != BUBLK_MODE_COPY ? UBLK_F_USER_COPY : 0;
	if (o->recovery)
		want |= UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE;
	dev->ctrl.legacy = o->legacy;
	dev->info.flags = want | (o->legacy ? 0 : UBLK_F_CMD_IOCTL_ENCODE);
	ret = bublk_ctrl_add_dev(&dev->ctrl, &dev->info);
	if (!o->legacy && (ret == -EINVAL || ret == -EOPNOTSUPP)) {
		/* kernel older than 6.4: no ioctl-encoded opcodes */
		dev->ctrl.legacy = true;
		dev->info.flags = want;
		ret = bublk_ctrl_add_dev(&dev->ctrl, &dev->info);
	}
	if (ret) {
		snprintf(err, errlen, "ADD_DEV: %s", strerror(-ret));
		goto fail;
	}
	dev->added = true;
	/* the kernel silently drops flags it lacks: its answer is the truth */
	if (!(dev->info.flags & UBLK_F_CMD_IOCTL_ENCODE))
		dev->ctrl.legacy = true;
	if (o->data_mode == BUBLK_MODE_USER_COPY && !(dev->info.flags & UBLK_F_USER_COPY)) {
		snprintf(err, errlen, "dev %u: --user-copy: this kernel does not grant UBLK_F_USER_COPY (needs 6.5+); use --copy",
			 dev->info.dev_id);
		ret = -EOPNOTSUPP;
		goto fail;
	}
	if (o->recovery && !(dev->info.flags & UBLK_F_USER_RECOVERY)) {
		snprintf(err, errlen, "dev %u: --recovery: this kernel does not grant UBLK_F_USER_RECOVERY",
			 dev->info.dev_id);
		ret = -EOPNOTSUPP;
		goto fail;
	}

	ret = dev_load_target(dev, o, err, errlen);
	if (ret)
		goto fail;
	ret = set_params(dev, o->readonly);
	if (ret) {
		snprintf(err, errlen, "dev %u SET_PARAMS: %s", dev->info.dev_id, strerror(-ret));
		goto fail;
	}
	ret = dev_start_queues(dev, err, errlen);
	if (ret)
		goto fail;
	ret = bublk_ctrl_start_dev(&dev->ctrl, dev->info.dev_id, getpid());
	if (ret) {
		snprintf(err, errlen, "dev %u START_DEV: %s", dev->info.dev_id, strerror(-ret));
		goto fail;
	}
	dev->started = true;
	snprintf(bpath, sizeof(bpath), "/dev/ublkb%u", dev->info.dev_id);
	wait_for_node(bpath);
	return 0;
fail:
	bublk_dev_destroy(dev);
	return ret;
}

int bublk_dev_recover(struct bublk_dev *dev, const struct bublk_dev_opts *o, __u32 dev_id,
		      char *err, size_t errlen)
{
	int ret;

	ret = dev_prepare(dev, o, err, errlen);
	if (ret)
		goto fail;
	ret = bublk_ctrl_get_info(&dev->ctrl, dev_id, &dev->info);
	if (ret) {
		snprintf(err, errlen, "dev %u GET_DEV_INFO: %s", dev_id, strerror(-ret));
		goto fail;
	}
	if (!(dev->info.flags & UBLK_F_USER_RECOVERY)) {
		snprintf(err, errlen, "dev %u was not created with --recovery: it cannot be taken over; delete it with bublk del -n %u",
			 dev_id, dev_id);
		ret = -EOPNOTSUPP;
		goto fail;
	}
	if (!(dev->info.flags & UBLK_F_CMD_IOCTL_ENCODE))
		dev->ctrl.legacy = true;
	/* the kernel quiesces the device once the old daemon's rings are gone */
	for (int i = 0; i < 1000; i++) {
		ret = bublk_ctrl_cmd(&dev->ctrl, UBLK_CMD_START_USER_RECOVERY, dev_id, (__u16)-1,
				     NULL, 0, 0);
		if (ret != -EBUSY)
			break;
		usleep(10000);
	}
	if (ret) {
		snprintf(err, errlen, "dev %u START_USER_RECOVERY: %s%s", dev_id, strerror(-ret),
			 ret == -EBUSY ? " (is its daemon still running? see bublk list)" : "");
		goto fail;
	}
	ret = dev_load_target(dev, o, err, errlen);
	if (!ret)
		ret = dev_start_queues(dev, err, errlen);
	if (ret)
		goto fail;
	ret = bublk_ctrl_cmd(&dev->ctrl, UBLK_CMD_END_USER_RECOVERY, dev_id, (__u16)-1,
			     NULL, 0, getpid());
	if (ret) {
		snprintf(err, errlen, "dev %u END_USER_RECOVERY: %s", dev_id, strerror(-ret));
		goto fail;
	}
	/* from here on the device is ours, to stop and delete like any other */
	dev->added = true;
	dev->started = true;
	return 0;
fail:
	/* never delete a device we failed to take over: its data is the user's */
	dev->added = false;
	dev->started = false;
	bublk_dev_destroy(dev);
	return ret;
}

void bublk_dev_destroy(struct bublk_dev *dev)
{
	int ret;

	/* STOP_DEV first: it drains in-flight I/O, which the queues still serve */
	if (dev->started) {
		ret = bublk_ctrl_stop_dev(&dev->ctrl, dev->info.dev_id);
		if (ret)
			bublk_log("dev %u STOP_DEV: %s", dev->info.dev_id, strerror(-ret));
		dev->started = false;
	}
	for (int i = 0; i < dev->nr_queues_started; i++)
		bublk_queue_stop(&dev->queues[i]);
	dev->nr_queues_started = 0;
	free(dev->queues);
	dev->queues = NULL;
	/* DEL_DEV waits for the char device to be released */
	if (dev->cdev_fd >= 0)
		close(dev->cdev_fd);
	dev->cdev_fd = -1;
	if (dev->added) {
		ret = bublk_ctrl_del_dev(&dev->ctrl, dev->info.dev_id);
		if (ret)
			bublk_log("dev %u DEL_DEV: %s", dev->info.dev_id, strerror(-ret));
		dev->added = false;
	}
	if (dev->ctrl.fd >= 0)
		bublk_ctrl_close(&dev->ctrl);
	bublk_target_close(&dev->target);
	for (int i = 0; i < dev->nr_backends; i++)
		bublk_backend_close(&dev->backends[i]);
	dev->nr_backends = 0;
}

void bublk_dev_stats(const struct bublk_dev *dev, struct bublk_queue_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < dev->nr_queues_started; i++) {
		const struct bublk_queue_stats *s = &dev->queues[i].stats;

		sum->reqs += s->reqs;
		sum->bytes += s->bytes;
		sum->errors += s->errors;
		sum->segs += s->segs;
		sum->fallbacks += s->fallbacks;
		sum->batches += s->batches;
		sum->dispatch_errors += s->dispatch_errors;
		for (int r = 0; r < BUBLK_REJ_NR; r++)
			sum->rejects[r] += s->rejects[r];
	}
}

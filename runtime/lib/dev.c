// SPDX-License-Identifier: MIT
/* Device lifecycle: everything between "bublk add" and the device going away. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <limits.h>

#include "ctlplane.h"
#include "dev.h"
#include "devlock.h"
#include "log.h"
#include "queue.h"
#include "util.h"

static int check_opts(const struct bublk_dev_opts *o, char *err, size_t errlen)
{
	if (o->nr_queues < 1 || o->nr_queues > BUBLK_MAX_QUEUES) {
		snprintf(err, errlen, "queues must be 1..%d, not %d", BUBLK_MAX_QUEUES, o->nr_queues);
		return -EINVAL;
	}
	if (o->depth < 1 || o->depth > UBLK_MAX_QUEUE_DEPTH) {
		snprintf(err, errlen, "depth must be 1..%d (the driver's maximum), not %d",
			 UBLK_MAX_QUEUE_DEPTH, o->depth);
		return -EINVAL;
	}
	if (o->max_io_bytes < BUBLK_MIN_IO_BYTES || o->max_io_bytes > BUBLK_MAX_IO_BYTES ||
	    o->max_io_bytes % BUBLK_MIN_IO_BYTES) {
		snprintf(err, errlen, "max I/O size must be a multiple of 4K between 4K and 32M");
		return -EINVAL;
	}
	if ((o->nr_htlb || o->rdonly_shmem) && !o->shmem_zc) {
		snprintf(err, errlen, "--htlb and --rdonly-shmem need --shmem-zc");
		return -EINVAL;
	}
	if (o->shmem_zc && o->recovery) {
		snprintf(err, errlen, "--shmem-zc with --recovery is not supported yet: a new daemon cannot take over the old one's registrations");
		return -EOPNOTSUPP;
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
	dev->current = &dev->target;
	pthread_mutex_init(&dev->reload_lock, NULL);
	bublk_shmem_init(&dev->shmem);
	for (int i = 0; i < BUBLK_MAX_BACKENDS; i++)
		dev->backends[i].fd = -1;
	ret = check_opts(o, err, errlen);
	if (ret)
		return ret;
	ret = bublk_target_resolve(o->target, path, sizeof(path));
	if (ret) {
		char names[256];

		bublk_target_list(NULL, NULL, names, sizeof(names));
		snprintf(err, errlen, "target \"%s\": no such target object (%s); targets: %s",
			 o->target, strerror(-ret), names[0] ? names : "none found");
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
	/* a base image (overlay) is the last backend, never written */
	if (o->base) {
		if (dev->nr_backends == BUBLK_MAX_BACKENDS) {
			snprintf(err, errlen, "at most %d backing files, base image included", BUBLK_MAX_BACKENDS);
			return -E2BIG;
		}
		ret = bublk_backend_open(&dev->backends[dev->nr_backends], o->base, true, err, errlen);
		if (ret)
			return ret;
		dev->nr_backends++;
		dev->has_base = true;
	}
	dev->readonly = o->readonly;
	dev->size = o->size;	/* 0: the target's bublk_init chooses */
	dev->block_size = o->block_size ? o->block_size : 512;
	dev->attrs = o->rotational ? BUBLK_DEV_ROTATIONAL : 0;
	/* NBD exports: options they cannot serve, the block size they accept */
	ret = bublk_nbd_dev_check(dev, o, err, errlen);
	if (ret)
		return ret;
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

	/* the engine decides which object is loaded: NAME.bpf.o or its NAME.kern.o twin */
	ret = bublk_engine_choose(dev, o, err, errlen);
	if (ret)
		return ret;
	bublk_log("dev %u: %s engine (%s)", dev->info.dev_id, dev->engine_kernel ? "kernel" : "user",
		  dev->engine_why);
	memset(&di, 0, sizeof(di));
	di.size = dev->size;
	di.dev_id = dev->info.dev_id;
	di.nr_queues = dev->info.nr_hw_queues;
	di.depth = dev->info.queue_depth;
	di.block_size = dev->block_size;
	di.nr_backends = dev->nr_backends;
	di.max_io_bytes = dev->info.max_io_buf_bytes;
	di.attrs = dev->attrs;
	di.scratch_size = BUBLK_SCRATCH_SIZE;
	for (int i = 0; i < dev->nr_backends; i++)
		di.backend_size[i] = dev->backends[i].size;
	ret = bublk_pin_prepare(&dev->target, dev->info.dev_id, err, errlen);
	if (ret)
		return ret;
	/* SHMEM_ZC: room after the queues for the scatter/gather hook's iov slots */
	dev->sg_slots_off = dev->info.nr_hw_queues *
			    bublk_queue_arena_bytes(dev->info.queue_depth, dev->max_segs);
	ret = bublk_target_load(&dev->target, dev->sg_slots_off +
				(o->shmem_zc ? PAGE_ALIGN(bublk_sg_hook_slots_bytes(
					dev->info.nr_hw_queues, dev->info.queue_depth)) : 0),
				&di, o->config, o->nr_config, err, errlen);
	if (!ret)
		ret = bublk_engine_loaded(dev, err, errlen);
	if (ret)
		return ret;
	ret = bublk_target_read_dev(&dev->target, &di);
	if (ret) {
		snprintf(err, errlen, "reading back map bublk_dev: %s", strerror(-ret));
		return ret;
	}
	if (di.block_size != 512 && di.block_size != 4096) {
		snprintf(err, errlen, "target %s chose block size %u: only 512 and 4096 are supported",
			 dev->target.name, di.block_size);
		return -EINVAL;
	}
	dev->block_size = di.block_size;
	dev->attrs = di.attrs;
	if (di.attrs & BUBLK_DEV_READONLY)
		dev->readonly = true;
	dev->size = di.size & ~((__u64)dev->block_size - 1);
	if (!dev->size) {
		snprintf(err, errlen, "device size is 0: give --size (target %s chose none; are the backing files empty?)",
			 dev->target.name);
		return -EINVAL;
	}
	/* a target may only lower the largest request (it must fit its segments) */
	if (di.max_io_bytes < dev->block_size || di.max_io_bytes > dev->info.max_io_buf_bytes) {
		snprintf(err, errlen, "target %s chose a largest request of %u bytes: it must be between %u and %u",
			 dev->target.name, di.max_io_bytes, dev->block_size, dev->info.max_io_buf_bytes);
		return -EINVAL;
	}
	dev->max_io_bytes = di.max_io_bytes & ~(dev->block_size - 1);
	if (di.preload_pages) {
		if (di.preload_backend >= (__u32)dev->nr_backends) {
			snprintf(err, errlen, "target %s asked to preload backend %u of %d",
				 dev->target.name, di.preload_backend, dev->nr_backends);
			return -EINVAL;
		}
		if (dev->backends[di.preload_backend].nbd) {
			snprintf(err, errlen, "target %s reads backend %u at load time: that backend must be a local file, not an NBD export",
				 dev->target.name, di.preload_backend);
			return -EOPNOTSUPP;
		}
		ret = bublk_target_preload(&dev->target, dev->backends[di.preload_backend].fd,
					   di.preload_off, di.preload_pages, err, errlen);
		if (ret)
			return ret;
	}
	/* after bublk_init, so the C twin sees the options it settled */
	if (o->dispatch == BUBLK_DISPATCH_C) {
		dev->dispatch = bublk_dispatch_c;
		return bublk_cmap_init(&dev->cmap, &dev->target, err, errlen);
	}
	dev->dispatch = bublk_dispatch_bpf;
	return 0;
}

/*
 * bublk's scatter/gather proposal: where the driver has the hook (the test
 * module in selftests/kmod), a request scattered over registered buffers
 * arrives with an iov our BPF program built in the arena. Without it such
 * requests simply take the normal path.
 */
static void attach_sg_hook(struct bublk_dev *dev)
{
	struct bublk_sg_hook_opts so = {
		.dev_id = dev->info.dev_id,
		.nr_queues = dev->info.nr_hw_queues,
		.depth = dev->info.queue_depth,
		.arena_fd = bpf_map__fd(dev->target.arena_map),
		/* where the arena really is: higher than BUBLK_ARENA_ADDR under ASan */
		.arena_addr = (__u64)(uintptr_t)dev->target.arena,
		.arena_bytes = dev->target.arena_bytes,
		.slots_off = dev->sg_slots_off,
	};
	char path[PATH_MAX], err[512] = "";
	int ret;

	ret = bublk_target_resolve("sg_hook", path, sizeof(path));
	if (!ret)
		ret = bublk_sg_hook_attach(path, &so, &dev->sg_hook, err, sizeof(err));
	if (ret) {
		dev->sg_hook = NULL;
		bublk_log("dev %u: no scatter/gather hook (%s): scattered requests take the normal path",
			  dev->info.dev_id, err[0] ? err : strerror(-ret));
		return;
	}
	bublk_log("dev %u: scatter/gather hook attached", dev->info.dev_id);
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
	want = 0;
	if (o->recovery)
		want |= UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE;
	if (o->shmem_zc)
		want |= UBLK_F_SHMEM_ZC;
	/* the data mode, fail-io, no-part-scan, batch, and UPDATE_SIZE/QUIESCE where the kernel has them */
	ret = bublk_ctlplane_flags(dev, o, &want, err, errlen);
	if (ret)
		goto fail;
	if (o->max_io_default && (want & (UBLK_F_AUTO_BUF_REG | UBLK_F_SUPPORT_ZERO_COPY)))
		dev->info.max_io_buf_bytes = BUBLK_ZC_DEF_IO_BYTES;
	dev->ctrl.legacy = o->legacy;
	dev->info.flags = want | (o->legacy ? 0 : UBLK_F_CMD_IOCTL_ENCODE);
	/* under an id locked and named in a state file first (devlock.c) */
	ret = bublk_dev_add_claimed(dev);
	if (!o->legacy && (ret == -EINVAL || ret == -EOPNOTSUPP)) {
		/* kernel older than 6.4: no ioctl-encoded opcodes */
		dev->ctrl.legacy = true;
		dev->info.flags = want;
		ret = bublk_dev_add_claimed(dev);
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
	if ((o->data_mode == BUBLK_MODE_ZERO_COPY &&
	     !(dev->info.flags & (UBLK_F_AUTO_BUF_REG | UBLK_F_SUPPORT_ZERO_COPY))) ||
	    (o->data_mode == BUBLK_MODE_ZERO_COPY_MANUAL && !(dev->info.flags & UBLK_F_SUPPORT_ZERO_COPY))) {
		snprintf(err, errlen, "dev %u: --zero-copy: this kernel does not grant UBLK_F_AUTO_BUF_REG or UBLK_F_SUPPORT_ZERO_COPY; use --user-copy or --copy",
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
	if (o->shmem_zc && !(dev->info.flags & UBLK_F_SHMEM_ZC)) {
		snprintf(err, errlen, "dev %u: --shmem-zc: this kernel does not grant UBLK_F_SHMEM_ZC (upstream 7.1+, or the test module in selftests/kmod)",
			 dev->info.dev_id);
		ret = -EOPNOTSUPP;
		goto fail;
	}
	dev->shmem_zc = o->shmem_zc;

	ret = dev_load_target(dev, o, err, errlen);
	if (ret)
		goto fail;
	ret = bublk_dev_set_params(dev, dev->readonly);
	if (ret) {
		snprintf(err, errlen, "dev %u SET_PARAMS: %s", dev->info.dev_id, strerror(-ret));
		goto fail;
	}
	ret = bublk_dev_start_queues(dev, err, errlen);
	if (ret)
		goto fail;
	ret = bublk_ctrl_start_dev(&dev->ctrl, dev->info.dev_id, getpid());
	if (ret) {
		snprintf(err, errlen, "dev %u START_DEV: %s", dev->info.dev_id, strerror(-ret));
		goto fail;
	}
	dev->started = true;
	snprintf(bpath, sizeof(bpath), "/dev/ublkb%u", dev->info.dev_id);
	bublk_wait_for_node(bpath);
	/* shared memory: registered once the disk exists (the kernel freezes it) */
	for (int i = 0; i < o->nr_htlb; i++) {
		ret = bublk_shmem_add_file(dev, o->htlb[i], o->rdonly_shmem, err, errlen);
		if (ret)
			goto fail;
	}
	if (dev->shmem_zc) {
		ret = bublk_shmem_listen(dev, err, errlen);
		if (ret)
			goto fail;
		attach_sg_hook(dev);
	}
	return 0;
fail:
	bublk_dev_destroy(dev);
	/* the device is gone: so are its provisional state file and its lock */
	bublk_dev_unclaim(dev);
	return ret;
}

int bublk_dev_recover(struct bublk_dev *dev, const struct bublk_dev_opts *o, __u32 dev_id,
		      char *err, size_t errlen)
{
	int ret;

	ret = dev_prepare(dev, o, err, errlen);
	if (ret)
		goto fail;
	/* one daemon per device: a second recover stops here, before the pins (devlock.c) */
	ret = bublk_devlock_take(dev_id, "recover", err, errlen);
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
		ret = bublk_dev_start_queues(dev, err, errlen);
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
	bublk_devlock_release(dev_id, false);
	return ret;
}

void bublk_dev_destroy(struct bublk_dev *dev)
{
	int ret;

	/* shared buffers first, while the queues still serve what UNREG_BUF drains */
	if (dev->sg_hook)
		bublk_sg_hook_detach(dev->sg_hook);
	dev->sg_hook = NULL;
	bublk_shmem_release(dev);
	/* STOP_DEV first: it drains in-flight I/O, which the queues still serve */
	if (dev->started) {
		ret = bublk_ctrl_stop_dev(&dev->ctrl, dev->info.dev_id);
		if (ret)
			bublk_log("dev %u STOP_DEV: %s", dev->info.dev_id, strerror(-ret));
		dev->started = false;
	}
	for (int i = 0; i < dev->nr_queues_started; i++)
		bublk_queue_stop(&dev->queues[i]);
	if (dev->nr_queues_started)
		bublk_log_stats(dev);
	dev->nr_queues_started = 0;
	bublk_engine_release(dev);
	free(dev->queues);
	dev->queues = NULL;
	/* DEL_DEV waits for the char device to be released */
	if (dev->cdev_fd >= 0)
		close(dev->cdev_fd);
	dev->cdev_fd = -1;
	if (dev->added) {
		ret = bublk_ctrl_del_dev_any(&dev->ctrl, dev->info.dev_id);
		if (ret)
			bublk_log("dev %u DEL_DEV: %s", dev->info.dev_id, strerror(-ret));
		dev->added = false;
		/* the device is gone: so are its pins (a crash keeps them for recover) */
		if (dev->target.pin_dir[0] && (ret = bublk_pin_remove(dev->info.dev_id)))
			bublk_log("dev %u removing %s: %s", dev->info.dev_id, dev->target.pin_dir,
				  strerror(-ret));
	}
	if (dev->ctrl.fd >= 0)
		bublk_ctrl_close(&dev->ctrl);
	for (int i = 0; i < dev->nr_reloaded; i++) {
		bublk_target_close(dev->reloaded[i]);
		free(dev->reloaded[i]);
	}
	dev->nr_reloaded = 0;
	dev->current = &dev->target;
	bublk_target_close(&dev->target);
	for (int i = 0; i < dev->nr_backends; i++)
		bublk_backend_close(&dev->backends[i]);
	dev->nr_backends = 0;
}

int bublk_dev_reload(struct bublk_dev *dev, const char *path, char *err, size_t errlen)
{
	struct bublk_target *nt;
	int ret;

	pthread_mutex_lock(&dev->reload_lock);
	if (dev->nr_reloaded == BUBLK_MAX_RELOADS) {
		snprintf(err, errlen, "dev %u: %d reloads already; restart the daemon (kill it, bublk recover) to reload more",
			 dev->info.dev_id, BUBLK_MAX_RELOADS);
		ret = -ENOSPC;
		goto out;
	}
	nt = calloc(1, sizeof(*nt));
	if (!nt) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	ret = bublk_target_open(nt, path, err, errlen);
	/* the kernel engine's device takes the new build's kern twin */
	if (!ret && dev->engine_kernel) {
		bublk_target_close(nt);
		ret = bublk_engine_open(dev, nt, path, err, errlen);
		if (ret == -ENOENT)
			snprintf(err, errlen, "%s: this device is served by the kernel engine: a reload needs the target's NAME.kern.o next to it (make builds both)",
				 path);
	}
	if (!ret)
		ret = bublk_target_load_reusing(nt, dev->current, err, errlen);
	if (ret) {
		bublk_target_close(nt);
		free(nt);
		goto out;
	}
	dev->reloaded[dev->nr_reloaded++] = nt;
	/* queues pick it up at their next batch */
	__atomic_store_n(&dev->current, nt, __ATOMIC_RELEASE);
	if (dev->engine_kernel)
		bublk_engine_swap(dev);	/* each queue attaches nt's loop_step */
	__atomic_fetch_add(&dev->target.stats[0].reloads, 1, __ATOMIC_RELAXED);
	bublk_log("dev %u: reloaded target %s from %s", dev->info.dev_id, nt->name, nt->path);
out:
	pthread_mutex_unlock(&dev->reload_lock);
	return ret;
}

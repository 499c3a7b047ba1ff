// SPDX-License-Identifier: MIT
/*
 * The 7.x control plane of a live device, done by its daemon (the one that
 * holds the backends, the target and the queues): resize and quiesce, as
 * control socket requests, and the creation flags that go with them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ctlplane.h"
#include "log.h"
#include "queue.h"
#include "state.h"

/*
 * The ADD_DEV flags of the device's data mode: the one asked for, or the
 * fastest the kernel offers (zero copy through automatic buffer
 * registration, then zero copy registered by hand, then user copy; copy
 * needs no flag). Automatic registration comes with SUPPORT_ZERO_COPY
 * where the kernel has both: a request the driver fails to register is
 * then registered by hand instead of failing (mode_zero_copy.c). Shared memory
 * (--shmem-zc) is each matched request's own mode (mode_shmem.c); the
 * requests it does not match take this one, zero copy included: the driver
 * registers their buffers as for any other device, and the matched ones'
 * registered buffers simply go unused (7.3: ublk_dispatch_req registers
 * every request with data, ublk_start_io maps none of a matched one's).
 */
static int data_mode_flag(const struct bublk_dev *dev, const struct bublk_dev_opts *o, __u64 kf,
			  __u64 *flag, char *err, size_t errlen)
{
	/*
	 * libnbd sends and receives from our memory: a device with an NBD
	 * backend never runs zero copy, whose data the daemon cannot reach.
	 */
	bool nbd = bublk_dev_has_nbd(dev);
	__u64 auto_zc = kf & UBLK_F_AUTO_BUF_REG ? UBLK_F_AUTO_BUF_REG | (kf & UBLK_F_SUPPORT_ZERO_COPY) : 0;
	__u64 zc = nbd ? 0 : auto_zc ? auto_zc : kf & UBLK_F_SUPPORT_ZERO_COPY;

	switch (o->data_mode) {
	case BUBLK_MODE_COPY:
		*flag = 0;
		return 0;
	case BUBLK_MODE_USER_COPY:
		*flag = UBLK_F_USER_COPY;
		return 0;
	case BUBLK_MODE_ZERO_COPY:
	case BUBLK_MODE_ZERO_COPY_MANUAL:
		if (nbd) {
			snprintf(err, errlen, "--zero-copy cannot serve NBD backends: the data never enters the daemon, and libnbd must send it from there; leave it out (user copy is then the default) or use --user-copy");
			return -EINVAL;
		}
		if (o->data_mode == BUBLK_MODE_ZERO_COPY_MANUAL) {
			if (!(kf & UBLK_F_SUPPORT_ZERO_COPY)) {
				snprintf(err, errlen, "--zero-copy=manual: this kernel's ublk driver lacks UBLK_F_SUPPORT_ZERO_COPY (Linux 6.15+); use --user-copy or --copy");
				return -EOPNOTSUPP;
			}
			*flag = UBLK_F_SUPPORT_ZERO_COPY;
			return 0;
		}
		if (!zc) {
			snprintf(err, errlen, "--zero-copy: this kernel's ublk driver lacks UBLK_F_AUTO_BUF_REG (Linux 6.16+) and UBLK_F_SUPPORT_ZERO_COPY (6.15+); use --user-copy or --copy");
			return -EOPNOTSUPP;
		}
		*flag = zc;
		return 0;
	case BUBLK_MODE_AUTO:
	default:
		*flag = zc ? zc : UBLK_F_USER_COPY;
		return 0;
	}
}

int bublk_ctlplane_flags(struct bublk_dev *dev, const struct bublk_dev_opts *o, __u64 *want,
			 char *err, size_t errlen)
{
	__u64 kf = 0, mode_flag;
	int ret;

	/* GET_FEATURES is 6.5+: an older kernel has none of these (nor zero copy) */
	if (bublk_ctrl_get_features(&dev->ctrl, &kf))
		kf = 0;
	ret = data_mode_flag(dev, o, kf, &mode_flag, err, errlen);
	if (ret)
		return ret;
	*want |= mode_flag;
	if (o->recovery_fail_io) {
		if (!(kf & UBLK_F_USER_RECOVERY_FAIL_IO)) {
			snprintf(err, errlen, "--recovery=fail-io: this kernel's ublk driver lacks UBLK_F_USER_RECOVERY_FAIL_IO (Linux 6.13+); plain --recovery holds I/O until bublk recover instead");
			return -EOPNOTSUPP;
		}
		/* the kernel takes RECOVERY alone, +REISSUE or +FAIL_IO, never both */
		*want &= ~UBLK_F_USER_RECOVERY_REISSUE;
		*want |= UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_FAIL_IO;
	}
	if (o->no_part_scan) {
		if (!(kf & UBLK_F_NO_AUTO_PART_SCAN)) {
			snprintf(err, errlen, "--no-part-scan: this kernel's ublk driver lacks UBLK_F_NO_AUTO_PART_SCAN (Linux 7.0+)");
			return -EOPNOTSUPP;
		}
		*want |= UBLK_F_NO_AUTO_PART_SCAN;
	}
	if (o->batch_io) {
		if (!(kf & UBLK_F_BATCH_IO)) {
			snprintf(err, errlen, "--batch: this kernel's ublk driver lacks UBLK_F_BATCH_IO (Linux 7.0+)");
			return -EOPNOTSUPP;
		}
		if (o->legacy) {
			snprintf(err, errlen, "--batch needs the ioctl-encoded opcodes: leave out --legacy");
			return -EINVAL;
		}
		*want |= UBLK_F_BATCH_IO;
	}
	/* asked for only where present: older drivers may refuse unknown flags */
	if (kf & UBLK_F_UPDATE_SIZE)
		*want |= UBLK_F_UPDATE_SIZE;
	/* quiesce counts per-tag commands coming back: not done for batches yet */
	if (o->recovery && (kf & UBLK_F_QUIESCE) && !o->batch_io)
		*want |= UBLK_F_QUIESCE;
	return 0;
}

/* a backend's size now: the user may have grown the file since it was opened */
static int backend_size_now(const struct bublk_backend *b, __u64 *size)
{
	unsigned long long bytes;
	struct stat st;

	/* an NBD export keeps the size it had at connection (no resize over NBD yet) */
	if (b->nbd) {
		*size = b->size;
		return 0;
	}
	if (fstat(b->fd, &st))
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &bytes))
			return -errno;
		*size = bytes;
	} else {
		*size = st.st_size;
	}
	return 0;
}

/* the device description with the new size and backend sizes, in the map and the runtime */
static int apply_size(struct bublk_dev *dev, const struct bublk_dev_info *di)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(bpf_map__fd(dev->target.dev_map), &zero, di, 0))
		return -errno;
	/* queue threads check segments against these while we write them */
	for (int i = 0; i < dev->nr_backends; i++)
		__atomic_store_n(&dev->backends[i].size, di->backend_size[i], __ATOMIC_RELEASE);
	dev->size = di->size;
	return 0;
}

static int resize_locked(struct bublk_dev *dev, __u64 size, char *err, size_t errlen)
{
	struct bublk_target *t = dev->current;
	struct bublk_dev_info old, want;
	struct bpf_program *prog;
	struct bublk_ctrl c;
	int ret, retval = 0;
	__u64 kf = 0;

	if (!size || size % dev->block_size) {
		snprintf(err, errlen, "%llu bytes is not a multiple of the device's logical block size (%u bytes)",
			 (unsigned long long)size, dev->block_size);
		return -EINVAL;
	}
	prog = t->resize;
	if (!prog) {
		snprintf(err, errlen, "target %s cannot be resized: it declares no BUBLK_RESIZE hook to check its backends",
			 t->name);
		return -EOPNOTSUPP;
	}
	ret = bublk_ctrl_open(&c);
	if (ret) {
		snprintf(err, errlen, "opening /dev/ublk-control: %s", strerror(-ret));
		return ret;
	}
	if (bublk_ctrl_get_features(&c, &kf) || !(kf & UBLK_F_UPDATE_SIZE)) {
		snprintf(err, errlen, "this kernel's ublk driver cannot resize a live device (UBLK_F_UPDATE_SIZE, Linux 6.14+)");
		ret = -EOPNOTSUPP;
		goto out;
	}
	ret = bublk_target_read_dev(&dev->target, &old);
	if (ret) {
		snprintf(err, errlen, "reading map bublk_dev: %s", strerror(-ret));
		goto out;
	}
	want = old;
	want.size = size;
	for (int i = 0; i < dev->nr_backends; i++) {
		ret = backend_size_now(&dev->backends[i], &want.backend_size[i]);
		if (ret) {
			snprintf(err, errlen, "backing file %s: %s", dev->backends[i].path, strerror(-ret));
			goto out;
		}
	}
	/* the target judges the proposal; the live description is untouched */
	ret = bublk_prog_run(bpf_program__fd(prog), &want, sizeof(want), &retval);
	if (ret) {
		snprintf(err, errlen, "running bublk_resize: %s", strerror(-ret));
		goto out;
	}
	if (retval) {
		char what[64];

		snprintf(what, sizeof(what), "refused %llu bytes", (unsigned long long)size);
		bublk_target_refusal(t, what, retval, err, errlen);
		ret = retval < 0 ? retval : -retval;
		goto out;
	}
	want.size = size;	/* a syscall program may write its context back */
	if (size > old.size) {
		/* growing: the runtime accepts the new range before the kernel sends it */
		ret = apply_size(dev, &want);
		if (!ret && (ret = bublk_ctrl_update_size(&c, dev->info.dev_id, size >> 9)))
			apply_size(dev, &old);
	} else {
		/* shrinking: the kernel stops sending the range before we drop it */
		ret = bublk_ctrl_update_size(&c, dev->info.dev_id, size >> 9);
		if (!ret)
			ret = apply_size(dev, &want);
	}
	if (ret)
		snprintf(err, errlen, "UPDATE_SIZE to %llu bytes: %s", (unsigned long long)size,
			 strerror(-ret));
out:
	bublk_ctrl_close(&c);
	return ret;
}

int bublk_dev_resize(struct bublk_dev *dev, __u64 size, char *err, size_t errlen)
{
	__u64 from = dev->size;
	int ret;

	/* a reload swaps dev->current under this lock */
	pthread_mutex_lock(&dev->reload_lock);
	ret = resize_locked(dev, size, err, errlen);
	pthread_mutex_unlock(&dev->reload_lock);
	if (!ret)
		bublk_log("dev %u: resized from %llu to %llu bytes", dev->info.dev_id,
			  (unsigned long long)from, (unsigned long long)size);
	return ret;
}

bool bublk_queue_cmd_gone(struct bublk_queue *q, int tag, int res)
{
	struct bublk_dev *dev = q->dev;

	if (!__atomic_load_n(&dev->quiescing, __ATOMIC_ACQUIRE))
		return false;
	(void)tag;
	(void)res;
	/*
	 * Each tag has one command at a time, never sent again once it failed:
	 * when all have come back (ABORT, or refused while canceling) nothing
	 * of this queue is in flight and its thread can go.
	 */
	if (++q->nr_gone == q->depth) {
		q->stopping = true;
		__atomic_fetch_add(&dev->nr_queues_quiesced, 1, __ATOMIC_RELEASE);
	}
	return true;
}

int bublk_dev_quiesce(struct bublk_dev *dev, unsigned int timeout_ms, char *err, size_t errlen)
{
	struct bublk_ctrl c;
	int ret, i;

	if (!(dev->info.flags & UBLK_F_USER_RECOVERY)) {
		snprintf(err, errlen, "dev %u was not created with --recovery: once quiesced no daemon could take it over",
			 dev->info.dev_id);
		return -EINVAL;
	}
	if (!(dev->info.flags & UBLK_F_QUIESCE)) {
		snprintf(err, errlen, "dev %u has no UBLK_F_QUIESCE (Linux 6.16+; bublk add --recovery asks for it where the kernel has it)",
			 dev->info.dev_id);
		return -EOPNOTSUPP;
	}
	ret = bublk_ctrl_open(&c);
	if (ret) {
		snprintf(err, errlen, "opening /dev/ublk-control: %s", strerror(-ret));
		return ret;
	}
	/* before the command: its aborts reach the queues while it runs */
	__atomic_store_n(&dev->quiescing, true, __ATOMIC_RELEASE);
	ret = bublk_ctrl_quiesce_dev(&c, dev->info.dev_id, timeout_ms);
	bublk_ctrl_close(&c);
	if (ret) {
		__atomic_store_n(&dev->quiescing, false, __ATOMIC_RELEASE);
		snprintf(err, errlen, "QUIESCE_DEV: %s%s", strerror(-ret),
			 ret == -EBUSY ? " (the queues did not become idle in time; the device keeps serving: try again, or give a longer --timeout)" : "");
		return ret;
	}
	for (i = 0; i < 3000; i++) {
		if (__atomic_load_n(&dev->nr_queues_quiesced, __ATOMIC_ACQUIRE) ==
		    dev->info.nr_hw_queues)
			break;
		usleep(10000);
	}
	if (i == 3000) {
		snprintf(err, errlen, "dev %u: QUIESCE_DEV succeeded but %d of %d queues still have commands after 30 s; the daemon leaves anyway (bublk recover -n %u)",
			 dev->info.dev_id, dev->info.nr_hw_queues -
			 __atomic_load_n(&dev->nr_queues_quiesced, __ATOMIC_ACQUIRE),
			 dev->info.nr_hw_queues, dev->info.dev_id);
		ret = -ETIMEDOUT;
	}
	bublk_log("dev %u: quiesced: closing /dev/ublkc%u for a new daemon (bublk recover -n %u)",
		  dev->info.dev_id, dev->info.dev_id, dev->info.dev_id);
	/* wake serve(): it releases the device without deleting it */
	kill(getpid(), SIGTERM);
	return ret;
}

bool bublk_dev_leaving(struct bublk_dev *dev)
{
	if (!__atomic_load_n(&dev->quiescing, __ATOMIC_ACQUIRE))
		return false;
	/* no STOP_DEV, no DEL_DEV: the device waits, QUIESCED, for bublk recover */
	dev->started = false;
	dev->added = false;
	return true;
}

static int parse_u64(const char *s, unsigned long long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

bool bublk_ctlplane_request(struct bublk_dev *dev, const char *msg, char *answer, size_t len)
{
	char err[1024] = "";
	unsigned long long v;

	if (!strncmp(msg, "resize ", 7)) {
		if (parse_u64(msg + 7, &v)) {
			snprintf(answer, len, "error: resize takes a size in bytes, not \"%.40s\"\n", msg + 7);
		} else if (bublk_dev_resize(dev, v, err, sizeof(err))) {
			bublk_log("dev %u: resize to %llu bytes refused: %s", dev->info.dev_id, v, err);
			snprintf(answer, len, "error: %s; the device keeps its %llu bytes\n", err,
				 (unsigned long long)dev->size);
		} else {
			bublk_state_write(dev, getpid());
			snprintf(answer, len, "ok: dev %u is now %llu bytes\n", dev->info.dev_id, v);
		}
		return true;
	}
	if (!strncmp(msg, "quiesce ", 8)) {
		if (parse_u64(msg + 8, &v) || v > 3600000) {
			snprintf(answer, len, "error: quiesce takes a timeout in ms (0..3600000), not \"%.40s\"\n",
				 msg + 8);
		} else if (bublk_dev_quiesce(dev, v, err, sizeof(err)) && !dev->quiescing) {
			snprintf(answer, len, "error: %s\n", err);
		} else {
			snprintf(answer, len, "ok: dev %u quiesced; daemon %d exits, bublk recover -n %u takes over%s%s\n",
				 dev->info.dev_id, getpid(), dev->info.dev_id, err[0] ? ": " : "", err);
		}
		return true;
	}
	return false;
}

// SPDX-License-Identifier: MIT
/*
 * bublk del: ask the device's daemon to stop (SIGTERM: it stops and
 * deletes the device cleanly); if the daemon is gone, stop and delete the
 * device here.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ctrl.h"
#include "devlock.h"
#include "leftovers.h"
#include "loader.h"
#include "rundir.h"
#include "state.h"

static void del_usage(FILE *f)
{
	fprintf(f, "usage: bublk del -n ID | -a [--force]\n\n"
		   "Stop and delete ublk devices served by bublk.\n\n"
		   "  -n, --number ID   the device /dev/ublkbID\n"
		   "  -a, --all         every device bublk serves\n"
		   "      --force       delete even when the device is mounted or open\n"
		   "  -h, --help        this help\n");
}

/* a mounted or exclusively opened block device refuses O_EXCL */
static bool dev_busy(unsigned int id)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/dev/ublkb%u", id);
	fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == EBUSY;
}

/*
 * Where the kernel has UBLK_F_SAFE_STOP_DEV (7.0+), TRY_STOP_DEV stops the
 * device unless anyone has it open, in one step the kernel makes atomic
 * (O_EXCL above sees only mounts and exclusive opens, and races with a
 * new opener); the daemon then deletes the stopped device as usual. True
 * when the device is in use and was left serving.
 */
static bool dev_refuses_stop(unsigned int id)
{
	struct ublksrv_ctrl_dev_info info;
	struct bublk_ctrl c;
	int ret;

	if (bublk_ctrl_open(&c))
		return dev_busy(id);
	ret = bublk_ctrl_get_info(&c, id, &info);
	if (ret || !(info.flags & UBLK_F_SAFE_STOP_DEV)) {
		bublk_ctrl_close(&c);
		return dev_busy(id);
	}
	ret = bublk_ctrl_try_stop_dev(&c, id);
	bublk_ctrl_close(&c);
	/* -ENODEV: no disk (never started, or already stopped): nothing open */
	return ret == -EBUSY;
}

/* a daemon that died (or was killed) leaves its sockets: nobody listens on them */
static void remove_sockets(unsigned int id)
{
	char path[128];

	bublk_state_path(path, sizeof(path), id, "sock");
	unlink(path);
	snprintf(path, sizeof(path), "/run/ublk/ublkb%u.sock", id);
	unlink(path);
}

/* the daemon is gone: do its job */
static int del_orphan(unsigned int id)
{
	struct bublk_ctrl c;
	int ret;

	ret = bublk_ctrl_open(&c);
	if (ret) {
		cli_err("del", "dev %u: opening /dev/ublk-control: %s", id, strerror(-ret));
		return ret;
	}
	ret = bublk_ctrl_stop_dev(&c, id);
	if (ret && ret != -ENODEV && ret != -ENOENT)
		cli_err("del", "dev %u: STOP_DEV: %s", id, strerror(-ret));
	ret = bublk_ctrl_del_dev_any(&c, id);
	bublk_ctrl_close(&c);
	if (ret && ret != -ENODEV && ret != -ENOENT) {
		cli_err("del", "dev %u: DEL_DEV: %s", id, strerror(-ret));
		return ret;
	}
	bublk_state_remove(id);
	bublk_pin_remove(id);
	remove_sockets(id);
	return 0;
}

/* del_orphan under the device's lock: no add or recover takes the id meanwhile */
static int del_orphan_locked(unsigned int id)
{
	char err[512];
	int ret = bublk_devlock_take(id, "del", err, sizeof(err));

	if (ret) {
		cli_err("del", "%s", err);
		return ret;
	}
	ret = del_orphan(id);
	bublk_devlock_release(id, !ret);
	return ret;
}

static int del_one(unsigned int id, bool force)
{
	char role[BUBLK_DEVLOCK_ROLE_LEN], msg[512];
	unsigned long long pid = 0;
	int state_pid = bublk_state_pid(id);	/* 0: damaged, no pid to trust */
	int holder;

	if (state_pid != -ENOENT) {
		pid = state_pid;
	} else {
		struct ublksrv_ctrl_dev_info info;
		struct bublk_ctrl c;
		int ret = bublk_ctrl_open(&c);

		if (ret) {
			cli_err("del", "dev %u: not a bublk device (no %s/%u.json) and /dev/ublk-control: %s",
				id, BUBLK_RUN_DIR, id, strerror(-ret));
			return ret;
		}
		ret = bublk_ctrl_get_info(&c, id, &info);
		bublk_ctrl_close(&c);
		if (ret && leftover_pins_only(id))
			return leftover_remove_pins(id);	/* a crash left only pins */
		if (ret) {
			cli_err("del", "dev %u: no such device", id);
			return -ENODEV;
		}
		pid = info.ublksrv_pid > 0 ? (unsigned long long)info.ublksrv_pid : 0;
	}
	if (!force && dev_refuses_stop(id)) {
		cli_err("del", "dev %u: /dev/ublkb%u is in use (mounted or held open): unmount or close it first, or use --force",
			id, id);
		return -EBUSY;
	}
	/*
	 * The device lock's holder is alive, creating, recovering or serving
	 * the device (devlock.h): it is the one to stop, even before it holds
	 * /dev/ublkcN. Without a holder, a pid from a dead daemon may be
	 * anyone's by now: never signal that one.
	 */
	holder = bublk_devlock_holder(id, role, sizeof(role));
	if (holder < 0 || (holder > 0 && !strcmp(role, "del"))) {
		bublk_devlock_describe(id, holder, role, msg, sizeof(msg));
		cli_err("del", "%s", msg);
		return -EBUSY;
	}
	if (holder > 0)
		pid = holder;
	else if (!daemon_alive(id, (int)pid))
		return del_orphan_locked(id);
	if (kill((pid_t)pid, SIGTERM)) {
		cli_err("del", "dev %u: signalling daemon %llu: %s", id, pid, strerror(errno));
		return -errno;
	}
	/* the daemon drains I/O, stops and deletes the device, then exits */
	for (int i = 0; i < 3000; i++) {
		if (!bublk_proc_running((int)pid)) {
			bublk_state_remove(id);
			remove_sockets(id);
			return 0;
		}
		usleep(10000);
	}
	cli_err("del", "dev %u: daemon %llu did not exit within 30 s (its log: %s/%u.log)",
		id, pid, BUBLK_RUN_DIR, id);
	return -ETIMEDOUT;
}

int cmd_del(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "number", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool all = false, force = false;
	int opt, id = -1, failed = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "n:ah", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (parse_int(optarg, 0, 1 << 20, &id)) {
				cli_err("del", "bad device number \"%s\"", optarg);
				return 2;
			}
			break;
		case 'a':
			all = true;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			del_usage(stdout);
			return 0;
		default:
			del_usage(stderr);
			return 2;
		}
	}
	if (all == (id >= 0)) {
		cli_err("del", "give exactly one of -n ID or -a (see bublk del --help)");
		return 2;
	}
	/* the pids to signal come from there: only if nobody but root could write them */
	{
		char err[512];
		int ret = bublk_dir_trusted(BUBLK_RUN_DIR, false, 0755, err, sizeof(err));

		if (ret && ret != -ENOENT) {
			cli_err("del", "%s", err);
			return 1;
		}
	}
	if (!all)
		return del_one(id, force) ? 1 : 0;

	unsigned int ids[1024];
	/* state files (live, dead or being created), and bublk's pins without one */
	int n = leftover_ids(ids, 1024);

	for (int i = 0; i < n; i++)
		failed |= del_one(ids[i], force) != 0;
	return failed;
}

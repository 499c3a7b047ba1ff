// SPDX-License-Identifier: MIT
/*
 * bublk recover: a new daemon takes over a device whose daemon died. The
 * device was created with --recovery, so the kernel held its I/O (and
 * re-issues what was in flight) instead of failing it; everything needed
 * to serve it again is in its state file.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dev.h"
#include "devlock.h"
#include "state.h"

/* seconds a killed daemon may take to exit, and then to close its files */
#define RECOVER_EXIT_S	3
#define RECOVER_LOCK_S	30

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void recover_usage(FILE *f)
{
	fprintf(f, "usage: bublk recover -n ID [--foreground] [--json]\n\n"
		   "Start a new daemon for device ID, whose daemon died, with the target,\n"
		   "backing files and options it was created with (from %s/ID.json).\n"
		   "The device must have been created with \"bublk add --recovery\".\n", BUBLK_RUN_DIR);
}

int cmd_recover(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "number", required_argument, NULL, 'n' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct bublk_state st;	/* o points into it for the daemon's life */
	struct bublk_dev_opts o;
	bool foreground = false, json = false;
	int opt, id = -1, ret, holder;
	char err[PATH_MAX + 512], role[BUBLK_DEVLOCK_ROLE_LEN];

	optind = 1;
	while ((opt = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (parse_int(optarg, 0, 1 << 20, &id)) {
				cli_err("recover", "bad device number \"%s\"", optarg);
				return 2;
			}
			break;
		case 'F':
			foreground = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			recover_usage(stdout);
			return 0;
		default:
			recover_usage(stderr);
			return 2;
		}
	}
	if (id < 0) {
		cli_err("recover", "give the device with -n ID (see bublk recover --help)");
		return 2;
	}
	ret = bublk_state_load(id, &st, err, sizeof(err));
	if (ret == -ENOENT) {
		cli_err("recover", "dev %d: no state file %s/%d.json: not a bublk device, or already deleted",
			id, BUBLK_RUN_DIR, id);
		return 1;
	}
	if (ret) {
		cli_err("recover", "dev %d: %s; without it the device cannot be recovered (bublk del -n %d --force deletes it)",
			id, err, id);
		return 1;
	}
	/*
	 * Whoever holds the device's lock is alive (devlock.h). Another
	 * recover, or an add still creating it, is refused at once; the
	 * daemon the file names may be one just killed, still exiting.
	 */
	holder = bublk_devlock_holder(id, role, sizeof(role));
	if (holder && holder != st.pid) {
		bublk_devlock_describe(id, holder, role, err, sizeof(err));
		cli_err("recover", "%s", err);
		return 1;
	}
	if (st.creating && holder > 0) {
		cli_err("recover", "dev %d is being created by pid %d (bublk add): nothing to recover",
			id, holder);
		return 1;
	}
	if (st.creating) {
		cli_err("recover", "dev %d was never live: its bublk add (pid %d) died while creating it; nothing to recover: delete it with bublk del -n %d",
			id, st.pid, id);
		return 1;
	}
	/*
	 * A daemon just killed (kill -9) takes a moment to be gone, and longer
	 * to let go of the device's lock: its main thread is a zombie while its
	 * io_uring workers, which share its open files, are still finishing.
	 * Wait for both, or a new daemon would find the lock held and refuse.
	 */
	for (double start = now_s();; usleep(100000)) {
		double waited = now_s() - start;

		if (bublk_proc_running(st.pid) && waited >= RECOVER_EXIT_S)
			break;	/* not dying: a running daemon */
		holder = bublk_devlock_holder(id, role, sizeof(role));
		if ((!bublk_proc_running(st.pid) && holder != st.pid) || waited >= RECOVER_LOCK_S)
			break;
	}
	if (bublk_proc_running(st.pid)) {
		cli_err("recover", "dev %d is being served by pid %d: its daemon is still running, nothing to recover",
			id, st.pid);
		return 1;
	}
	if (holder == st.pid) {
		cli_err("recover", "dev %d: its daemon pid %d has exited but its files are still open after %d s (io_uring work not finished?); retry, or see bublk list",
			id, st.pid, RECOVER_LOCK_S);
		return 1;
	}
	if (holder) {
		/* another recover took it while the old daemon was going */
		bublk_devlock_describe(id, holder, role, err, sizeof(err));
		cli_err("recover", "%s", err);
		return 1;
	}
	bublk_state_opts(&st, &o);
	return bublk_launch(&o, id, foreground, json);
}

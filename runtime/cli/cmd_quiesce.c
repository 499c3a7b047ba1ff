// SPDX-License-Identifier: MIT
/*
 * bublk quiesce: hand a --recovery device over without a crash. Its daemon
 * asks the kernel to quiesce it (UBLK_F_QUIESCE: every queue idle, every
 * armed command aborted), its queues leave, it closes /dev/ublkcN and
 * exits without deleting the device; I/O waits, and "bublk recover -n N"
 * starts a new daemon (e.g. a new bublk build) that takes it over.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "control.h"
#include "ctlplane.h"
#include "ctrl.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bublk quiesce -n ID [--timeout MS]\n\n"
		   "Quiesce device ID for a takeover (UBLK_F_QUIESCE, Linux 6.16+; the device must\n"
		   "have been created with --recovery): its daemon waits for the queues to be\n"
		   "idle, the kernel aborts their commands, the daemon closes the device and\n"
		   "exits. New I/O waits until \"bublk recover -n ID\" starts a new daemon.\n\n"
		   "  -n, --number ID    the device\n"
		   "      --timeout MS   how long the kernel may wait for idle queues (default %d;\n"
		   "                     0: as long as it takes); on timeout the daemon keeps serving\n"
		   "  -h, --help         this help\n", BUBLK_QUIESCE_DEF_MS);
}

/* the device's state and daemon pid as the kernel has them */
static int dev_info(int id, struct ublksrv_ctrl_dev_info *info)
{
	struct bublk_ctrl c;
	int ret = bublk_ctrl_open(&c);

	if (ret)
		return ret;
	ret = bublk_ctrl_get_info(&c, id, info);
	bublk_ctrl_close(&c);
	return ret;
}

int cmd_quiesce(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "number", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int id = -1, timeout = BUBLK_QUIESCE_DEF_MS, opt, ret, i;
	struct ublksrv_ctrl_dev_info info;
	char req[64], answer[2048];
	int pid;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "n:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (cli_dev_id("quiesce", optarg, &id))
				return 2;
			break;
		case 't':
			if (parse_int(optarg, 0, 3600000, &timeout)) {
				cli_err("quiesce", "bad --timeout \"%s\": milliseconds, 0..3600000", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (id < 0 || optind != argc) {
		usage(stderr);
		return 2;
	}
	ret = dev_info(id, &info);
	if (ret) {
		cli_err("quiesce", "dev %d: GET_DEV_INFO: %s%s", id, strerror(-ret),
			ret == -ENODEV ? " (no such device; see bublk list)" :
			ret == -ENOENT ? " (no /dev/ublk-control: is the ublk_drv module loaded?)" : "");
		return 1;
	}
	if (info.state != UBLK_S_DEV_LIVE) {
		cli_err("quiesce", "dev %d is not live (state %u): nothing serves it to hand over; bublk recover -n %d",
			id, info.state, id);
		return 1;
	}
	pid = info.ublksrv_pid;
	snprintf(req, sizeof(req), "quiesce %d\n", timeout);
	if (cli_control_request("quiesce", id, req, answer, sizeof(answer)))
		return 1;
	/* done when the daemon is gone and the kernel has the device QUIESCED */
	for (i = 0; i < 3000; i++) {
		if (!bublk_proc_running(pid) && !dev_info(id, &info) &&
		    info.state == UBLK_S_DEV_QUIESCED)
			break;
		usleep(10000);
	}
	if (i == 3000) {
		cli_err("quiesce", "dev %d: the daemon was told to leave but the device is not QUIESCED after 30 s (state %u; its log: /run/bublk/%d.log)",
			id, info.state, id);
		return 1;
	}
	fputs(answer, stdout);
	return 0;
}

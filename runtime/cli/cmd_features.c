// SPDX-License-Identifier: MIT
/* bublk features: what the running kernel's ublk driver supports. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ctrl.h"
#include "feature_names.h"

/*
 * Does bublk ask for (or act on) this feature where the kernel has it?
 * What it does with each is in selftests/kernel-matrix.py (docs/kernels.md).
 */
static bool bublk_uses(unsigned int bit)
{
	const __u64 used = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE |
			   UBLK_F_CMD_IOCTL_ENCODE | UBLK_F_USER_COPY | UBLK_F_AUTO_BUF_REG |
			   UBLK_F_SUPPORT_ZERO_COPY |
			   UBLK_F_BATCH_IO |
			   UBLK_F_USER_RECOVERY_FAIL_IO | UBLK_F_UPDATE_SIZE | UBLK_F_QUIESCE |
			   UBLK_F_SAFE_STOP_DEV | UBLK_F_NO_AUTO_PART_SCAN | UBLK_F_SHMEM_ZC;

	return bit < 64 && (used & (1ULL << bit));
}

int cmd_features(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct bublk_ctrl c;
	__u64 f = 0;
	bool json = false, first = true;
	int opt, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		if (opt == 'j') {
			json = true;
		} else if (opt == 'h') {
			printf("usage: bublk features [--json]\n\n"
			       "List the ublk features (UBLK_F_*) the running kernel reports, by bit and name;\n"
			       "--json also says of each whether bublk uses it (\"used\": true/false).\n");
			return 0;
		} else {
			fprintf(stderr, "usage: bublk features [--json]\n");
			return 2;
		}
	}
	ret = bublk_ctrl_open(&c);
	if (ret) {
		cli_err("features", "/dev/ublk-control: %s%s", strerror(-ret),
			ret == -ENOENT ? " (is the ublk_drv module loaded?)" : "");
		return 1;
	}
	ret = bublk_ctrl_get_features(&c, &f);
	bublk_ctrl_close(&c);
	if (ret) {
		cli_err("features", "GET_FEATURES: %s (kernel older than 6.5?)", strerror(-ret));
		return 1;
	}
	if (json)
		printf("{\"features\": %llu, \"names\": [", (unsigned long long)f);
	for (unsigned int bit = 0; bit < 64; bit++) {
		const char *name = bublk_feature_name(bit);

		if (!(f & (1ULL << bit)))
			continue;
		if (json)
			printf("%s{\"bit\": %u, \"name\": \"%s\", \"used\": %s}", first ? "" : ", ",
			       bit, name ? name : "UNKNOWN", bublk_uses(bit) ? "true" : "false");
		else
			printf("%2u  %s\n", bit, name ? name : "(unknown to this bublk)");
		first = false;
	}
	if (json)
		printf("]}\n");
	return 0;
}

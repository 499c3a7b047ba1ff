// SPDX-License-Identifier: MIT
/* bublk reload: ask a device's daemon to swap in a new build of its target. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "control.h"
#include "loader.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bublk reload -n ID OBJECT\n\n"
		   "Load OBJECT (a path, or a target name) into the daemon serving /dev/ublkbID and\n"
		   "switch new requests to it between two batches. The new object reuses the\n"
		   "running target's maps by name (arena, options, counters, state), so it must be\n"
		   "a build of the same target whose shared maps have the same shapes; requests\n"
		   "already decided finish under the old program. An object that does not load\n"
		   "is refused and the running target keeps serving. bublk_init is not run again.\n");
}

int cmd_reload(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "number", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char path[PATH_MAX], abs[PATH_MAX], req[PATH_MAX + 16], answer[2048];
	int id = -1, opt, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (cli_dev_id("reload", optarg, &id))
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (id < 0 || optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	ret = bublk_target_resolve(argv[optind], path, sizeof(path));
	if (ret || !realpath(path, abs)) {
		cli_err("reload", "target \"%s\": no such target object", argv[optind]);
		return 1;
	}
	snprintf(req, sizeof(req), "reload %s\n", abs);
	if (cli_control_request("reload", id, req, answer, sizeof(answer)))
		return 1;
	fputs(answer, stdout);
	return 0;
}

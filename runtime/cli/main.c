// SPDX-License-Identifier: MIT
/* bublk: ublk block devices whose target logic is a BPF program. */
#include <stdio.h>
#include <string.h>

#include <bublk/abi.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} cmds[] = {
	{ "add", cmd_add, "create a device served by a BPF target" },
	{ "del", cmd_del, "stop and delete devices" },
	{ "recover", cmd_recover, "take over a device whose daemon died (--recovery devices)" },
	{ "list", cmd_list, "show the devices bublk serves" },
	{ "stats", cmd_stats, "a device's counters, or live rates (-w)" },
	{ "trace", cmd_trace, "recent requests and the segments the target chose" },
	{ "reload", cmd_reload, "swap in a new build of a live device's target" },
	{ "resize", cmd_resize, "change a live device's size (UBLK_F_UPDATE_SIZE)" },
	{ "quiesce", cmd_quiesce, "hand a --recovery device to a new daemon (bublk recover)" },
	{ "features", cmd_features, "show the running kernel's ublk features" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: bublk COMMAND [OPTIONS]   (bublk COMMAND --help for details)\n\n"
		   "Linux ublk block devices whose target logic is a BPF program.\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\nexamples:\n"
		   "  bublk add -t loop -f disk.img        # /dev/ublkbN backed by disk.img\n"
		   "  bublk add -t null --size 1G\n"
		   "  bublk list --json\n"
		   "  bublk del -n 0\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("bublk %s (target ABI %d)\n", BUBLK_VERSION, BUBLK_ABI_VERSION);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "bublk: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return 2;
}

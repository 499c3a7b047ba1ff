// SPDX-License-Identifier: MIT
/* bublk list: the devices bublk serves, from their state files. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "devlock.h"
#include "leftovers.h"
#include "loader.h"
#include "rundir.h"
#include "state.h"

static void print_json(const struct bublk_state *st, bool alive, bool first)
{
	/* the state object, plus whether its daemon still runs */
	char *s = bublk_state_format(st, alive);

	if (alive && !st->creating)
		s = list_with_connections(s, st);

	printf("%s  %s", first ? "" : ",\n", s ? s : "{}");
	free(s);
}

static void print_row(const struct bublk_state *st, bool alive)
{
	const char *state = !alive ? "dead" : st->creating ? "creating" : "live";
	char blk[32];

	snprintf(blk, sizeof(blk), "/dev/ublkb%u", st->dev_id);
	printf("%-4u %-13s %-8s %10lluM %6d %6d %-9s %8d %-8s %s\n", st->dev_id, blk, st->target,
	       (unsigned long long)(st->size >> 20), st->nr_queues, st->depth,
	       bublk_data_mode_name(st->data_mode), st->pid, state,
	       st->nr_backends ? st->backends[0].path : "-");
}

int cmd_list(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct bublk_state *st;
	unsigned int ids[1024];
	bool json = false;
	int opt, n, shown = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'h':
			printf("usage: bublk list [--json]\n\n"
			       "Show the devices bublk serves: id, target, size, queues, data mode,\n"
			       "daemon pid and state: live, creating (bublk add still at work) or dead\n"
			       "(its daemon is gone: bublk recover, or bublk del). --json prints an array\n"
			       "of objects with every field of the device's state file and \"alive\"; an\n"
			       "NBD backend of a live device also has \"connection\": its state (up,\n"
			       "partly down, down), queues connected, connections lost and regained.\n");
			return 0;
		default:
			fprintf(stderr, "usage: bublk list [--json]\n");
			return 2;
		}
	}
	st = malloc(sizeof(*st));
	if (!st) {
		fprintf(stderr, "bublk list: out of memory\n");
		return 1;
	}
	{
		char err[512];
		int ret = bublk_dir_trusted(BUBLK_RUN_DIR, false, 0755, err, sizeof(err));

		/* still listed (reading is harmless), but the user must know */
		if (ret && ret != -ENOENT)
			cli_err("list", "warning: %s; what follows may be forged", err);
	}
	n = leftover_ids(ids, 1024);
	if (json)
		printf("[\n");
	else
		printf("%-4s %-13s %-8s %11s %6s %6s %-9s %8s %-8s %s\n", "ID", "DEVICE", "TARGET",
		       "SIZE", "QUEUES", "DEPTH", "MODE", "PID", "STATE", "BACKEND");
	for (int i = 0; i < n; i++) {
		char err[PATH_MAX + 512];
		bool alive;

		/* no state file to show, but the user must know what bublk del -a removes */
		if (leftover_pins_only(ids[i])) {
			cli_err("list", "dev %u: %s/%u holds bublk's pins but there is no %s/%u.json (a crash?): bublk del -n %u removes %s",
				ids[i], BUBLK_PIN_ROOT, ids[i], BUBLK_RUN_DIR, ids[i], ids[i],
				bublk_ublk_dev_exists(ids[i]) ? "the device and its pins" : "them");
			continue;
		}
		/* a damaged file is named, not silently left out */
		if (bublk_state_load(ids[i], st, err, sizeof(err))) {
			fprintf(stderr, "bublk list: dev %u: %s\n", ids[i], err);
			continue;
		}
		/*
		 * a reused pid is not the daemon (security review finding 6); one
		 * creating the device holds its lock before it holds /dev/ublkcN
		 */
		alive = st->creating ? bublk_devlock_holder(ids[i], NULL, 0) == st->pid :
				       daemon_alive(ids[i], st->pid);
		if (json)
			print_json(st, alive, !shown);
		else
			print_row(st, alive);
		shown++;
	}
	if (json)
		printf("%s]\n", shown ? "\n" : "");
	free(st);
	return 0;
}

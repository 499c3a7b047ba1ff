// SPDX-License-Identifier: MIT
/* bublk list: the devices bublk serves, from their state files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "state.h"

static void print_json(const char *state, bool alive, bool first)
{
	const char *end = strrchr(state, '}');

	/* the state object, plus whether its daemon still runs */
	printf("%s  %.*s, \"alive\": %s}", first ? "" : ",\n", end ? (int)(end - state) : 0, state,
	       alive ? "true" : "false");
}

static void print_row(unsigned int id, const char *state, bool alive)
{
	unsigned long long size = 0, queues = 0, depth = 0, pid = 0;
	char target[64] = "?", mode[32] = "?", backend[256] = "-";
	const char *b;

	bublk_json_get_u64(state, "size", &size);
	bublk_json_get_u64(state, "queues", &queues);
	bublk_json_get_u64(state, "depth", &depth);
	bublk_json_get_u64(state, "pid", &pid);
	bublk_json_get_str(state, "target", target, sizeof(target));
	bublk_json_get_str(state, "data_mode", mode, sizeof(mode));
	b = strstr(state, "\"backends\": [{");
	if (b)
		bublk_json_get_str(b + 13, "path", backend, sizeof(backend));
	char blk[32];

	snprintf(blk, sizeof(blk), "/dev/ublkb%u", id);
	printf("%-4u %-13s %-8s %10lluM %6llu %6llu %-9s %8llu %-5s %s\n", id, blk, target,
	       size >> 20, queues, depth, mode, pid, alive ? "live" : "dead", backend);
}

int cmd_list(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
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
			       "daemon pid and whether the daemon is alive. --json prints an array of\n"
			       "objects with every field of the device's state file.\n");
			return 0;
		default:
			fprintf(stderr, "usage: bublk list [--json]\n");
			return 2;
		}
	}
	n = bublk_state_ids(ids, 1024);
	if (json)
		printf("[\n");
	else
		printf("%-4s %-13s %-8s %11s %6s %6s %-9s %8s %-5s %s\n", "ID", "DEVICE", "TARGET",
		       "SIZE", "QUEUES", "DEPTH", "MODE", "PID", "STATE", "BACKEND");
	for (int i = 0; i < n; i++) {
		unsigned long long pid = 0;
		char *state = bublk_state_read(ids[i]);
		bool alive;

		if (!state)
			continue;
		bublk_json_get_u64(state, "pid", &pid);
		alive = pid_alive((int)pid);
		if (json)
			print_json(state, alive, !shown);
		else
			print_row(ids[i], state, alive);
		shown++;
		free(state);
	}
	if (json)
		printf("%s]\n", shown ? "\n" : "");
	return 0;
}

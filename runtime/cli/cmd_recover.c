// SPDX-License-Identifier: MIT
/*
 * bublk recover: a new daemon takes over a device whose daemon died. The
 * device was created with --recovery, so the kernel held its I/O (and
 * re-issues what was in flight) instead of failing it; everything needed
 * to serve it again is in its state file.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dev.h"
#include "state.h"

static void recover_usage(FILE *f)
{
	fprintf(f, "usage: bublk recover -n ID [--foreground] [--json]\n\n"
		   "Start a new daemon for device ID, whose daemon died, with the target,\n"
		   "backing files and options it was created with (from %s/ID.json).\n"
		   "The device must have been created with \"bublk add --recovery\".\n", BUBLK_RUN_DIR);
}

int recover_parse_state(const char *state, struct recover_state *rs, struct bublk_dev_opts *o)
{
	unsigned long long v;
	char *save = NULL;

	memset(o, 0, sizeof(*o));
	if (bublk_json_get_str(state, "object", rs->target, sizeof(rs->target)) ||
	    bublk_json_get_str(state, "files", rs->files, sizeof(rs->files)) ||
	    bublk_json_get_u64(state, "size", &o->size))
		return -EINVAL;
	/*
	 * Range-check before narrowing: a damaged "queues": 4294967297 must
	 * be refused, not become 1 queue (found by fuzz_state's check).
	 */
	if (bublk_json_get_u64(state, "queues", &v) || v < 1 || v > BUBLK_MAX_QUEUES)
		return -EINVAL;
	o->nr_queues = v;
	if (bublk_json_get_u64(state, "depth", &v) || v < 1 || v > UBLK_MAX_QUEUE_DEPTH)
		return -EINVAL;
	o->depth = v;
	if (bublk_json_get_u64(state, "max_io_bytes", &v) || v < BUBLK_PAGE_SIZE ||
	    v > (1U << UBLK_IO_BUF_BITS))
		return -EINVAL;
	o->max_io_bytes = v;
	if (!bublk_json_get_str(state, "data_mode", rs->mode, sizeof(rs->mode)))
		o->data_mode = strcmp(rs->mode, "user_copy") ? BUBLK_MODE_COPY : BUBLK_MODE_USER_COPY;
	o->readonly = strstr(state, "\"readonly\": true") != NULL;
	if (!bublk_json_get_str(state, "base", rs->base, sizeof(rs->base)))
		o->base = rs->base;
	if (strstr(state, "\"dispatch\": \"c\""))
		o->dispatch = BUBLK_DISPATCH_C;
	if (!bublk_json_get_str(state, "config", rs->config, sizeof(rs->config))) {
		char *csave = NULL;

		for (char *c = strtok_r(rs->config, ";", &csave); c && o->nr_config < 16;
		     c = strtok_r(NULL, ";", &csave))
			o->config[o->nr_config++] = c;
	}
	o->target = rs->target;
	for (char *f = strtok_r(rs->files, ",", &save); f && o->nr_files < BUBLK_MAX_BACKENDS;
	     f = strtok_r(NULL, ",", &save))
		o->files[o->nr_files++] = f;
	return 0;
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
	static struct recover_state rs;
	struct bublk_dev_opts o;
	unsigned long long pid = 0;
	bool foreground = false, json = false;
	int opt, id = -1, ret;
	char *state;

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
	state = bublk_state_read(id);
	if (!state) {
		cli_err("recover", "dev %d: no state file %s/%d.json: not a bublk device, or already deleted",
			id, BUBLK_RUN_DIR, id);
		return 1;
	}
	bublk_json_get_u64(state, "pid", &pid);
	/* a daemon just killed (kill -9) takes a moment to be gone: wait for it */
	for (int i = 0; i < 30 && pid_alive((int)pid); i++)
		usleep(100000);
	if (pid_alive((int)pid)) {
		cli_err("recover", "dev %d: its daemon (pid %llu) is still running: nothing to recover",
			id, pid);
		free(state);
		return 1;
	}
	ret = recover_parse_state(state, &rs, &o);
	free(state);
	if (ret) {
		cli_err("recover", "dev %d: state file %s/%d.json is incomplete or damaged", id,
			BUBLK_RUN_DIR, id);
		return 1;
	}
	return bublk_launch(&o, id, foreground, json);
}

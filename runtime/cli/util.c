// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <limits.h>
#include <stdlib.h>
#include <bublk/abi.h>

#include "cli.h"
#include "state.h"
#include "stats_map.h"

void cli_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bublk %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool pid_alive(int pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	bool alive = false;

	if (pid <= 0 || (kill(pid, 0) && errno == ESRCH))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	/* "pid (comm) S ...": a zombie has exited already */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
		alive = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return alive;
}

int cli_dev_id(const char *cmd, const char *arg, int *id)
{
	if (parse_int(arg, 0, INT_MAX, id)) {
		cli_err(cmd, "bad -n \"%s\": a device number (see bublk list)", arg);
		return -EINVAL;
	}
	return 0;
}

int cli_live_map(const char *cmd, int id, const char *name, unsigned int *queues)
{
	struct bublk_state *st = malloc(sizeof(*st));
	char err[PATH_MAX + 512];
	int fd, ret, q;

	if (!st)
		return -ENOMEM;
	ret = bublk_state_load(id, st, err, sizeof(err));
	q = st->nr_queues;
	free(st);
	if (ret == -ENOENT) {
		cli_err(cmd, "dev %d: no bublk device with that number (see bublk list)", id);
		return ret;
	}
	if (ret) {
		cli_err(cmd, "dev %d: %s", id, err);
		return ret;
	}
	fd = stats_map_open(id, name);
	if (fd < 0)
		cli_err(cmd, "dev %d: /sys/fs/bpf/bublk/%d/%s: %s (is its daemon running?)", id, id,
			name, strerror(-fd));
	*queues = q;
	return fd;
}

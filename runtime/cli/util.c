// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bublk/abi.h>

#include "cli.h"
#include "control.h"
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

/* a process's start, in seconds since the epoch (/proc/PID/stat field 22), or -1 */
static long long proc_start_time(int pid)
{
	unsigned long long ticks = 0, btime = 0;
	char path[64], buf[1024], *p;
	bool got = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* after "pid (comm)": field 3 (state) ... field 22 (starttime) */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
		return -1;
	f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "btime %llu", &btime) == 1) {
			got = true;
			break;
		}
	fclose(f);
	return got ? (long long)(btime + ticks / sysconf(_SC_CLK_TCK)) : -1;
}

bool daemon_alive(unsigned int id, int pid)
{
	char path[300], want[64], link[64], comm[32] = "";
	struct dirent *e;
	struct stat st;
	long long start;
	bool found = false;
	DIR *d;
	FILE *f;

	if (!bublk_proc_running(pid))
		return false;
	/* who may signal the daemon (root) sees its descriptors: exact answer */
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	snprintf(want, sizeof(want), "/dev/ublkc%u", id);
	d = opendir(path);
	if (d) {
		while (!found && (e = readdir(d))) {
			char fd_path[600];
			ssize_t n;

			snprintf(fd_path, sizeof(fd_path), "%s/%s", path, e->d_name);
			n = readlink(fd_path, link, sizeof(link) - 1);
			if (n > 0) {
				link[n] = '\0';
				found = !strcmp(link, want);
			}
		}
		closedir(d);
		return found;
	}
	/*
	 * Others (bublk list as a user): a process named bublk that started
	 * before the state file was last written, as its daemon did. A
	 * reused pid belongs to a process started after the daemon died,
	 * which is after its last write. (1 s slack: the boot time in
	 * /proc/stat is whole seconds.)
	 */
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "r");
	if (!f || !fgets(comm, sizeof(comm), f)) {
		if (f)
			fclose(f);
		return false;
	}
	fclose(f);
	if (strcmp(comm, "bublk\n"))
		return false;
	bublk_state_path(path, sizeof(path), id, "json");
	start = proc_start_time(pid);
	return start >= 0 && !stat(path, &st) && start <= (long long)st.st_mtime + 1;
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

/*
 * Send one request line to device id's daemon (its control socket) and put
 * the answer in answer; every failure is reported as "bublk CMD: dev N: ...".
 * 0 when the daemon answered that it did it.
 */
int cli_control_request(const char *cmd, int id, const char *req, char *answer, size_t len)
{
	int ret;

	answer[0] = '\0';
	ret = bublk_control_request(id, req, answer, len);
	if (ret == -ENOENT || ret == -ECONNREFUSED) {
		cli_err(cmd, "dev %d: no daemon answers on /run/bublk/%d.sock (is the device served by bublk? see bublk list)",
			id, id);
		return ret;
	}
	if (ret && !answer[0]) {
		cli_err(cmd, "dev %d: control socket: %s", id, strerror(-ret));
		return ret;
	}
	if (ret)
		fprintf(stderr, "bublk %s: dev %d: %s", cmd, id, answer);
	return ret;
}

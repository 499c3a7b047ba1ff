// SPDX-License-Identifier: MIT
/* Reading a live device's pinned bublk_stats and bublk_trace maps. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "stats_map.h"

int stats_map_open(unsigned int id, const char *name)
{
	char path[256];

	int fd;

	snprintf(path, sizeof(path), "/sys/fs/bpf/bublk/%u/%s", id, name);
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int stats_read(int fd, int nr_queues, struct bublk_stats *per_queue)
{
	for (__u32 q = 0; q < (__u32)nr_queues; q++) {
		if (bpf_map_lookup_elem(fd, &q, &per_queue[q]))
			return -errno;
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
#ifndef BUBLK_STATS_MAP_H
#define BUBLK_STATS_MAP_H

#include <bublk/abi.h>

/* fd of /sys/fs/bpf/bublk/<id>/<name>, or -errno */
int stats_map_open(unsigned int id, const char *name);
/* the first nr_queues entries of a bublk_stats map */
int stats_read(int fd, int nr_queues, struct bublk_stats *per_queue);

#endif

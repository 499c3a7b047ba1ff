// SPDX-License-Identifier: MIT
/*
 * What this kernel lets a target have, asked directly: when a load fails,
 * the verifier log is not always the reason. Some kernels (seen: a 6.18
 * build) refuse every BPF arena map with EPERM even to root with CAP_BPF
 * and CAP_SYS_ADMIN, and libbpf then only suggests raising "ulimit -l".
 */
#include <errno.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "loader.h"

int bublk_arena_probe(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	int fd;

	/* one page, no user address: nothing is mapped, nothing can collide */
	fd = bpf_map_create(BPF_MAP_TYPE_ARENA, "bublk_probe", 0, 0, 1, &opts);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

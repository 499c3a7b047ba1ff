/* SPDX-License-Identifier: MIT */
/*
 * The host BPF tests on a kernel that refuses BPF arena maps: with
 * --skip-without-arena (selftests/run.sh passes it on the host only) they
 * report one skip with the reason instead of a failure per target, since
 * t_bpf_targets_vm runs the same programs without the flag on each VM
 * kernel, where a refusal fails.
 */
#ifndef BUBLK_ARENA_SKIP_H
#define BUBLK_ARENA_SKIP_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "loader.h"

/* the object directory from argv (default kept), and true when the caller should exit 0 */
static inline bool arena_skip(int argc, char **argv, const char *name, const char **obj_dir)
{
	bool skip_ok = false;
	struct utsname u;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--skip-without-arena"))
			skip_ok = true;
		else
			*obj_dir = argv[i];
	}
	ret = bublk_arena_probe();
	if (!ret || !skip_ok)
		return false;
	uname(&u);
	printf("skip %s: this host kernel (%s) refuses BPF arena maps (%s); t_bpf_targets_vm runs these checks on each VM kernel\n",
	       name, u.release, strerror(-ret));
	return true;
}

#endif

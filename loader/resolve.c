// SPDX-License-Identifier: MIT
/* Where a target named on the command line lives. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"

static int try_dir(const char *dir, const char *name, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s.bpf.o", dir, name);

	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	return access(out, R_OK) ? -ENOENT : 0;
}

int bublk_target_resolve(const char *name, char *out, size_t outlen)
{
	char exe[PATH_MAX], dir[PATH_MAX + 32];
	const char *env = getenv("BUBLK_TARGET_PATH");
	size_t len = strlen(name);
	ssize_t n;

	if (strchr(name, '/') || (len > 2 && !strcmp(name + len - 2, ".o"))) {
		if ((size_t)snprintf(out, outlen, "%s", name) >= outlen)
			return -ENAMETOOLONG;
		return access(out, R_OK) ? -errno : 0;
	}
	if (env) {
		char *copy = strdup(env), *save = NULL;

		if (!copy)
			return -ENOMEM;
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			if (!try_dir(d, name, out, outlen)) {
				free(copy);
				return 0;
			}
		}
		free(copy);
	}
	/* build tree: build/bublk next to build/bpf/NAME.bpf.o */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');

		if (slash) {
			*slash = 0;
			snprintf(dir, sizeof(dir), "%s/bpf", exe);
			if (!try_dir(dir, name, out, outlen))
				return 0;
			snprintf(dir, sizeof(dir), "%s/../lib/bublk", exe);
			if (!try_dir(dir, name, out, outlen))
				return 0;
		}
	}
	return try_dir(BUBLK_TARGET_DIR, name, out, outlen);
}

// SPDX-License-Identifier: MIT
/* Leftovers of crashed daemons that have no state file (leftovers.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "devlock.h"
#include "leftovers.h"
#include "loader.h"
#include "state.h"

/* ours alone, as the loader demands of a pin directory before using it */
static bool dir_ours(const char *path)
{
	struct stat st;

	return !lstat(path, &st) && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       !(st.st_mode & (S_IWGRP | S_IWOTH));
}

static bool bublk_pins(unsigned int id)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	struct stat st;

	if (!dir_ours(BUBLK_PIN_ROOT))
		return false;
	bublk_pin_dir(id, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/bublk_dev", dir);
	return dir_ours(dir) && !lstat(path, &st);
}

static bool has_state(unsigned int id)
{
	char path[256];

	bublk_state_path(path, sizeof(path), id, "json");
	return !access(path, F_OK);
}

bool leftover_pins_only(unsigned int id)
{
	return !has_state(id) && bublk_pins(id);
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return x < y ? -1 : x > y;
}

int leftover_ids(unsigned int *ids, int max)
{
	int n = bublk_state_ids(ids, max), m;
	struct dirent *e;
	DIR *d;

	d = dir_ours(BUBLK_PIN_ROOT) ? opendir(BUBLK_PIN_ROOT) : NULL;
	while (d && n < max && (e = readdir(d))) {
		unsigned int id;
		char end;

		if (sscanf(e->d_name, "%u%c", &id, &end) != 1 || !leftover_pins_only(id))
			continue;
		ids[n++] = id;
	}
	if (d)
		closedir(d);
	qsort(ids, n, sizeof(ids[0]), cmp_uint);
	/* a state file written meanwhile would list an id twice */
	for (int i = m = 0; i < n; i++)
		if (!m || ids[m - 1] != ids[i])
			ids[m++] = ids[i];
	return m;
}

int leftover_remove_pins(unsigned int id)
{
	char err[512];
	int ret = bublk_devlock_take(id, "del", err, sizeof(err));

	if (ret) {
		cli_err("del", "%s", err);
		return ret;
	}
	/* checked again under the lock: an add may have claimed the id meanwhile */
	if (bublk_ublk_dev_exists(id) || !leftover_pins_only(id)) {
		bublk_devlock_release(id, true);
		return 0;
	}
	ret = bublk_pin_remove(id);
	if (ret)
		cli_err("del", "dev %u: removing its pins %s/%u: %s", id, BUBLK_PIN_ROOT, id,
			strerror(-ret));
	bublk_devlock_release(id, true);
	return ret;
}

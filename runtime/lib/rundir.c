// SPDX-License-Identifier: MIT
/*
 * Where /run is writable by users (some VMs and containers mount it 1777),
 * a user could create /run/bublk before root does, or plant symlinks in
 * it: root's daemon would then write its state and log through them, and
 * "bublk del" would signal whatever pid the user wrote. So the daemon and
 * the CLI use a run directory only once its owner and mode say that only
 * root could have put anything there.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rundir.h"

static bool owner_ok(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

int bublk_dir_trusted(const char *path, bool create, mode_t mode, char *err, size_t errlen)
{
	char parent[PATH_MAX];
	struct stat st;

	if (create && mkdir(path, mode) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -errno;
	}
	if (lstat(path, &st)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is %s, not a directory: refusing to use it (remove it; bublk creates the directory itself)",
			 path, S_ISLNK(st.st_mode) ? "a symlink" : "a file");
		return -ENOTDIR;
	}
	if (!owner_ok(st.st_uid) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen, "%s is owned by uid %u with mode %04o: refusing to trust it (it must be root's and writable by root only; remove it and bublk recreates it)",
			 path, (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 07777));
		return -EPERM;
	}
	/* dirname() may modify its argument */
	snprintf(parent, sizeof(parent), "%s", path);
	if (lstat(dirname(parent), &st)) {
		snprintf(err, errlen, "%s: %s", parent, strerror(errno));
		return -errno;
	}
	/* others may create in a sticky /run (1777), but not rename root's directory */
	if (!owner_ok(st.st_uid) ||
	    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))) {
		snprintf(err, errlen, "%s is owned by uid %u with mode %04o: others could replace %s in it (make it root's, not writable by others, or sticky)",
			 parent, (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The directories root's daemon writes in (/run/bublk, /run/ublk) and the
 * CLI reads pids and sockets from: trusted only when nobody but root (or
 * this process's user) can change what is in them.
 */
#ifndef BUBLK_RUNDIR_H
#define BUBLK_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * 0 if path is a directory, not a symlink, owned by root or by this
 * process's user, that neither group nor others may write, in a parent
 * that others cannot swap it out of (owned likewise, and not writable by
 * others unless sticky). With create, a missing path is made first with
 * mode. Otherwise -errno and a message in err saying what to fix:
 * -ENOENT (missing, without create), -ENOTDIR, -EPERM (owner or mode).
 */
int bublk_dir_trusted(const char *path, bool create, mode_t mode, char *err, size_t errlen);

#endif

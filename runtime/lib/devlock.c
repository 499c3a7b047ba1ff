// SPDX-License-Identifier: MIT
/*
 * Device locks (devlock.h). Why a lock and not "pin only once the queues
 * are ours": two "bublk recover" raced in START_USER_RECOVERY, target load
 * and pinning, and the loser replaced the winner's pins before failing to
 * open /dev/ublkcN. Moving the pins later would fix that one step, but
 * every other step that touches shared state (the state file, sockets, a
 * "bublk add" reusing an id a dying daemon still cleans up, "bublk del"
 * removing the pins of a device just recreated under the same id) races
 * the same way. One lock per id, held for the daemon's whole life, orders
 * them all, and says at once who is in the way.
 *
 * OFD locks (fcntl F_OFD_SETLK) rather than flock(): the same semantics
 * (per open file, inherited by fork, dropped at the last close or at
 * death), but F_OFD_GETLK tests for the lock without taking it, so a
 * reader (list, del, recover's check) never makes a taker fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev.h"
#include "devlock.h"
#include "log.h"
#include "state.h"
#include "util.h"

/* the driver's limit on device numbers (UBLK_MAX_UBLKS, its minors) */
#define UBLK_MAX_DEV_IDS	(1U << 20)

/* the lock this process holds: a daemon serves one device */
static int lock_fd = -1;
static unsigned int lock_id;

static void lock_path(char *out, size_t len, unsigned int id)
{
	bublk_state_path(out, len, id, "lock");
}

static void whole_file(struct flock *fl, short type)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;	/* l_start = l_len = 0: the whole file */
}

static void note_holder(int fd, const char *role)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%d %s\n", (int)getpid(), role);

	/* only ever read while the lock is held, so a torn write is retried by the reader */
	if (ftruncate(fd, 0) || pwrite(fd, buf, n, 0) != n)
		bublk_log("writing the device lock's holder: %s", strerror(errno));
}

int bublk_devlock_take(unsigned int id, const char *role, char *err, size_t errlen)
{
	char path[256];
	struct stat a, b;
	struct flock fl;
	int fd;

	if (lock_fd >= 0) {
		if (lock_id == id) {
			note_holder(lock_fd, role);
			return 0;
		}
		bublk_devlock_release(lock_id, false);
	}
	mkdir(BUBLK_RUN_DIR, 0755);
	lock_path(path, sizeof(path), id);
	for (;;) {
		fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0) {
			int e = errno;

			snprintf(err, errlen, "dev %u: opening its lock %s: %s", id, path, strerror(e));
			return -e;
		}
		whole_file(&fl, F_WRLCK);
		if (fcntl(fd, F_OFD_SETLK, &fl)) {
			int e = errno, pid;
			char r[BUBLK_DEVLOCK_ROLE_LEN] = "";

			close(fd);
			if (e != EAGAIN && e != EACCES) {
				snprintf(err, errlen, "dev %u: locking %s: %s", id, path, strerror(e));
				return -e;
			}
			pid = bublk_devlock_holder(id, r, sizeof(r));
			bublk_devlock_describe(id, pid, r, err, errlen);
			return -EBUSY;
		}
		/*
		 * A holder removes the file while it still holds the lock (release
		 * with remove): if the name no longer leads to what we locked, the
		 * lock is on a dead inode; take the new file's.
		 */
		if (!fstat(fd, &a) && !lstat(path, &b) && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			break;
		close(fd);
	}
	note_holder(fd, role);
	lock_fd = fd;
	lock_id = id;
	return 0;
}

void bublk_devlock_release(unsigned int id, bool remove)
{
	char path[256];

	if (lock_fd < 0 || lock_id != id)
		return;
	if (remove) {
		lock_path(path, sizeof(path), id);
		unlink(path);
	}
	close(lock_fd);
	lock_fd = -1;
}

/* how often (every 2 ms) a reader looks for the holder's name */
#define HOLDER_NOTE_POLLS	200

int bublk_devlock_holder(unsigned int id, char *role, size_t rolelen)
{
	char path[256], buf[64], r[BUBLK_DEVLOCK_ROLE_LEN];
	struct flock fl;
	int fd, pid = -EBUSY;

	if (role && rolelen)
		role[0] = 0;
	lock_path(path, sizeof(path), id);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;	/* never locked, or its last holder removed it */
	/*
	 * The holder writes its name right after locking: give it a moment.
	 * Until then the file still names the previous holder; a name whose
	 * process has exited is such a leftover, unless that process is the
	 * holder itself, a killed daemon whose io_uring workers still hold its
	 * files: the name is taken once the new holder had time to write.
	 */
	for (int i = 0; i < HOLDER_NOTE_POLLS; i++) {
		ssize_t n;

		whole_file(&fl, F_WRLCK);
		if (fcntl(fd, F_OFD_GETLK, &fl) || fl.l_type == F_UNLCK) {
			pid = 0;
			break;
		}
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = 0;
			if (sscanf(buf, "%d %15s", &pid, r) == 2 && pid > 0 &&
			    (bublk_proc_running(pid) || i >= HOLDER_NOTE_POLLS / 2)) {
				if (role)
					snprintf(role, rolelen, "%s", r);
				break;
			}
		}
		pid = -EBUSY;
		usleep(2000);
	}
	close(fd);
	return pid;
}

void bublk_devlock_describe(unsigned int id, int pid, const char *role, char *out, size_t len)
{
	struct bublk_state *st;
	bool serving = false;
	char err[8];

	if (pid <= 0) {
		snprintf(out, len, "dev %u is busy: another bublk process holds it (%s/%u.lock); retry, or see bublk list",
			 id, BUBLK_RUN_DIR, id);
		return;
	}
	if (!strcmp(role, "del")) {
		snprintf(out, len, "dev %u is being deleted by pid %d (bublk del)", id, pid);
		return;
	}
	/* the holder serves the device once the state file names it, live */
	st = malloc(sizeof(*st));
	if (st && !bublk_state_load(id, st, err, sizeof(err)))
		serving = !st->creating && st->pid == pid;
	free(st);
	if (serving)
		snprintf(out, len, "dev %u is being served by pid %d: stop it first (bublk del -n %u), or see bublk list",
			 id, pid, id);
	else if (!strcmp(role, "recover"))
		snprintf(out, len, "dev %u is being recovered by pid %d (another bublk recover): wait for it, see bublk list",
			 id, pid);
	else
		snprintf(out, len, "dev %u is being created by pid %d (bublk add): wait for it, see bublk list",
			 id, pid);
}

bool bublk_ublk_dev_exists(unsigned int id)
{
	char path[64];

	/* the char device is there from ADD_DEV to DEL_DEV, started or not */
	snprintf(path, sizeof(path), "/sys/class/ublk-char/ublkc%u", id);
	if (!access(path, F_OK))
		return true;
	snprintf(path, sizeof(path), "/dev/ublkc%u", id);
	return !access(path, F_OK);
}

int bublk_dev_add_claimed(struct bublk_dev *dev)
{
	int ret = -ENOSPC, clashes = 0;
	char err[512];

	for (unsigned int id = 0; id < UBLK_MAX_DEV_IDS && clashes < 64; id++) {
		/* held: a live daemon, an add or recover in progress, a del cleaning up */
		if (bublk_ublk_dev_exists(id) || bublk_devlock_take(id, "add", err, sizeof(err)))
			continue;
		dev->info.dev_id = id;
		/*
		 * Before the kernel device exists: a crash at any later moment
		 * leaves a state file, so "bublk list" shows the device and
		 * "bublk del" deletes it. Without it (no room in /run?) the
		 * device is still made; it is just not found after a crash.
		 */
		ret = bublk_state_write_creating(dev, getpid());
		if (ret)
			bublk_log("dev %u: writing its provisional state file: %s", id, strerror(-ret));
		ret = bublk_ctrl_add_dev(&dev->ctrl, &dev->info);
		if (!ret)
			return 0;
		bublk_state_remove(id);
		bublk_devlock_release(id, true);
		dev->info.dev_id = id;
		if (ret != -EEXIST)
			return ret;
		/* another ublk user took the id meanwhile: the next one */
		clashes++;
	}
	return ret;
}

void bublk_dev_unclaim(const struct bublk_dev *dev)
{
	unsigned int id = dev->info.dev_id;

	if (lock_fd < 0 || lock_id != id)
		return;
	/* a device DEL_DEV could not delete keeps its file, for bublk del */
	if (!bublk_ublk_dev_exists(id))
		bublk_state_remove(id);
	bublk_devlock_release(id, true);
}

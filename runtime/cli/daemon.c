// SPDX-License-Identifier: MIT
/*
 * The daemon behind "bublk add" and "bublk recover": bublk_launch creates
 * or takes over the device, then serves it until a stop signal.
 *
 * The parent forks the daemon and waits on a pipe until the device is
 * live (or failed), so "bublk add" returns only when /dev/ublkbN can be
 * used, and its exit status says whether it can.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "control.h"
#include "ctlplane.h"
#include "dev.h"
#include "devlock.h"
#include "log.h"
#include "rundir.h"
#include "state.h"

/* the signals that stop a daemon */
static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
}

/* serve until a stop signal; the signals are blocked in every thread */
static int serve(struct bublk_dev *dev)
{
	struct bublk_control ctl;
	sigset_t set;
	int sig = 0;
	bool leave;

	/* without it the device still serves; only "bublk reload" is lost */
	bool ctl_ok = !bublk_control_start(&ctl, dev);

	stop_signals(&set);
	sigwait(&set, &sig);
	bublk_log("dev %u: %s: stopping", dev->info.dev_id, strsignal(sig));
	if (ctl_ok)
		bublk_control_stop(&ctl);
	/* quiesced (bublk quiesce): release it, keep it and its state for bublk recover */
	leave = bublk_dev_leaving(dev);
	bublk_dev_destroy(dev);
	if (!leave)
		bublk_state_remove(dev->info.dev_id);
	/* last: until the files are gone, no add or recover may take the id */
	bublk_devlock_release(dev->info.dev_id, !leave);
	return 0;
}

static void block_stop_signals(void)
{
	sigset_t set;

	stop_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/*
	 * A socket client that closes before reading its answer must not
	 * kill the daemon (every socket write also uses MSG_NOSIGNAL).
	 */
	signal(SIGPIPE, SIG_IGN);
}

/*
 * Sockets a crashed daemon left in dir (prefix<N>.sock): remove those of
 * devices that no longer exist. A device being created has its ublk
 * device before its sockets, so no live socket is taken for stale.
 */
static void sweep_stale_sockets(const char *dir, const char *prefix)
{
	size_t plen = strlen(prefix);
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[512], tail[8];
		unsigned int id;

		if (strncmp(e->d_name, prefix, plen) ||
		    sscanf(e->d_name + plen, "%u.%7s", &id, tail) != 2 || strcmp(tail, "sock") ||
		    bublk_ublk_dev_exists(id))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

/*
 * Before root writes anything under /run/bublk or /run/ublk: the
 * directories must be root's alone (see rundir.c), else a user who made
 * them first could redirect the state file, the log or the sockets.
 */
static int run_dirs_ready(const char *cmd)
{
	char err[512];

	if (bublk_dir_trusted(BUBLK_RUN_DIR, true, 0755, err, sizeof(err))) {
		cli_err(cmd, "%s", err);
		return -EPERM;
	}
	sweep_stale_sockets(BUBLK_RUN_DIR, "");
	if (!bublk_dir_trusted("/run/ublk", false, 0755, err, sizeof(err)))
		sweep_stale_sockets("/run/ublk", "ublkb");
	return 0;
}

/*
 * The daemon leaves with _exit() (the parent's stdio buffers are not its
 * own), which skips LeakSanitizer's exit-time check: in a sanitized build
 * (make SAN=1) run it explicitly, after the device is torn down, so the
 * VM tests see every allocation the daemon did not free.
 */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
static void daemon_leak_check(void)
{
	__lsan_do_leak_check();
}
#else
static void daemon_leak_check(void)
{
}
#endif

static void print_live(const struct bublk_dev *dev, bool json)
{
	if (json) {
		char *s = bublk_state_read(dev->info.dev_id);

		if (s) {
			fputs(s, stdout);
			free(s);
			return;
		}
	}
	printf("/dev/ublkb%u\n", dev->info.dev_id);
}

/* point the daemon's output at its log file, detach from the terminal */
static void daemon_detach(unsigned int dev_id)
{
	char path[256];
	int fd;

	bublk_state_path(path, sizeof(path), dev_id, "log");
	/* never through a symlink (the directory is checked, this is belt and braces) */
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
}

/*
 * Create (recover_id < 0) or take over a device, then serve it: in this
 * process with foreground, else in a daemon this process waits for until
 * the device is live or has failed.
 */
int bublk_launch(const struct bublk_dev_opts *o, int recover_id, bool foreground, bool json)
{
	static struct bublk_dev dev;	/* large; lives as long as the daemon */
	const char *cmd = recover_id >= 0 ? "recover" : "add";
	char err[1024] = "", msg[1200];
	int pipefd[2], ret;
	pid_t pid;

	if (run_dirs_ready(cmd))
		return 1;
	if (foreground) {
		block_stop_signals();
		ret = recover_id >= 0 ? bublk_dev_recover(&dev, o, recover_id, err, sizeof(err)) :
				     bublk_dev_create(&dev, o, err, sizeof(err));
		if (ret) {
			cli_err(cmd, "%s", err);
			return 1;
		}
		bublk_state_write(&dev, getpid());
		print_live(&dev, json);
		fflush(stdout);
		return serve(&dev);
	}

	if (pipe2(pipefd, O_CLOEXEC)) {
		cli_err(cmd, "pipe: %s", strerror(errno));
		return 1;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		cli_err(cmd, "fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		/* the daemon */
		close(pipefd[0]);
		setsid();
		block_stop_signals();
		ret = recover_id >= 0 ? bublk_dev_recover(&dev, o, recover_id, err, sizeof(err)) :
				     bublk_dev_create(&dev, o, err, sizeof(err));
		if (ret) {
			snprintf(msg, sizeof(msg), "ERR %s\n", err);
			if (write(pipefd[1], msg, strlen(msg)) < 0)
				_exit(1);
			_exit(1);
		}
		bublk_state_write(&dev, getpid());
		daemon_detach(dev.info.dev_id);
		bublk_log("dev %u: live, target %s (%s), pid %d", dev.info.dev_id, dev.target.name,
			  dev.target.path, getpid());
		snprintf(msg, sizeof(msg), "OK %u\n", dev.info.dev_id);
		if (write(pipefd[1], msg, strlen(msg)) < 0)
			bublk_log("dev %u: telling the parent: %s", dev.info.dev_id, strerror(errno));
		close(pipefd[1]);
		ret = serve(&dev);
		daemon_leak_check();
		_exit(ret);
	}

	close(pipefd[1]);
	{
		size_t n = 0;
		ssize_t k;

		while (n < sizeof(msg) - 1 && (k = read(pipefd[0], msg + n, sizeof(msg) - 1 - n)) > 0)
			n += k;
		msg[n] = 0;
	}
	close(pipefd[0]);
	if (!strncmp(msg, "OK ", 3)) {
		unsigned int id = strtoul(msg + 3, NULL, 10);

		dev.info.dev_id = id;
		print_live(&dev, json);
		return 0;
	}
	waitpid(pid, NULL, 0);
	if (!strncmp(msg, "ERR ", 4)) {
		msg[strcspn(msg, "\n")] = 0;
		cli_err(cmd, "%s", msg + 4);
	} else {
		cli_err(cmd, "the daemon exited before the device was live");
	}
	return 1;
}

/* bublk add -t NAME --help */

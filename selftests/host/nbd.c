// SPDX-License-Identifier: MIT
/*
 * NBD backends against real servers, on the host (no ublk needed): each
 * case starts nbdkit on a unix socket in a private directory and opens
 * the export as bublk_backend_open does for "bublk add -f nbd+unix://...":
 * size, read-only state, what the server can do, its block size, and the
 * refusals users see (no server, unknown export, read-only export, options
 * the server cannot serve). Skips when nbdkit is not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend_nbd.h"
#include "dev.h"
#include "test.h"

extern char **environ;

static char dir[64];
static pid_t servers[16];
static int nr_servers;

/* true once something accepts connections on path */
static bool listening(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok = fd >= 0 && !connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (fd >= 0)
		close(fd);
	return ok;
}

/* nbdkit, quiet: our connect probes make it log broken handshakes */
static int spawn_nbdkit(pid_t *pid, char **argv)
{
	posix_spawn_file_actions_t fa;
	int ret;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	ret = posix_spawnp(pid, "nbdkit", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return ret;
}

/* nbdkit -f -U DIR/NAME ARGS...; the URL of its default export in url */
static bool serve(const char *name, char *url, size_t len, const char *const *args)
{
	char sock[96], *argv[16];
	int n = 0, st;
	pid_t pid;

	snprintf(sock, sizeof(sock), "%s/%s", dir, name);
	argv[n++] = "nbdkit";
	argv[n++] = "-f";
	argv[n++] = "-U";
	argv[n++] = sock;
	for (; *args && n < 15; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	if (spawn_nbdkit(&pid, argv))
		return false;
	servers[nr_servers++] = pid;
	/* wait for the condition: its socket answers, or nbdkit is gone */
	for (int i = 0; i < 3000; i++) {
		if (listening(sock)) {
			snprintf(url, len, "nbd+unix:///?socket=%s", sock);
			return true;
		}
		if (waitpid(pid, &st, WNOHANG) == pid)
			return false;
		usleep(10000);
	}
	return false;
}

static struct bublk_backend b;
static char err[1024];

static int open_nbd(const char *url, bool readonly)
{
	err[0] = 0;
	return bublk_backend_open(&b, url, readonly, err, sizeof(err));
}

static void test_memory(void)
{
	char url[256];
	const char *args[] = { "memory", "16M", NULL };

	CHECK(serve("mem", url, sizeof(url), args), "nbdkit memory did not start");
	CHECK(!open_nbd(url, false), "%s", err);
	CHECK(b.nbd && b.fd == -1 && b.size == 16 << 20 && !b.readonly, "nbd %d fd %d size %llu",
	      b.nbd, b.fd, (unsigned long long)b.size);
	CHECK((b.nbd_caps & (BUBLK_NBD_CAN_FLUSH | BUBLK_NBD_CAN_FUA | BUBLK_NBD_CAN_TRIM |
			     BUBLK_NBD_CAN_ZERO | BUBLK_NBD_CAN_MULTI_CONN)) ==
	      (BUBLK_NBD_CAN_FLUSH | BUBLK_NBD_CAN_FUA | BUBLK_NBD_CAN_TRIM | BUBLK_NBD_CAN_ZERO |
	       BUBLK_NBD_CAN_MULTI_CONN), "caps %#x", b.nbd_caps);
	bublk_backend_close(&b);
}

static void test_refusals(void)
{
	char url[256], named[300];
	const char *ro[] = { "-r", "memory", "1M", NULL };
	const char *strict[] = { "--filter=exportname", "memory", "1M", "exportname=good",
				 "exportname-strict=true", NULL };

	snprintf(url, sizeof(url), "nbd+unix:///?socket=%s/nobody", dir);
	CHECK(open_nbd(url, false) < 0 && strstr(err, "cannot connect") &&
	      strstr(err, "is an NBD server running"), "no server: %s", err);

	CHECK(serve("ro", url, sizeof(url), ro), "nbdkit -r did not start");
	CHECK(open_nbd(url, false) == -EROFS && strstr(err, "add --readonly"), "read-only: %s", err);
	CHECK(!open_nbd(url, true) && b.readonly, "read-only with readonly: %s", err);

	CHECK(serve("named", url, sizeof(url), strict), "nbdkit exportname did not start");
	snprintf(named, sizeof(named), "nbd+unix:///bad?socket=%s/named", dir);
	CHECK(open_nbd(named, false) == -ENOENT && strstr(err, "has no export \"bad\""),
	      "unknown export: %s", err);
	snprintf(named, sizeof(named), "nbd+unix:///good?socket=%s/named", dir);
	CHECK(!open_nbd(named, false) && b.size == 1 << 20, "named export: %s", err);

	CHECK(open_nbd("nbd+unix:///x", false) == -EINVAL && strstr(err, "socket=PATH"),
	      "bad address: %s", err);
}

/* what the device's options must respect: queues, block size, shmem */
static void test_dev_check(void)
{
	struct bublk_dev *dev = calloc(1, sizeof(*dev));
	struct bublk_dev_opts o = { .nr_queues = 1 };
	const char *single[] = { "--filter=multi-conn", "memory", "1M", "multi-conn-mode=disable", NULL };
	const char *big[] = { "--filter=blocksize-policy", "memory", "1M", "blocksize-minimum=4096", NULL };
	char url[256];

	CHECK(serve("single", url, sizeof(url), single), "nbdkit multi-conn filter did not start");
	CHECK(!open_nbd(url, false) && !(b.nbd_caps & BUBLK_NBD_CAN_MULTI_CONN), "%s caps %#x", err,
	      b.nbd_caps);
	dev->backends[0] = b;
	dev->nr_backends = 1;
	dev->block_size = 512;
	CHECK(!bublk_nbd_dev_check(dev, &o, err, sizeof(err)), "one queue: %s", err);
	o.nr_queues = 2;
	CHECK(bublk_nbd_dev_check(dev, &o, err, sizeof(err)) == -EINVAL && strstr(err, "multi-conn") &&
	      strstr(err, "-q 1"), "two queues without multi-conn: %s", err);
	o.nr_queues = 1;
	o.shmem_zc = true;
	CHECK(bublk_nbd_dev_check(dev, &o, err, sizeof(err)) == -EOPNOTSUPP && strstr(err, "--shmem-zc"),
	      "shmem: %s", err);
	o.shmem_zc = false;
	CHECK(bublk_dev_has_nbd(dev), "has nbd");

	CHECK(serve("big", url, sizeof(url), big), "nbdkit blocksize-policy filter did not start");
	CHECK(!open_nbd(url, false) && b.min_block == 4096, "%s min_block %u", err, b.min_block);
	dev->backends[0] = b;
	CHECK(!bublk_nbd_dev_check(dev, &o, err, sizeof(err)) && dev->block_size == 4096,
	      "4096-byte server, no --block-size: %s, block size %u", err, dev->block_size);
	dev->block_size = 512;
	o.block_size = 512;
	CHECK(bublk_nbd_dev_check(dev, &o, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "--block-size 4096"), "4096-byte server, --block-size 512: %s", err);
	free(dev);
}

int main(void)
{
	char *p;
	pid_t pid;

	if (spawn_nbdkit(&pid, (char *[]){ "nbdkit", "--version", NULL }) ||
	    waitpid(pid, NULL, 0) != pid) {
		printf("skip nbd: nbdkit is not installed (selftests/install-deps.sh installs it)\n");
		return 0;
	}
	snprintf(dir, sizeof(dir), "/tmp/bublk-nbd.XXXXXX");
	p = mkdtemp(dir);
	if (!p) {
		printf("not ok nbd: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	RUN(test_memory);
	RUN(test_refusals);
	RUN(test_dev_check);
	for (int i = 0; i < nr_servers; i++) {
		kill(servers[i], SIGTERM);
		waitpid(servers[i], NULL, 0);
	}
	/* the sockets nbdkit leaves, then the directory */
	{
		const char *names[] = { "mem", "ro", "named", "single", "big" };
		char path[128];

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			unlink(path);
		}
		rmdir(dir);
	}
	printf("# %d checks passed, %d failed\n", t_passed, t_failed);
	return t_failed != 0;
}

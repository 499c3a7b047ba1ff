// SPDX-License-Identifier: MIT
/*
 * bublk resize: change a live device's size. The daemon does the work (it
 * holds the backends and the target): the target's bublk_resize program
 * checks that the backends hold the new size, then UPDATE_SIZE tells the
 * kernel. Here: the arguments, and the one check only a caller can make,
 * that a shrink does not cut a mounted filesystem short.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "control.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bublk resize -n ID SIZE [--force]\n\n"
		   "Change the size of the live device /dev/ublkbID to SIZE (bytes, or a K/M/G/T\n"
		   "suffix) without stopping it (UBLK_F_UPDATE_SIZE, Linux 6.14+). SIZE must be a\n"
		   "multiple of the device's logical block size, and the target must accept it:\n"
		   "its bublk_resize program checks the backing files' current sizes (grow the\n"
		   "file first, e.g. truncate -s 2G disk.img). A filesystem on the device is\n"
		   "grown separately (resize2fs /dev/ublkbID).\n\n"
		   "  -n, --number ID   the device\n"
		   "      --force       shrink even when the device is mounted or held open\n"
		   "  -h, --help        this help\n");
}

/* the kernel's current size of /dev/ublkbID in bytes, or 0 */
static unsigned long long dev_bytes(int id)
{
	unsigned long long sectors = 0;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/block/ublkb%d/size", id);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &sectors) != 1)
		sectors = 0;
	fclose(f);
	return sectors << 9;
}

/* a mounted (or exclusively opened) block device refuses O_EXCL */
static bool dev_in_use(int id)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/dev/ublkb%d", id);
	fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == EBUSY;
}

int cmd_resize(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "number", required_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char req[64], answer[2048];
	unsigned long long cur;
	int id = -1, opt;
	bool force = false;
	uint64_t size;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (cli_dev_id("resize", optarg, &id))
				return 2;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (id < 0 || optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	if (parse_size(argv[optind], &size) || !size) {
		cli_err("resize", "bad SIZE \"%s\": give decimal bytes or a K/M/G/T suffix, e.g. 2G",
			argv[optind]);
		return 2;
	}
	cur = dev_bytes(id);
	if (!cur) {
		cli_err("resize", "dev %d: no /sys/block/ublkb%d: no such live device (see bublk list)",
			id, id);
		return 1;
	}
	if (size < cur && !force && dev_in_use(id)) {
		cli_err("resize", "dev %d: /dev/ublkb%d is mounted or held open: shrinking it from %llu to %llu bytes would cut off data a filesystem there may hold; unmount it (and shrink the filesystem first), or use --force",
			id, id, cur, (unsigned long long)size);
		return 1;
	}
	snprintf(req, sizeof(req), "resize %llu\n", (unsigned long long)size);
	if (cli_control_request("resize", id, req, answer, sizeof(answer)))
		return 1;
	fputs(answer, stdout);
	return 0;
}

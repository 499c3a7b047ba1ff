// SPDX-License-Identifier: MIT
/*
 * bublk add: its options, into a struct bublk_dev_opts; the daemon that
 * serves the device is started by bublk_launch (daemon.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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

/* long options without a letter */
enum { OPT_BATCH = 0x100 };

static void add_usage(FILE *f)
{
	fprintf(f,
		"usage: bublk add -t TARGET [-f FILE[,FILE...]] [--base IMG] [--size SIZE] [-q QUEUES]\n"
		"                 [-d DEPTH] [--max-io SIZE] [--block-size 512|4096] [--rotational]\n"
		"                 [--readonly] [--copy|--user-copy|--zero-copy[=manual]] [--legacy]\n"
		"                 [--recovery[=fail-io]]\n"
		"                 [--no-part-scan] [--batch]\n"
		"                 [--shmem-zc [--htlb FILE]... [--rdonly-shmem]]\n"
		"                 [--set KEY=VALUE]... [--dispatch bpf|c] [--engine kernel|user]\n"
		"                 [--foreground] [--json]\n"
		"       bublk add -t TARGET --help     the target's own help and options\n\n"
		"Create a ublk device served by a BPF target and print its block device\n"
		"(/dev/ublkbN) once it is live. A daemon keeps serving it until \"bublk del\".\n\n"
		"  -t, --target NAME|PATH  built-in target (see below) or a target object (.bpf.o)\n"
		"  -f, --file FILE[,...]   backing file(s) or block device(s), in backend order\n"
		"      --base IMG          read-only base image, the last backend (overlay)\n"
		"  -s, --size SIZE         device size (K/M/G/T suffixes); default: first file's size\n"
		"  -q, --queues N          hardware queues, one thread each (default %d)\n"
		"  -d, --depth N           requests in flight per queue (default %d)\n"
		"      --max-io SIZE       largest request (default 512K, 1M in zero copy, which needs\n"
		"                          no buffer per request; a target may lower it)\n"
		"      --block-size N      logical block size, 512 (default) or 4096\n"
		"      --rotational        tell the block layer seeks are expensive\n"
		"  -r, --readonly          read-only device; backing files opened read-only\n"
		"      --copy              copy mode: the kernel copies data to per-request buffers\n"
		"      --user-copy         UBLK_F_USER_COPY: data moved with pread/pwrite on /dev/ublkcN\n"
		"      --zero-copy[=manual] backends read and write the request's own pages; the data\n"
		"                          never enters the daemon: UBLK_F_AUTO_BUF_REG (Linux 6.16+),\n"
		"                          else (or =manual) UBLK_F_SUPPORT_ZERO_COPY (6.15+), each\n"
		"                          buffer registered by the daemon\n"
		"                          (default: the fastest the kernel grants: zero copy, user\n"
		"                          copy, copy; bublk list shows which)\n"
		"      --batch             UBLK_F_BATCH_IO (Linux 7.0+): ublk commands over arrays of tags\n"
		"                          (one multishot fetch and one commit per batch, not per request)\n"
		"      --legacy            use the pre-6.4 command opcodes instead of ioctl-encoded ones\n"
		"      --recovery          UBLK_F_USER_RECOVERY(+REISSUE): if the daemon dies, I/O waits\n"
		"                          and \"bublk recover -n N\" takes the device over\n"
		"      --recovery=fail-io  the same, but I/O fails at once while no daemon serves\n"
		"                          (UBLK_F_USER_RECOVERY_FAIL_IO, Linux 6.13+)\n"
		"      --no-part-scan      UBLK_F_NO_AUTO_PART_SCAN (Linux 7.0+): the kernel does not\n"
		"                          scan for partitions; blockdev --rereadpt does on request\n"
		"      --shmem-zc          UBLK_F_SHMEM_ZC: O_DIRECT I/O from memory shared with the\n"
		"                          daemon is served with no copy; clients share memfds over\n"
		"                          /run/ublk/ublkbN.sock; other I/O takes the normal path\n"
		"      --htlb FILE         map FILE (hugetlbfs, shared with clients) and register it\n"
		"      --rdonly-shmem      register --htlb files read-only (writes only match)\n"
		"      --dispatch bpf|c    who maps requests: the target's BPF program (default), or\n"
		"                          its C twin built into bublk (null, loop, stripe only;\n"
		"                          the reference for measuring what BPF costs)\n"
		"      --engine kernel|user who runs the queues' steady state: bublk's program inside\n"
		"                          io_uring_enter (Linux 7.1+, zero copy) or the daemon's\n"
		"                          queue threads (default: kernel where it can serve the\n"
		"                          device, the log says which and why)\n"
		"      --foreground        serve in this process until SIGINT/SIGTERM\n"
		"      --json              print the new device as JSON instead of its path\n"
		"      --set KEY=VALUE     a target option (a member of its bublk_config map)\n"
		"      --chunk SIZE        stripe: chunk size (same as --set chunk=SIZE; default 64K)\n"
		"  -h, --help              this help\n\n"
		"targets (each one's own BUBLK_HELP; bublk add -t NAME --help for more):\n",
		BUBLK_DEF_QUEUES, BUBLK_DEF_DEPTH);
	if (bublk_target_list(f, "  ", NULL, 0) <= 0)
		fprintf(f, "  none found (set BUBLK_TARGET_PATH, or give -t PATH.bpf.o)\n");
}

static int split_files(struct bublk_dev_opts *o, char *list)
{
	char *save = NULL;

	for (char *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		if (o->nr_files >= BUBLK_MAX_BACKENDS)
			return -E2BIG;
		o->files[o->nr_files++] = f;
	}
	return 0;
}

static int target_help(const char *name)
{
	struct bublk_target t;
	char path[PATH_MAX], err[512];
	int ret;

	ret = bublk_target_resolve(name, path, sizeof(path));
	if (ret) {
		cli_err("add", "target \"%s\": no such target object (%s)", name, strerror(-ret));
		return 1;
	}
	ret = bublk_target_open(&t, path, err, sizeof(err));
	if (ret) {
		cli_err("add", "%s", err);
		return 1;
	}
	bublk_target_print_help(&t, stdout);
	bublk_target_close(&t);
	return 0;
}

int add_parse(int argc, char **argv, struct bublk_dev_opts *o, bool *foreground, bool *json)
{
	static const struct option longopts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "file", required_argument, NULL, 'f' },
		{ "size", required_argument, NULL, 's' },
		{ "queues", required_argument, NULL, 'q' },
		{ "depth", required_argument, NULL, 'd' },
		{ "max-io", required_argument, NULL, 'm' },
		{ "readonly", no_argument, NULL, 'r' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "copy", no_argument, NULL, 'C' },
		{ "user-copy", no_argument, NULL, 'U' },
		{ "zero-copy", optional_argument, NULL, 'z' },
		{ "batch", no_argument, NULL, OPT_BATCH },
		{ "legacy", no_argument, NULL, 'L' },
		{ "recovery", optional_argument, NULL, 'R' },
		{ "no-part-scan", no_argument, NULL, 'P' },
		{ "set", required_argument, NULL, 'S' },
		{ "chunk", required_argument, NULL, 'K' },
		{ "base", required_argument, NULL, 'B' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "rotational", no_argument, NULL, 'O' },
		{ "shmem-zc", no_argument, NULL, 'Z' },
		{ "htlb", required_argument, NULL, 'H' },
		{ "rdonly-shmem", no_argument, NULL, 'Y' },
		{ "dispatch", required_argument, NULL, 'D' },
		{ "engine", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool help = false;
	uint64_t v;
	int opt;

	memset(o, 0, sizeof(*o));
	o->nr_queues = BUBLK_DEF_QUEUES;
	o->depth = BUBLK_DEF_DEPTH;
	o->max_io_bytes = BUBLK_DEF_IO_BYTES;
	o->max_io_default = true;
	*foreground = *json = false;
	optind = 0;	/* glibc: forget any earlier parse entirely */
	while ((opt = getopt_long(argc, argv, "t:f:s:q:d:rh", longopts, NULL)) != -1) {
		switch (opt) {
		case 't':
			o->target = optarg;
			break;
		case 'f':
			if (split_files(o, optarg)) {
				cli_err("add", "too many backing files (at most %d)", BUBLK_MAX_BACKENDS);
				return 2;
			}
			break;
		case 's':
			if (parse_size(optarg, &v) || !v) {
				cli_err("add", "bad --size \"%s\": give decimal bytes or a K/M/G/T suffix, e.g. 1G or 100M (a leading zero is refused, never read as octal)", optarg);
				return 2;
			}
			o->size = v;
			break;
		case 'q':
			if (parse_int(optarg, 1, BUBLK_MAX_QUEUES, &o->nr_queues)) {
				cli_err("add", "bad -q \"%s\": queues must be 1..%d", optarg, BUBLK_MAX_QUEUES);
				return 2;
			}
			break;
		case 'd':
			if (parse_int(optarg, 1, UBLK_MAX_QUEUE_DEPTH, &o->depth)) {
				cli_err("add", "bad -d \"%s\": depth must be 1..%d (the driver's maximum)",
					optarg, UBLK_MAX_QUEUE_DEPTH);
				return 2;
			}
			break;
		case 'm':
			if (parse_size(optarg, &v) || v < BUBLK_MIN_IO_BYTES || v > BUBLK_MAX_IO_BYTES ||
			    v % BUBLK_MIN_IO_BYTES) {
				cli_err("add", "bad --max-io \"%s\": a multiple of 4K from 4K to 32M, in decimal (e.g. 512K)", optarg);
				return 2;
			}
			o->max_io_bytes = v;
			o->max_io_default = false;
			break;
		case 'r':
			o->readonly = true;
			break;
		case 'F':
			*foreground = true;
			break;
		case 'j':
			*json = true;
			break;
		case 'C':
			o->data_mode = BUBLK_MODE_COPY;
			break;
		case 'U':
			o->data_mode = BUBLK_MODE_USER_COPY;
			break;
		case 'z':
			if (!optarg) {
				o->data_mode = BUBLK_MODE_ZERO_COPY;
			} else if (!strcmp(optarg, "manual")) {
				o->data_mode = BUBLK_MODE_ZERO_COPY_MANUAL;
			} else {
				cli_err("add", "bad --zero-copy=%s: the only value is \"manual\" (buffers registered by the daemon); --zero-copy alone picks the best the kernel grants",
					optarg);
				return 2;
			}
			break;
		case OPT_BATCH:
			o->batch_io = true;
			break;
		case 'L':
			o->legacy = true;
			break;
		case 'R':
			o->recovery = true;
			if (!optarg || !strcmp(optarg, "reissue")) {
				o->recovery_fail_io = false;
			} else if (!strcmp(optarg, "fail-io")) {
				o->recovery_fail_io = true;
			} else {
				cli_err("add", "bad --recovery=%s: reissue (the default: I/O waits for bublk recover) or fail-io (I/O fails while no daemon serves)",
					optarg);
				return 2;
			}
			break;
		case 'P':
			o->no_part_scan = true;
			break;
		case 'S':
		case 'K':
			if (o->nr_config >= BUBLK_MAX_CONFIG) {
				cli_err("add", "at most %d target options", BUBLK_MAX_CONFIG);
				return 2;
			}
			if (opt == 'K') {
				static char chunk_opt[64];

				/* cut short, "0x0...1000K" would become another size */
				if (snprintf(chunk_opt, sizeof(chunk_opt), "chunk=%s", optarg) >=
				    (int)sizeof(chunk_opt)) {
					cli_err("add", "bad --chunk \"%s\": too long; give a size such as 64K or 1M",
						optarg);
					return 2;
				}
				o->config[o->nr_config++] = chunk_opt;
			} else {
				o->config[o->nr_config++] = optarg;
			}
			break;
		case 'B':
			o->base = optarg;
			break;
		case 'b':
			if (parse_size(optarg, &v) || (v != 512 && v != 4096)) {
				cli_err("add", "bad --block-size \"%s\": 512 or 4096", optarg);
				return 2;
			}
			o->block_size = v;
			break;
		case 'O':
			o->rotational = true;
			break;
		case 'Z':
			o->shmem_zc = true;
			break;
		case 'H':
			if (o->nr_htlb >= BUBLK_MAX_HTLB) {
				cli_err("add", "at most %d --htlb files", BUBLK_MAX_HTLB);
				return 2;
			}
			o->htlb[o->nr_htlb++] = optarg;
			break;
		case 'Y':
			o->rdonly_shmem = true;
			break;
		case 'D':
			if (!strcmp(optarg, "bpf")) {
				o->dispatch = BUBLK_DISPATCH_BPF;
			} else if (!strcmp(optarg, "c")) {
				o->dispatch = BUBLK_DISPATCH_C;
			} else {
				cli_err("add", "bad --dispatch \"%s\": bpf or c", optarg);
				return 2;
			}
			break;
		case 'E':
			if (!strcmp(optarg, "kernel")) {
				o->engine = BUBLK_ENGINE_KERNEL;
			} else if (!strcmp(optarg, "user")) {
				o->engine = BUBLK_ENGINE_USER;
			} else {
				cli_err("add", "bad --engine \"%s\": kernel or user", optarg);
				return 2;
			}
			break;
		case 'h':
			help = true;
			break;
		default:
			add_usage(stderr);
			return 2;
		}
	}
	if (help)
		return o->target ? target_help(o->target) : (add_usage(stdout), 0);
	if (optind < argc) {
		cli_err("add", "unexpected argument \"%s\" (see bublk add --help)", argv[optind]);
		return 2;
	}
	if (!o->target) {
		cli_err("add", "no target: give -t null|loop|PATH.bpf.o (see bublk add --help)");
		return 2;
	}

	return -1;
}

int cmd_add(int argc, char **argv)
{
	struct bublk_dev_opts o;
	bool foreground, json;
	int ret = add_parse(argc, argv, &o, &foreground, &json);

	return ret >= 0 ? ret : bublk_launch(&o, -1, foreground, json);
}

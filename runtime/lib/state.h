/* SPDX-License-Identifier: MIT */
/*
 * Daemon state under /run/bublk: one JSON file per device, the one schema
 * every reader goes through. "bublk add" writes a provisional one ("state":
 * "creating", bublk_state_write_creating) before ADD_DEV, so a crash at any
 * moment leaves a file naming the device; the daemon rewrites it when the
 * device is live and after each reload; "list", "del", "stats",
 * "trace" and "recover" read it (bublk_state_load). Everything "bublk
 * recover" needs to serve the device again is in it, and every field
 * written is read back the same (selftests/host/unit.c, fuzz_state.c).
 */
#ifndef BUBLK_STATE_H
#define BUBLK_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <bublk/abi.h>

#define BUBLK_RUN_DIR		"/run/bublk"

/* "schema" in the file: bump it when a field changes meaning */
#define BUBLK_STATE_SCHEMA	1
/* bublk's own files stay far below this (16 escaped PATH_MAX paths) */
#define BUBLK_STATE_MAX_BYTES	(1 << 20)
#define BUBLK_STATE_MAX_OPTIONS	16	/* as many --set as "bublk add" takes */
#define BUBLK_STATE_OPTIONS_LEN	1024	/* all of them joined by ';' (dev->config) */
#define BUBLK_STATE_MAX_IDS	64	/* programs, and maps, of one target */
#define BUBLK_STATE_NAME_LEN	128	/* a program's or map's name */

struct bublk_dev;
struct bublk_dev_opts;

struct bublk_state_backend {
	char	path[PATH_MAX];
	__u64	size;
};

/* a BPF program or map of the running target, as bpftool shows it */
struct bublk_state_id {
	char	name[BUBLK_STATE_NAME_LEN];
	__u32	id;
};

struct bublk_state {
	__u32	dev_id;
	int	pid;			/* the daemon serving it */
	/*
	 * "state": "creating" from before ADD_DEV until the device is live:
	 * only what "bublk add" was asked is known (size may be 0, no pins
	 * yet); nothing to recover, only to delete. Absent means live.
	 */
	bool	creating;
	char	target[32];		/* the target's name */
	char	object[PATH_MAX];	/* its object file (the last reload's) */
	__u64	size;			/* bytes, as the target left it */
	__u32	block_size;		/* logical: 512 or 4096, as the target left it */
	bool	rotational;
	bool	readonly;
	int	nr_queues;
	int	depth;
	__u32	max_io_bytes;		/* the device's I/O buffer size (--max-io) */
	int	data_mode;		/* enum bublk_data_mode (dev.h), never AUTO */
	__u64	flags;			/* UBLK_F_* the kernel granted */
	bool	legacy;			/* pre-6.4 command opcodes */
	bool	recovery;		/* UBLK_F_USER_RECOVERY: "bublk recover" can take over */
	bool	dispatch_c;		/* --dispatch c */
	bool	engine_kernel;		/* served by the in-kernel engine (engine.c) */
	bool	shmem_zc;
	char	shmem_socket[108];	/* with shmem_zc */
	bool	shmem_sg_hook;		/* with shmem_zc: the scatter/gather hook is attached */
	/* backing files in backend order; with has_base the last is the base image */
	int	nr_backends;
	bool	has_base;
	struct bublk_state_backend backends[BUBLK_MAX_BACKENDS];
	/* target options, "key=value" (--set) */
	int	nr_options;
	char	options[BUBLK_STATE_MAX_OPTIONS][BUBLK_STATE_OPTIONS_LEN];
	/* where the target's programs and maps are pinned, and their ids */
	char	pin_dir[256];
	int	nr_progs;
	int	nr_maps;
	struct bublk_state_id progs[BUBLK_STATE_MAX_IDS];
	struct bublk_state_id maps[BUBLK_STATE_MAX_IDS];
};

/* path of device id's file with extension ext ("json" state, "log") */
void bublk_state_path(char *out, size_t len, unsigned int dev_id, const char *ext);

/* what a live device's state file says (its daemon is pid) */
int bublk_state_from_dev(const struct bublk_dev *dev, int pid, struct bublk_state *st);

/*
 * The file's text: one line of JSON, malloc'ed, or NULL without memory.
 * alive >= 0 adds "alive": true/false at the end (bublk list --json).
 */
char *bublk_state_format(const struct bublk_state *st, int alive);

/*
 * Parse and check a state file's text (len bytes, need not be
 * NUL-terminated): 0, or -EINVAL with err saying what is wrong. st is
 * fully overwritten (zeroed first), so equal files give equal structs.
 */
int bublk_state_parse(const char *buf, size_t len, struct bublk_state *st,
		      char *err, size_t errlen);

/* write st to its file, atomically (readers never see half of it) */
int bublk_state_save(const struct bublk_state *st);
int bublk_state_write(const struct bublk_dev *dev, int pid);
/* the provisional file of a device being created (no target loaded yet) */
int bublk_state_write_creating(const struct bublk_dev *dev, int pid);
void bublk_state_remove(unsigned int dev_id);

/*
 * Read device dev_id's state file: 0, -ENOENT if there is none, else
 * -errno (-EFBIG: over BUBLK_STATE_MAX_BYTES, -EINVAL: damaged) with err
 * naming the file and the problem.
 */
int bublk_state_load(unsigned int dev_id, struct bublk_state *st, char *err, size_t errlen);

/*
 * The daemon pid device dev_id's state file names: > 0; 0 if the file
 * is damaged (no pid to trust); -ENOENT if there is no state file.
 */
int bublk_state_pid(unsigned int dev_id);

/*
 * The options that serve the device again as it was (bublk recover). The
 * strings in o point into st, which must outlive o.
 */
void bublk_state_opts(const struct bublk_state *st, struct bublk_dev_opts *o);

/* ids of the devices with a state file, ascending; at most max */
int bublk_state_ids(unsigned int *ids, int max);

/* the whole file, NUL-terminated, malloc'ed; NULL if absent or too big */
char *bublk_state_read(unsigned int dev_id);

/* "copy", "user_copy", "zero_copy" or "zero_copy_manual": a device's data mode as list and the state file say it */
const char *bublk_data_mode_name(int data_mode);

#endif

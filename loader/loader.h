/* SPDX-License-Identifier: MIT */
/* Loading a bublk target object: validate, place the arena, load, configure. */
#ifndef BUBLK_LOADER_H
#define BUBLK_LOADER_H

#include <stddef.h>
#include <limits.h>
#include <bublk/abi.h>

struct bpf_object;
struct bpf_map;
struct bpf_program;
struct btf;

struct bublk_target {
	struct bpf_object	*obj;
	struct bpf_map		*arena_map;
	struct bpf_map		*dev_map;
	struct bpf_program	*dispatch;
	struct bpf_program	*init;		/* optional "bublk_init" */
	int			dispatch_fd;
	void			*arena;		/* BUBLK_ARENA_ADDR once loaded (higher under ASan) */
	size_t			arena_bytes;
	char			name[32];
	char			path[PATH_MAX];
};

/*
 * Find a target object: a path (contains '/' or ends in ".o") is used as
 * is; a bare name is looked up as NAME.bpf.o in $BUBLK_TARGET_PATH, next to
 * the bublk binary (build tree), and in the installed target directory.
 */
int bublk_target_resolve(const char *name_or_path, char *out, size_t outlen);

/* open and check an object (ABI version, required maps and programs) */
int bublk_target_open(struct bublk_target *t, const char *path, char *err, size_t errlen);

/* size and place the arena, load into the kernel, map the arena, write the
 * device description, run bublk_init if the target has one */
int bublk_target_load(struct bublk_target *t, size_t arena_bytes,
		      const struct bublk_dev_info *dev, const char *const *config, int nr_config,
		      char *err, size_t errlen);

/* the device description as the target left it (bublk_init may set size) */
int bublk_target_read_dev(struct bublk_target *t, struct bublk_dev_info *dev);

/*
 * Write "key=value" options into the target's "bublk_config" map, by the
 * BTF member names of its value struct (integers; K/M/G suffixes allowed).
 */
int bublk_target_configure(struct bublk_target *t, const char *const *config, int nr_config,
			   char *err, size_t errlen);

/*
 * The parsing half of the above, on any BTF: apply "key=value" options to
 * value (value_size bytes, laid out as BTF type type_id). 0, -EINVAL (bad
 * syntax, value or member), -ENOENT (no such member); err says which.
 */
int bublk_config_apply(const struct btf *btf, __u32 type_id, void *value, size_t value_size,
		       const char *const *config, int nr_config, char *err, size_t errlen);

/* one BPF_PROG_RUN of bublk_dispatch over a batch; 0 or -errno */
int bublk_target_dispatch(struct bublk_target *t, struct bublk_batch *batch);

void bublk_target_close(struct bublk_target *t);

#endif

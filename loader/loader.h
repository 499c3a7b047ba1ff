/* SPDX-License-Identifier: MIT */
/* Loading a bublk target object: validate, place the arena, load, configure. */
#ifndef BUBLK_LOADER_H
#define BUBLK_LOADER_H

#include <stddef.h>
#include <stdio.h>
#include <limits.h>
#include <bublk/abi.h>

#ifndef BPF_MAP_TYPE_ARENA
#define BPF_MAP_TYPE_ARENA 33	/* Debian's UAPI headers predate arenas */
#endif

struct bpf_object;
struct bpf_map;
struct bpf_program;
struct btf;

struct bublk_target {
	struct bpf_object	*obj;
	struct bpf_map		*arena_map;
	struct bpf_map		*dev_map;
	struct bpf_program	*dispatch;
	/* the hooks bublk.bpf.h's macros declare; all but dispatch optional */
	struct bpf_program	*init;		/* BUBLK_INIT */
	struct bpf_program	*done;		/* BUBLK_DONE */
	struct bpf_program	*load;		/* BUBLK_LOAD */
	struct bpf_program	*resize;	/* BUBLK_RESIZE */
	/* a NAME.kern.o's loop_step program (bpf/engine.bpf.h): loaded only for --engine kernel */
	struct bpf_program	*engine;
	int			dispatch_fd;
	int			done_fd;	/* -1: no completion program */
	void			*arena;		/* BUBLK_ARENA_ADDR once loaded (higher under ASan) */
	size_t			arena_bytes;
	/* the runtime's counters and trace ring, mmapped (bublk_stats, bublk_trace) */
	struct bublk_stats	*stats;
	size_t			stats_bytes;
	struct bublk_trace_rec	*trace;
	size_t			trace_bytes;
	char			name[32];
	char			path[PATH_MAX];
	char			pin_dir[256];	/* "" until bublk_pin_prepare() */
	/* maps declared LIBBPF_PIN_BY_NAME: state kept across daemons */
	struct bpf_map		*state_maps[BUBLK_MAX_BACKENDS];
	int			nr_state_maps;
};

#define BUBLK_PIN_ROOT_FS	"/sys/fs/bpf"
#define BUBLK_PIN_ROOT		BUBLK_PIN_ROOT_FS "/bublk"

/*
 * Find a target object: a path (contains '/' or ends in ".o") is used as
 * is; a bare name is looked up as NAME.bpf.o in $BUBLK_TARGET_PATH, next to
 * the bublk binary (build tree), and in the installed target directory.
 */
int bublk_target_resolve(const char *name_or_path, char *out, size_t outlen);

/*
 * Every target object found where bublk_target_resolve() looks, first of
 * each name, sorted: "NAME  first line of its BUBLK_HELP" per line to f
 * (prefix before each), or with f NULL only the names, ", "-separated, in
 * names. Returns how many.
 */
int bublk_target_list(FILE *f, const char *prefix, char *names, size_t nameslen);

/*
 * 0 when this kernel creates a BPF arena map for us, else its -errno
 * (EPERM, EINVAL before 6.9): every target needs one (probe.c)
 */
int bublk_arena_probe(void);

/* open and check an object (ABI version, required maps and programs) */
int bublk_target_open(struct bublk_target *t, const char *path, char *err, size_t errlen);

/* size and place the arena, load into the kernel, map the arena, write the
 * device description, run bublk_init if the target has one */
int bublk_target_load(struct bublk_target *t, size_t arena_bytes,
		      const struct bublk_dev_info *dev, const char *const *config, int nr_config,
		      char *err, size_t errlen);

/* why the target's last hook refused (bublk_refuse), or -ENOENT if it said nothing */
int bublk_target_reason(struct bublk_target *t, char *out, size_t outlen);

/* err = "target NAME <what>: <reason> (<strerror>)", the reason if it gave one */
void bublk_target_refusal(struct bublk_target *t, const char *what, int retval, char *err,
			  size_t errlen);

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

/*
 * Copy pages pages of fd, from byte off, into the target's bublk_preload
 * map, then run its bublk_load program.
 */
int bublk_target_preload(struct bublk_target *t, int fd, __u64 off, __u32 pages,
			 char *err, size_t errlen);

/*
 * Hot reload: load nt (opened with bublk_target_open) for the device old
 * serves, reusing old's maps by name; refuse an object for another target
 * or whose same-name maps differ. old keeps running either way.
 */
int bublk_target_load_reusing(struct bublk_target *nt, struct bublk_target *old,
			      char *err, size_t errlen);

/*
 * One BPF_PROG_RUN of a SEC("syscall") program (ctx may be NULL): 0 with
 * the program's return value in *retval, or -errno if it could not run.
 */
int bublk_prog_run(int prog_fd, void *ctx, __u32 ctx_size, int *retval);

/* one BPF_PROG_RUN of bublk_done; -ENOENT when the target has none */
int bublk_target_done(struct bublk_target *t, struct bublk_batch *batch);

/* pin.c: /sys/fs/bpf/bublk/<dev_id>/{programs, maps} */
void bublk_pin_dir(__u32 dev_id, char *out, size_t outlen);
/* at open: keep libbpf from pinning state maps anywhere on its own */
int bublk_pin_claim_state(struct bublk_target *t, char *err, size_t errlen);
/* before load: choose the directory; state maps (LIBBPF_PIN_BY_NAME) reuse pins there */
int bublk_pin_prepare(struct bublk_target *t, __u32 dev_id, char *err, size_t errlen);
/* after load: pin every program and inspectable map */
int bublk_pin_all(struct bublk_target *t, char *err, size_t errlen);
/* {"pin_dir": ..., "programs": {name: id}, "maps": {name: id}} for list --json */
void bublk_target_print_ids(struct bublk_target *t, FILE *f);
/* the device is gone: remove its directory */
int bublk_pin_remove(__u32 dev_id);

/* a .rodata global of the object (NULL if absent) */
const void *bublk_rodata_var(struct bpf_object *obj, const char *var, size_t *size);

/*
 * What "bublk add -t NAME --help" shows: the target's own help text
 * (BUBLK_HELP in bublk.bpf.h) and its options, from the BTF of its
 * bublk_config struct.
 */
void bublk_target_print_help(struct bublk_target *t, FILE *f);

void bublk_target_close(struct bublk_target *t);

/*
 * engine_prog.c: the in-kernel engine's program (runtime/lib/engine.c).
 * 0 when this kernel has io_uring_bpf_ops, else -ENOENT (or -EPROTO for
 * a layout we do not know); registers the program's section handler.
 */
int bublk_engine_kernel_ops(void);
/* write .rodata global var (size bytes) of an opened, not yet loaded object */
int bublk_rodata_set(struct bpf_object *obj, const char *var, const void *val, size_t size);
/* put t's loaded engine program on the ring ring_fd: a struct_ops map and its link */
int bublk_engine_attach_ring(struct bublk_target *t, int ring_fd, int *map_fd, int *link_fd);

/* struct_ops.c: a BPF_F_LINK struct_ops map of one kernel or module type, filled and linked */
struct bublk_struct_ops {
	const char	*name;			/* the map's name */
	int		btf_fd;			/* any BTF (the object's) */
	__u32		value_type_id;		/* struct bpf_struct_ops_<type> */
	int		value_btf_obj_fd;	/* the module BTF it is in; 0: vmlinux */
	const void	*value;			/* value_size bytes: the filled value */
	__u32		value_size;
};
/* 0, or -errno with *what naming the step that failed; both fds -1 then */
int bublk_struct_ops_link(const struct bublk_struct_ops *s, int *map_fd, int *link_fd,
			  const char **what);

#endif

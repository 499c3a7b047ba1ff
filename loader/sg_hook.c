// SPDX-License-Identifier: MIT
/*
 * Loader for bublk's scatter/gather hook (bublk_sg_ops, a struct_ops type
 * that lives in the test ublk module).
 *
 * Debian's libbpf 1.1 loads the program and its maps (arena included) and
 * resolves the module kfunc, but it cannot attach a struct_ops type found
 * in a module's BTF.  So: a custom section handler makes libbpf load
 * "bublk_sg/..." programs as STRUCT_OPS programs of the module's type, and
 * the struct_ops map and its link are made by struct_ops.c
 * (BPF_F_VTYPE_BTF_OBJ_FD, 6.9+, names the module's BTF).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <bublk/sg_hook.h>
#include <bublk/ublk_uapi.h>
#include <bublk/ublk_proto.h>
#include "loader.h"
#include "sg_hook.h"

#define SG_MODULE	"ublk_drv"
#define SG_SLOT_BYTES	(sizeof(struct ublk_shmem_sg_iov) + \
			 BUBLK_SG_MAX_PIECES * sizeof(struct ublk_shmem_sg_entry))

struct bublk_sg_hook {
	struct bpf_object	*obj;
	int			mod_btf_fd;
	int			ops_map_fd;
	int			link_fd;
	int			cfg_fd;
	void			*own_arena;
	size_t			own_arena_bytes;
};

/* what the module's BTF says about the type */
struct sg_types {
	int	btf_fd;
	__s32	ops_id;		/* struct bublk_sg_ops */
	__s32	value_id;	/* struct bpf_struct_ops_bublk_sg_ops */
	__u32	value_size;
	__u32	data_off;	/* of "data" in the value struct */
	__u32	build_idx;	/* member index of build */
	__u32	build_off;
	__u32	dev_id_off;
	bool	sleepable;	/* tests: ask for BPF_F_SLEEPABLE */
};

/* the section handler runs inside bpf_object__load(): no user pointer */
static struct sg_types *loading;

size_t bublk_sg_hook_slot_bytes(void)
{
	return SG_SLOT_BYTES;
}

size_t bublk_sg_hook_slots_bytes(__u32 nr_queues, __u32 depth)
{
	return (size_t)nr_queues * depth * SG_SLOT_BYTES;
}

static int seterr(char *err, size_t len, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return ret;
}

/* fd of the kernel BTF object called name, and its id */
static int find_module_btf(const char *name, __u32 *idp)
{
	__u32 id = 0;

	while (!bpf_btf_get_next_id(id, &id)) {
		struct bpf_btf_info info = {};
		__u32 len = sizeof(info);
		char nm[64] = "";
		int fd = bpf_btf_get_fd_by_id(id);

		if (fd < 0)
			continue;
		info.name = (__u64)(unsigned long)nm;
		info.name_len = sizeof(nm);
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !strcmp(nm, name)) {
			*idp = id;
			return fd;
		}
		close(fd);
	}
	return -ENOENT;
}

static int member_off(const struct btf *btf, const struct btf_type *t, const char *name,
		      __u32 *idx)
{
	const struct btf_member *m = btf_members(t);
	int i;

	for (i = 0; i < btf_vlen(t); i++, m++) {
		if (!strcmp(btf__name_by_offset(btf, m->name_off), name)) {
			if (idx)
				*idx = i;
			return btf_member_bit_offset(t, i) / 8;
		}
	}
	return -ENOENT;
}

static int sg_types_find(struct sg_types *st, char *err, size_t errlen)
{
	struct btf *vmlinux, *mod;
	const struct btf_type *t;
	int ret = 0, off;
	__u32 id;

	st->btf_fd = find_module_btf(SG_MODULE, &id);
	if (st->btf_fd < 0)
		return seterr(err, errlen, -ENOENT, "no BTF for module %s", SG_MODULE);
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return seterr(err, errlen, -errno, "cannot load vmlinux BTF");
	mod = btf__load_from_kernel_by_id_split(id, vmlinux);
	if (!mod) {
		btf__free(vmlinux);
		return seterr(err, errlen, -errno, "cannot load %s BTF", SG_MODULE);
	}
	st->ops_id = btf__find_by_name_kind(mod, "bublk_sg_ops", BTF_KIND_STRUCT);
	st->value_id = btf__find_by_name_kind(mod, "bpf_struct_ops_bublk_sg_ops",
					      BTF_KIND_STRUCT);
	if (st->ops_id < 0 || st->value_id < 0) {
		ret = seterr(err, errlen, -ENOENT,
			     "module %s has no bublk_sg_ops (not the bublk test build?)",
			     SG_MODULE);
		goto out;
	}
	t = btf__type_by_id(mod, st->value_id);
	st->value_size = t->size;
	off = member_off(mod, t, "data", NULL);
	st->data_off = off;
	t = btf__type_by_id(mod, st->ops_id);
	ret = member_off(mod, t, "build", &st->build_idx);
	st->build_off = ret;
	if (off < 0 || ret < 0 || (ret = member_off(mod, t, "dev_id", NULL)) < 0) {
		ret = seterr(err, errlen, -ENOENT, "unexpected bublk_sg_ops layout");
		goto out;
	}
	st->dev_id_off = ret;
	ret = 0;
out:
	btf__free(mod);
	btf__free(vmlinux);
	return ret;
}

/* make libbpf load the program as a struct_ops program of the module type */
static int sg_prep_load(struct bpf_program *prog, struct bpf_prog_load_opts *opts, long cookie)
{
	(void)prog;
	(void)cookie;
	if (!loading)
		return -EINVAL;
	opts->attach_btf_id = loading->ops_id;
	opts->attach_btf_obj_fd = loading->btf_fd;
	opts->expected_attach_type = loading->build_idx;	/* struct_ops: member index */
	if (loading->sleepable)
		opts->prog_flags |= 1U << 4;			/* BPF_F_SLEEPABLE */
	return 0;
}

static int sg_attach_raw(struct bublk_sg_hook *h, const struct sg_types *st, int prog_fd,
			 __u32 dev_id, char *err, size_t errlen)
{
	struct bublk_struct_ops so = { 0 };
	unsigned char *val;
	const char *what;
	char name[16];
	int ret;

	val = calloc(1, st->value_size);
	if (!val)
		return seterr(err, errlen, -ENOMEM, "out of memory");
	*(__u64 *)(val + st->data_off + st->build_off) = prog_fd;
	*(__u32 *)(val + st->data_off + st->dev_id_off) = dev_id;
	snprintf(name, sizeof(name), "bublk_sg_%u", dev_id);
	so.name = name;
	so.btf_fd = bpf_object__btf_fd(h->obj);
	so.value_type_id = st->value_id;
	so.value_btf_obj_fd = st->btf_fd;	/* the module's BTF */
	so.value = val;
	so.value_size = st->value_size;
	ret = bublk_struct_ops_link(&so, &h->ops_map_fd, &h->link_fd, &what);
	free(val);
	if (ret)
		return seterr(err, errlen, ret, "%s (device %u): %s", what, dev_id, strerror(-ret));
	return 0;
}

/*
 * Registered once per process and never unregistered: libbpf 1.1's
 * libbpf_unregister_prog_handler() frees its table when the last handler
 * goes (realloc to 0) but keeps the pointer, so registering again after
 * that corrupts the heap.
 */
static int sg_handler_once(void)
{
	LIBBPF_OPTS(libbpf_prog_handler_opts, hopts, .prog_prepare_load_fn = sg_prep_load);
	static int handler;

	if (handler <= 0)
		handler = libbpf_register_prog_handler("bublk_sg+", BPF_PROG_TYPE_STRUCT_OPS,
						       0, &hopts);
	return handler;
}

static int sg_load(struct bublk_sg_hook *h, const char *path, struct sg_types *st,
		   const struct bublk_sg_hook_opts *o, char *err, size_t errlen)
{
	struct bpf_map *arena;
	int handler, ret;

	handler = sg_handler_once();
	if (handler < 0)
		return seterr(err, errlen, handler, "cannot register the section handler");
	h->obj = bpf_object__open_file(path, NULL);
	if (!h->obj) {
		ret = seterr(err, errlen, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	arena = bpf_object__find_map_by_name(h->obj, "arena");
	if (!arena) {
		ret = seterr(err, errlen, -ENOENT, "%s: no arena map", path);
		goto out;
	}
	if (o->arena_fd >= 0)
		ret = bpf_map__reuse_fd(arena, o->arena_fd);
	else
		ret = bpf_map__set_max_entries(arena, o->arena_bytes / getpagesize()) ?:
		      bpf_map__set_map_extra(arena, o->arena_addr);
	if (ret) {
		ret = seterr(err, errlen, ret, "cannot set up the arena: %s", strerror(-ret));
		goto out;
	}
	st->sleepable = o->sleepable;
	loading = st;
	ret = bpf_object__load(h->obj);
	loading = NULL;
	if (ret)
		ret = seterr(err, errlen, ret, "%s: load failed: %s", path, strerror(-ret));
out:
	return ret;
}

int bublk_sg_hook_attach(const char *obj_path, const struct bublk_sg_hook_opts *o,
			 struct bublk_sg_hook **out, char *err, size_t errlen)
{
	size_t slots = bublk_sg_hook_slots_bytes(o->nr_queues, o->depth);
	struct bublk_sg_cfg cfg = {};
	struct sg_types st = { .btf_fd = -1 };
	struct bublk_sg_hook *h;
	struct bpf_program *prog;
	__u32 key = 0;
	int ret;

	if (!o->nr_queues || !o->depth || o->slots_off + slots > o->arena_bytes)
		return seterr(err, errlen, -EINVAL, "iov slots do not fit the arena");
	h = calloc(1, sizeof(*h));
	if (!h)
		return seterr(err, errlen, -ENOMEM, "out of memory");
	h->mod_btf_fd = h->ops_map_fd = h->link_fd = -1;

	ret = sg_types_find(&st, err, errlen);
	h->mod_btf_fd = st.btf_fd;
	if (ret)
		goto fail;
	ret = sg_load(h, obj_path, &st, o, err, errlen);
	if (ret)
		goto fail;

	if (o->arena_fd < 0) {
		int afd = bpf_map__fd(bpf_object__find_map_by_name(h->obj, "arena"));

		h->own_arena = mmap((void *)(unsigned long)o->arena_addr, o->arena_bytes,
				    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, afd, 0);
		if (h->own_arena == MAP_FAILED) {
			h->own_arena = NULL;
			ret = seterr(err, errlen, -errno, "mmap arena: %s", strerror(errno));
			goto fail;
		}
		h->own_arena_bytes = o->arena_bytes;
	}
	/*
	 * Allocate every slot page now: the program runs where it may not
	 * sleep, and an arena page faulted in from user space is there for
	 * good.  Writes from BPF to a page nobody allocated would be lost.
	 */
	memset((void *)(unsigned long)(o->arena_addr + o->slots_off), 0, slots);

	cfg.slots = o->arena_addr + o->slots_off;
	cfg.slot_bytes = SG_SLOT_BYTES;
	cfg.max_entries = o->max_entries && o->max_entries < BUBLK_SG_MAX_PIECES ?
			  o->max_entries : BUBLK_SG_MAX_PIECES;
	cfg.nr_queues = o->nr_queues;
	cfg.depth = o->depth;
	cfg.dev_id = o->dev_id;
	h->cfg_fd = bpf_map__fd(bpf_object__find_map_by_name(h->obj, "sg_cfg"));
	if (bpf_map_update_elem(h->cfg_fd, &key, &cfg, 0)) {
		ret = seterr(err, errlen, -errno, "sg_cfg: %s", strerror(errno));
		goto fail;
	}

	prog = bpf_object__find_program_by_name(h->obj, "build");
	if (!prog) {
		ret = seterr(err, errlen, -ENOENT, "%s: no program \"build\"", obj_path);
		goto fail;
	}
	ret = sg_attach_raw(h, &st, bpf_program__fd(prog), o->dev_id, err, errlen);
	if (ret)
		goto fail;
	*out = h;
	return 0;
fail:
	bublk_sg_hook_detach(h);
	return ret;
}

int bublk_sg_hook_stats(struct bublk_sg_hook *h, __u64 *built, __u64 *refused)
{
	struct bublk_sg_cfg cfg;
	__u32 key = 0;

	if (bpf_map_lookup_elem(h->cfg_fd, &key, &cfg))
		return -errno;
	*built = cfg.built;
	*refused = cfg.refused;
	return 0;
}

void bublk_sg_hook_detach(struct bublk_sg_hook *h)
{
	if (!h)
		return;
	if (h->link_fd >= 0)
		close(h->link_fd);
	if (h->ops_map_fd >= 0)
		close(h->ops_map_fd);
	if (h->own_arena)
		munmap(h->own_arena, h->own_arena_bytes);
	bpf_object__close(h->obj);
	if (h->mod_btf_fd >= 0)
		close(h->mod_btf_fd);
	free(h);
}

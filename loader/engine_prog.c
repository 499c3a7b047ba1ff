// SPDX-License-Identifier: MIT
/*
 * The in-kernel engine's program as libbpf and the kernel see it: a
 * sleepable struct_ops program for io_uring_bpf_ops (Linux 7.1+) in
 * section "bublk_engine" of a target's NAME.kern.o, its .rodata
 * description of the device, and the struct_ops map and link that put it
 * on one queue's ring.
 *
 * Debian's libbpf 1.1 knows neither "struct_ops.s" nor struct_ops maps it
 * cannot fill before load (ring_fd is per queue), so, as for the
 * scatter/gather hook (sg_hook.c), a section handler sets the program's
 * attach type and struct_ops.c makes the map and link.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "loader.h"

#define K_BPF_F_SLEEPABLE		(1U << 4)

/* what the kernel's BTF says about io_uring_bpf_ops: read once, it does not change */
static struct {
	int	err;		/* 0, or -ENOENT without io_uring_bpf_ops */
	__s32	ops_id;
	__s32	value_id;	/* struct bpf_struct_ops_io_uring_bpf_ops */
	__u32	value_size;
	__u32	data_off;	/* of "data" in the value */
	__u32	ring_fd_off;	/* of "ring_fd" in the ops */
	int	handler;
} ops = { .err = -ENOENT };
static pthread_once_t ops_once = PTHREAD_ONCE_INIT;

static int member_off(const struct btf *btf, __s32 id, const char *name)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	const struct btf_member *m = btf_members(t);

	for (int i = 0; i < btf_vlen(t); i++, m++)
		if (!strcmp(btf__name_by_offset(btf, m->name_off), name))
			return btf_member_bit_offset(t, i) / 8;
	return -ENOENT;
}

static int prep_load(struct bpf_program *prog, struct bpf_prog_load_opts *opts, long cookie)
{
	(void)prog;
	(void)cookie;
	if (ops.err)
		return ops.err;
	opts->attach_btf_id = ops.ops_id;
	opts->attach_btf_obj_fd = 0;		/* vmlinux */
	opts->expected_attach_type = 0;		/* member 0: loop_step */
	opts->prog_flags |= K_BPF_F_SLEEPABLE;	/* it calls bpf_io_uring_submit_sqes */
	return 0;
}

static void ops_find(void)
{
	LIBBPF_OPTS(libbpf_prog_handler_opts, hopts, .prog_prepare_load_fn = prep_load);
	struct btf *vml = btf__load_vmlinux_btf();
	int data, ring_fd, step;

	/* registered on every kernel: a kern object then opens anywhere (and loads on 7.1+) */
	ops.handler = libbpf_register_prog_handler("bublk_engine", BPF_PROG_TYPE_STRUCT_OPS, 0,
						   &hopts);
	if (!vml)
		return;
	ops.ops_id = btf__find_by_name_kind(vml, "io_uring_bpf_ops", BTF_KIND_STRUCT);
	ops.value_id = btf__find_by_name_kind(vml, "bpf_struct_ops_io_uring_bpf_ops", BTF_KIND_STRUCT);
	if (ops.ops_id > 0 && ops.value_id > 0) {
		data = member_off(vml, ops.value_id, "data");
		ring_fd = member_off(vml, ops.ops_id, "ring_fd");
		step = member_off(vml, ops.ops_id, "loop_step");
		if (data >= 0 && ring_fd >= 0 && step == 0) {
			ops.value_size = btf__type_by_id(vml, ops.value_id)->size;
			ops.data_off = data;
			ops.ring_fd_off = ring_fd;
			ops.err = 0;
		} else {
			ops.err = -EPROTO;	/* a layout this bublk does not know */
		}
	}
	btf__free(vml);
}

int bublk_engine_kernel_ops(void)
{
	pthread_once(&ops_once, ops_find);
	if (ops.handler < 0)
		return ops.handler;
	return ops.err;
}

int bublk_rodata_set(struct bpf_object *obj, const char *var, const void *val, size_t size)
{
	size_t sz;
	void *p = (void *)bublk_rodata_var(obj, var, &sz);

	if (!p)
		return -ENOENT;
	if (sz != size)
		return -EPROTO;
	memcpy(p, val, size);
	return 0;
}

int bublk_engine_attach_ring(struct bublk_target *t, int ring_fd, int *map_fd, int *link_fd)
{
	struct bublk_struct_ops so = { .name = "bublk_engine" };
	struct bpf_program *prog;
	const char *what;
	unsigned char *val;
	int ret;

	*map_fd = *link_fd = -1;
	ret = bublk_engine_kernel_ops();
	if (ret)
		return ret;
	prog = bpf_object__find_program_by_name(t->obj, "bublk_engine_step");
	if (!prog || bpf_program__fd(prog) < 0)
		return -ENOENT;
	val = calloc(1, ops.value_size);
	if (!val)
		return -ENOMEM;
	*(__u64 *)(val + ops.data_off) = bpf_program__fd(prog);		/* loop_step */
	*(__u32 *)(val + ops.data_off + ops.ring_fd_off) = ring_fd;
	so.btf_fd = bpf_object__btf_fd(t->obj);
	so.value_type_id = ops.value_id;
	so.value = val;
	so.value_size = ops.value_size;
	ret = bublk_struct_ops_link(&so, map_fd, link_fd, &what);
	free(val);
	return ret;
}

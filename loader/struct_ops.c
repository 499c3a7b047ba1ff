// SPDX-License-Identifier: MIT
/*
 * One struct_ops map with its link, made with bpf(2) directly: the
 * scatter/gather hook's bublk_sg_ops (a module's type, sg_hook.c) and the
 * in-kernel engine's io_uring_bpf_ops (engine_prog.c) both need it, and
 * Debian's libbpf 1.1 can do neither (it cannot attach a type from a
 * module's BTF, nor leave a struct_ops map unfilled until after load, as
 * a per-ring ring_fd needs).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "loader.h"

/* newer than bookworm's 6.1 UAPI headers */
#define K_BPF_F_LINK			(1U << 13)
#define K_BPF_F_VTYPE_BTF_OBJ_FD	(1U << 15)	/* 6.9+ */
#define K_BPF_MAP_TYPE_STRUCT_OPS	26
#define K_BPF_STRUCT_OPS		44		/* enum bpf_attach_type */

/* BPF_MAP_CREATE's attributes, with the 6.9+ value_type_btf_obj_fd */
struct k_map_create {
	__u32	map_type, key_size, value_size, max_entries, map_flags;
	__u32	inner_map_fd, numa_node;
	char	map_name[16];
	__u32	map_ifindex, btf_fd, btf_key_type_id, btf_value_type_id;
	__u32	btf_vmlinux_value_type_id;
	__u64	map_extra;
	__s32	value_type_btf_obj_fd;
	__s32	map_token_fd;
};

struct k_link_create {
	__u32	map_fd, target_fd, attach_type, flags;
};

_Static_assert(__builtin_offsetof(struct k_map_create, value_type_btf_obj_fd) == 72,
	       "bpf_attr layout");

int bublk_struct_ops_link(const struct bublk_struct_ops *s, int *map_fd, int *link_fd,
			  const char **what)
{
	union { struct k_map_create a; char pad[160]; } mc;
	union { struct k_link_create a; char pad[64]; } lc;
	__u32 key = 0;
	int fd, ret;

	*map_fd = *link_fd = -1;
	memset(&mc, 0, sizeof(mc));
	mc.a.map_type = K_BPF_MAP_TYPE_STRUCT_OPS;
	mc.a.key_size = sizeof(key);
	mc.a.value_size = s->value_size;
	mc.a.max_entries = 1;
	mc.a.map_flags = K_BPF_F_LINK;
	snprintf(mc.a.map_name, sizeof(mc.a.map_name), "%s", s->name);
	mc.a.btf_fd = s->btf_fd;	/* any BTF will do: libbpf passes the object's */
	mc.a.btf_vmlinux_value_type_id = s->value_type_id;
	if (s->value_btf_obj_fd > 0) {
		mc.a.map_flags |= K_BPF_F_VTYPE_BTF_OBJ_FD;
		mc.a.value_type_btf_obj_fd = s->value_btf_obj_fd;
	}
	*what = "struct_ops map create";
	fd = syscall(__NR_bpf, BPF_MAP_CREATE, &mc, sizeof(mc));
	if (fd < 0)
		return -errno;
	*what = "struct_ops map update";
	if (bpf_map_update_elem(fd, &key, s->value, 0)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	memset(&lc, 0, sizeof(lc));
	lc.a.map_fd = fd;
	lc.a.attach_type = K_BPF_STRUCT_OPS;
	*what = "struct_ops link";
	*link_fd = syscall(__NR_bpf, BPF_LINK_CREATE, &lc, sizeof(lc));
	if (*link_fd < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*map_fd = fd;
	return 0;
}

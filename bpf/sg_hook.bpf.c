// SPDX-License-Identifier: GPL-2.0
/*
 * sg_hook.bpf.c - bublk's scatter/gather hook (a bublk_sg_ops program for
 * the test kernel module, see include/bublk/sg_hook.h).
 *
 * The module calls build() at dispatch for a request whose pages all lie in
 * registered SHMEM_ZC buffers but not as one span.  build() copies the
 * pieces into the iov slot of the request's tag, in the device's arena,
 * and returns the entry count; user space (loader/sg_hook.c) allocated
 * every slot page in advance, because this program runs in the block
 * layer's dispatch path and may not sleep, so it cannot allocate arena
 * pages itself.
 *
 * Not a bublk target: it is loaded only against the test module (its
 * struct_ops type and kfunc exist nowhere else), never by `bublk add`.
 * Section "bublk_sg/build" is handled by the loader, because Debian's
 * libbpf 1.1 cannot attach a struct_ops type that lives in a module.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bublk/sg_hook.h>
#include <bublk/ublk_uapi.h>
#include <bublk/ublk_proto.h>

#define __arena __attribute__((address_space(1)))

char _license[] SEC("license") = "GPL";

extern int bpf_bublk_sg_piece(struct bublk_sg_ctx *ctx, __u32 i,
			      struct bublk_sg_piece *out) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);		/* pages; the loader resizes or reuses */
} arena SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bublk_sg_cfg);
} sg_cfg SEC(".maps");

SEC("bublk_sg/build")
int BPF_PROG(build, struct bublk_sg_ctx *c)
{
	struct ublk_shmem_sg_iov __arena *iov;
	struct bublk_sg_piece p = {};
	struct bublk_sg_cfg *cfg;
	__u32 k = 0, n, i, bytes = 0;
	__u64 slot;

	/* the arena must be one of the program's maps for __arena accesses */
	asm volatile("" :: "r"(&arena));
	cfg = bpf_map_lookup_elem(&sg_cfg, &k);
	if (!cfg || !cfg->slots || c->dev_id != cfg->dev_id)
		return -1;
	n = c->nr_pieces;
	if (n > cfg->max_entries || n > BUBLK_SG_MAX_PIECES ||
	    c->q_id >= cfg->nr_queues || c->tag >= cfg->depth) {
		__sync_fetch_and_add(&cfg->refused, 1);
		return -1;
	}
	slot = cfg->slots + ((__u64)c->q_id * cfg->depth + c->tag) *
			    cfg->slot_bytes;
	iov = (struct ublk_shmem_sg_iov __arena *)slot;

	/*
	 * Hide n's bound from the compiler: otherwise it drops the constant
	 * loop bound below as redundant, and the verifier, which does not
	 * know n <= 16 any more on its zero-extended copy, cannot prove the
	 * loop ends.
	 */
	asm volatile("" : "+r"(n));

	for (i = 0; i < BUBLK_SG_MAX_PIECES && i < n; i++) {
		if (bpf_bublk_sg_piece(c, i, &p))
			return -1;
		iov->e[i].buf_index = p.buf_index;
		iov->e[i].len = p.len;
		iov->e[i].offset = p.offset;
		bytes += p.len;
	}
	iov->nr = n;
	iov->bytes = bytes;
	iov->reserved = 0;
	c->iov_addr = slot;
	__sync_fetch_and_add(&cfg->built, 1);
	return n;
}

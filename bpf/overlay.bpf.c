/* SPDX-License-Identifier: MIT */
/*
 * overlay: copy-on-write over a read-only base image.
 *
 * Backends: 0 = the overlay file (written), 1 = the base image (--base,
 * opened read-only). The device is the base's size in 4K blocks. The first
 * write to a block allocates the next free slot of the overlay file; reads
 * of blocks never written go to the base.
 *
 * Overlay file layout (stable whatever the file's size):
 *   [0, 1 MiB)        block table: u64 per slot = device block + 1 (0: free)
 *   [1 MiB + s * 4K)  slot s's data
 *
 * A write to a block whose table entry is not yet on disk is two stages:
 * the data into the slot (stage 0), then the 8-byte table entry from the
 * arena scratch (stage 1). bublk_done marks the block persisted once both
 * succeeded, before the client sees the completion; reads go to the slot
 * only for persisted blocks. So the file always describes every
 * acknowledged write, and a new daemon rebuilds the map from the table
 * (bublk_init asks for it as a preload; bublk_load reads it).
 */
#include "bublk.bpf.h"

#define OVL_BLOCK		4096
#define OVL_TABLE_PAGES		256			/* 1 MiB of table */
#define OVL_MAX_SLOTS		(OVL_TABLE_PAGES * (OVL_BLOCK / 8))
#define OVL_DATA_OFF		((__u64)OVL_TABLE_PAGES * OVL_BLOCK)
#define OVL_IO_BLOCKS		16			/* 64K requests: 16 data + 16 table segments */
#define OVL_SCRATCH_SLOTS	128			/* scratch: entries at 0, slots at 128 */

struct ovl_block {
	__u32	slot;
	__u32	persisted;	/* 1: its table entry is on disk */
};

/* device block -> slot; rebuilt from the table at every start */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OVL_MAX_SLOTS);
	__type(key, __u64);
	__type(value, struct ovl_block);
} overlay_blocks SEC(".maps");

struct ovl_state {
	__u64	nr_slots;	/* slots the overlay file has room for */
	__u64	next_slot;	/* first never-used slot */
	__u64	nr_blocks;	/* device blocks */
	__u64	reads_base;	/* blocks read from the base */
	__u64	reads_overlay;	/* blocks read from the overlay */
	__u64	allocs;		/* blocks copied up (first writes) */
	__u64	writes;		/* blocks written */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ovl_state);
} overlay_state SEC(".maps");

BUBLK_PRELOAD(OVL_TABLE_PAGES);

static __always_inline struct ovl_state *state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&overlay_state, &zero);
}

/* one request's walk over its blocks (bpf_loop context) */
struct ovl_walk {
	struct bublk_emit	e;
	struct ovl_state	*st;
	__u64			block;		/* first device block */
	__u32			op;
	__u32			meta;		/* bit i: block i needs its table entry written */
	int			err;
};

static __always_inline volatile __u64 __arena *scratch_u64(struct bublk_emit *e, __u32 i)
{
	return (volatile __u64 __arena *)(e->scratch + (i & (OVL_SCRATCH_SLOTS * 2 - 1)) * 8);
}

static long ovl_read_block(__u64 i, void *data)
{
	struct ovl_walk *w = data;
	__u64 b = w->block + i;
	struct ovl_block *v = bpf_map_lookup_elem(&overlay_blocks, &b);

	if (v && v->persisted) {
		__sync_fetch_and_add(&w->st->reads_overlay, 1);
		w->err = bublk_emit(&w->e, BUBLK_SEG_READ, 0, OVL_DATA_OFF + (__u64)v->slot * OVL_BLOCK,
				    i * OVL_BLOCK, OVL_BLOCK);
	} else {
		__sync_fetch_and_add(&w->st->reads_base, 1);
		w->err = bublk_emit(&w->e, BUBLK_SEG_READ, 1, b * OVL_BLOCK, i * OVL_BLOCK, OVL_BLOCK);
	}
	return w->err ? 1 : 0;
}

static long ovl_write_block(__u64 i, void *data)
{
	struct ovl_walk *w = data;
	__u64 b = w->block + i;
	struct ovl_block *v = bpf_map_lookup_elem(&overlay_blocks, &b);

	if (!v) {
		struct ovl_block fresh = { .slot = 0, .persisted = 0 };
		__u64 slot = __sync_fetch_and_add(&w->st->next_slot, 1);

		if (slot >= w->st->nr_slots) {
			w->err = -ENOSPC;
			return 1;
		}
		fresh.slot = slot;
		/* another queue may have won the race: then its slot is used */
		bpf_map_update_elem(&overlay_blocks, &b, &fresh, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&overlay_blocks, &b);
		if (!v) {
			w->err = -ENOSPC;	/* the map is full */
			return 1;
		}
		__sync_fetch_and_add(&w->st->allocs, 1);
	}
	__sync_fetch_and_add(&w->st->writes, 1);
	if (!v->persisted) {
		*scratch_u64(&w->e, i) = b + 1;				/* the entry */
		*scratch_u64(&w->e, OVL_SCRATCH_SLOTS + i) = v->slot;	/* where it goes */
		w->meta |= 1U << (i & 31);
	}
	w->err = bublk_emit_seg(&w->e, 0, BUBLK_SEG_WRITE, 0,
				OVL_DATA_OFF + (__u64)v->slot * OVL_BLOCK, i * OVL_BLOCK, OVL_BLOCK, 0);
	return w->err ? 1 : 0;
}

/* stage 1: the table entries of blocks not yet persisted */
static long ovl_write_entry(__u64 i, void *data)
{
	struct ovl_walk *w = data;
	__u64 slot;

	if (!(w->meta & (1U << (i & 31))))
		return 0;
	slot = *scratch_u64(&w->e, OVL_SCRATCH_SLOTS + i);
	w->err = bublk_emit_seg(&w->e, 1, BUBLK_SEG_WRITE, 0, slot * 8, i * 8, 8, BUBLK_SEG_F_ARENA);
	return w->err ? 1 : 0;
}

static __always_inline int overlay_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct ovl_walk w = { .e = *e, .op = rq->op };
	__u32 n = rq->len / OVL_BLOCK;

	w.st = state();
	if (!w.st)
		return bublk_complete(e, -EIO);
	w.block = rq->offset / OVL_BLOCK;
	switch (rq->op) {
	case BUBLK_OP_FLUSH:
		return bublk_emit(e, BUBLK_SEG_FLUSH, 0, 0, 0, 0) ? bublk_complete(e, -EIO) :
								    BUBLK_ACT_EXEC;
	case BUBLK_OP_READ:
	case BUBLK_OP_WRITE:
		break;
	default:
		return bublk_complete(e, -EOPNOTSUPP);
	}
	/* the device has 4K blocks and 64K requests (bublk_init), so this holds */
	if (n > OVL_IO_BLOCKS || rq->len % OVL_BLOCK || rq->offset % OVL_BLOCK)
		return bublk_complete(e, -EIO);
	if (rq->op == BUBLK_OP_READ) {
		bpf_loop(n, ovl_read_block, &w, 0);
	} else {
		bpf_loop(n, ovl_write_block, &w, 0);
		if (!w.err && w.meta) {
			bpf_loop(n, ovl_write_entry, &w, 0);
			/* mark the blocks persisted once the entries are on disk */
			w.e.notify = 1;
		}
	}
	*e = w.e;
	return w.err ? bublk_complete(e, w.err) : BUBLK_ACT_EXEC;
}

BUBLK_HELP("overlay: copy-on-write over a read-only base: --base IMG -f OVERLAY.\n"
	   "Reads of blocks never written come from the base; the first write of a block copies it into the\n"
	   "overlay file, whose first 1 MiB is the block table (kept on disk, so a new\n"
	   "daemon finds every acknowledged write). 4K blocks, requests up to 64K.\n"
	   "  bublk add -t overlay --base base.img -f overlay.img");
BUBLK_TARGET("overlay", overlay_map);

/* persisted: both stages of the write ran; read the entries back from scratch */
static long ovl_persist(__u64 i, void *data)
{
	struct bublk_emit *e = data;
	struct ovl_block *v;
	struct bublk_seg s;
	__u64 b;

	if (bublk_prev_seg(e, i, &s) || !(s.flags & BUBLK_SEG_F_ARENA) || s.result)
		return 0;
	b = *scratch_u64(e, s.data_off / 8) - 1;
	v = bpf_map_lookup_elem(&overlay_blocks, &b);
	if (v)
		v->persisted = 1;
	return 0;
}

static __always_inline int overlay_done(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct bublk_emit copy = *e;

	if (rq->op == BUBLK_OP_WRITE && !rq->result)
		bpf_loop(e->nr_prev, ovl_persist, &copy, 0);
	return bublk_complete(e, rq->result);
}

BUBLK_DONE(overlay_done);

static int overlay_init(struct bublk_dev_info *di)
{
	struct ovl_state *st = state();
	__u64 slots;

	if (!st)
		return -EINVAL;
	if (di->nr_backends != 2)
		return bublk_refuse(-EINVAL, "overlay needs -f OVERLAY and --base IMG");
	/* not even one slot after the table */
	if (di->backend_size[0] < OVL_DATA_OFF + OVL_BLOCK)
		return bublk_refuse(-ENOSPC, "the overlay file is smaller than its 1 MiB block table plus one block");
	slots = (di->backend_size[0] - OVL_DATA_OFF) / OVL_BLOCK;
	st->nr_slots = slots < OVL_MAX_SLOTS ? slots : OVL_MAX_SLOTS;
	if (!di->size)
		di->size = di->backend_size[1] & ~(__u64)(OVL_BLOCK - 1);
	if (di->size > di->backend_size[1])
		return bublk_refuse(-ENOSPC, "the base image is smaller than the device");
	st->nr_blocks = di->size / OVL_BLOCK;
	st->next_slot = 0;
	di->block_size = OVL_BLOCK;
	di->attrs |= BUBLK_DEV_NO_DISCARD | BUBLK_DEV_NO_WRITE_ZEROES;
	if (di->max_io_bytes > OVL_IO_BLOCKS * OVL_BLOCK)
		di->max_io_bytes = OVL_IO_BLOCKS * OVL_BLOCK;
	/* the table: bublk_load rebuilds overlay_blocks from it */
	di->preload_backend = 0;
	di->preload_off = 0;
	di->preload_pages = OVL_TABLE_PAGES;
	return 0;
}
BUBLK_INIT(overlay_init);

struct ovl_load {
	struct ovl_state	*st;
};

static long ovl_load_entry(__u64 i, void *data)
{
	struct ovl_state *st = ((struct ovl_load *)data)->st;
	__u32 page = i / (OVL_BLOCK / 8);
	struct bublk_page *p = bpf_map_lookup_elem(&bublk_preload, &page);
	struct ovl_block v = { .slot = i, .persisted = 1 };
	__u64 entry, b;

	if (!p)
		return 1;
	entry = *(__u64 *)&p->data[(i % (OVL_BLOCK / 8)) * 8];
	if (!entry || i >= st->nr_slots)
		return 0;
	b = entry - 1;
	if (b >= st->nr_blocks)
		return 0;	/* a table from a larger base: ignore what is past ours */
	bpf_map_update_elem(&overlay_blocks, &b, &v, BPF_ANY);
	if (i + 1 > st->next_slot)
		st->next_slot = i + 1;
	return 0;
}

static int overlay_load(void)
{
	struct ovl_load l = { .st = state() };

	if (!l.st)
		return -EINVAL;
	bpf_loop(OVL_MAX_SLOTS, ovl_load_entry, &l, 0);
	return 0;
}
BUBLK_LOAD(overlay_load);

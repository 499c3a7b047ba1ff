// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bublk_sg.c - the scatter/gather hook: struct_ops type "bublk_sg_ops" and
 * kfunc bpf_bublk_sg_piece() (bublk prototype, see include/bublk/sg_hook.h).
 * #included by bublk_shmem.c.
 *
 * A program is attached per device (ops->dev_id) with a struct_ops link.
 * The attachment table is looked up under RCU at dispatch; detaching waits
 * for an RCU grace period, so no dispatch still runs the old program.
 */
#include <linux/bpf.h>
#include <linux/bpf_verifier.h>
#include <linux/btf.h>
#include <linux/btf_ids.h>

/* dev_id -> struct bublk_sg_ops (the struct_ops map's kernel data) */
static DEFINE_XARRAY(bublk_sg_attached);

/* what the program's ctx points into; pieces stay hidden behind the kfunc */
struct bublk_sg_kctx {
	struct bublk_sg_ctx		ctx;
	const struct bublk_sg_piece	*pieces;
};

static bool bublk_sg_build(struct ublk_device *ub, struct ublk_queue *ubq,
			   struct request *req, struct ublksrv_io_desc *iod,
			   const struct bublk_sg_piece *pieces, int n)
{
	struct bublk_sg_kctx k = {
		.ctx = {
			.dev_id = ub->ub_number,
			.q_id = ubq->q_id,
			.tag = req->tag,
			.op = iod->op_flags & 0xff,
			.nr_pieces = n,
			.bytes = blk_rq_bytes(req),
		},
		.pieces = pieces,
	};
	struct bublk_sg_ops *ops;
	int ret = 0;

	rcu_read_lock();
	ops = xa_load(&bublk_sg_attached, ub->ub_number);
	if (ops && ops->build)
		ret = ops->build(&k.ctx);
	rcu_read_unlock();

	/* refusal or no program: the normal path, exactly as upstream */
	if (ret <= 0 || ret > n || !k.ctx.iov_addr)
		return false;
	iod->op_flags |= UBLK_IO_F_SHMEM_SG;
	iod->addr = k.ctx.iov_addr;
	return true;
}

__bpf_kfunc_start_defs();

/* copy piece @i of the request into @out; -EINVAL past the last one */
__bpf_kfunc int bpf_bublk_sg_piece(struct bublk_sg_ctx *ctx, u32 i,
				   struct bublk_sg_piece *out)
{
	struct bublk_sg_kctx *k = container_of(ctx, struct bublk_sg_kctx, ctx);

	if (i >= ctx->nr_pieces)
		return -EINVAL;
	*out = k->pieces[i];
	return 0;
}

__bpf_kfunc_end_defs();

BTF_KFUNCS_START(bublk_sg_kfunc_ids)
BTF_ID_FLAGS(func, bpf_bublk_sg_piece, KF_TRUSTED_ARGS)
BTF_KFUNCS_END(bublk_sg_kfunc_ids)

static const struct btf_kfunc_id_set bublk_sg_kfunc_set = {
	.owner	= THIS_MODULE,
	.set	= &bublk_sg_kfunc_ids,
};

BTF_ID_LIST_SINGLE(bublk_sg_ctx_ids, struct, bublk_sg_ctx)

static bool bublk_sg_is_valid_access(int off, int size,
				     enum bpf_access_type type,
				     const struct bpf_prog *prog,
				     struct bpf_insn_access_aux *info)
{
	return bpf_tracing_btf_ctx_access(off, size, type, prog, info);
}

/* BPF writes through the ctx pointer: only ctx->iov_addr */
static int bublk_sg_btf_struct_access(struct bpf_verifier_log *log,
				      const struct bpf_reg_state *reg,
				      int off, int size)
{
	if (reg->btf_id == bublk_sg_ctx_ids[0] &&
	    off == offsetof(struct bublk_sg_ctx, iov_addr) &&
	    size == sizeof(u64))
		return SCALAR_VALUE;
	bpf_log(log, "bublk_sg: only bublk_sg_ctx->iov_addr is writable\n");
	return -EACCES;
}

static const struct bpf_func_proto *
bublk_sg_get_func_proto(enum bpf_func_id func_id, const struct bpf_prog *prog)
{
	return bpf_base_func_proto(func_id, prog);
}

static const struct bpf_verifier_ops bublk_sg_verifier_ops = {
	.is_valid_access	= bublk_sg_is_valid_access,
	.btf_struct_access	= bublk_sg_btf_struct_access,
	.get_func_proto		= bublk_sg_get_func_proto,
};

static int bublk_sg_init(struct btf *btf)
{
	return 0;
}

/* build() is called from ->queue_rq under rcu_read_lock: never sleepable */
static int bublk_sg_check_member(const struct btf_type *t,
				 const struct btf_member *member,
				 const struct bpf_prog *prog)
{
	return prog->sleepable ? -EINVAL : 0;
}

static int bublk_sg_init_member(const struct btf_type *t,
				const struct btf_member *member,
				void *kdata, const void *udata)
{
	u32 moff = __btf_member_bit_offset(t, member) / 8;

	if (moff != offsetof(struct bublk_sg_ops, dev_id))
		return 0;	/* function pointers: the core handles them */
	((struct bublk_sg_ops *)kdata)->dev_id =
		((const struct bublk_sg_ops *)udata)->dev_id;
	return 1;
}

static int bublk_sg_reg(void *kdata, struct bpf_link *link)
{
	struct bublk_sg_ops *ops = kdata;
	int ret;

	if (!link)
		return -EOPNOTSUPP;	/* link-based attachment only */
	ret = xa_insert(&bublk_sg_attached, ops->dev_id, ops, GFP_KERNEL);
	return ret == -EBUSY ? -EEXIST : ret;
}

static void bublk_sg_unreg(void *kdata, struct bpf_link *link)
{
	struct bublk_sg_ops *ops = kdata;

	xa_cmpxchg(&bublk_sg_attached, ops->dev_id, ops, NULL, GFP_KERNEL);
	synchronize_rcu();
}

static int bublk_sg_build_stub(struct bublk_sg_ctx *ctx)
{
	return 0;
}

static struct bublk_sg_ops bublk_sg_cfi_stubs = {
	.build = bublk_sg_build_stub,
};

static struct bpf_struct_ops bublk_sg_bpf_ops = {
	.verifier_ops	= &bublk_sg_verifier_ops,
	.init		= bublk_sg_init,
	.check_member	= bublk_sg_check_member,
	.init_member	= bublk_sg_init_member,
	.reg		= bublk_sg_reg,
	.unreg		= bublk_sg_unreg,
	.cfi_stubs	= &bublk_sg_cfi_stubs,
	.name		= "bublk_sg_ops",
	.owner		= THIS_MODULE,
};

/* from ublk_init(); a failure only disables the hook */
static int bublk_sg_register(void)
{
	int ret;

	ret = register_btf_kfunc_id_set(BPF_PROG_TYPE_STRUCT_OPS,
					&bublk_sg_kfunc_set);
	if (!ret)
		ret = register_bpf_struct_ops(&bublk_sg_bpf_ops, bublk_sg_ops);
	if (ret)
		pr_warn("ublk: bublk_sg_ops hook unavailable: %d\n", ret);
	return ret;
}

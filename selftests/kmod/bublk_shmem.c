// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bublk_shmem.c - UBLK_F_SHMEM_ZC with upstream 7.1 semantics, plus bublk's
 * scatter/gather struct_ops hook, for Debian 6.12's ublk driver.
 *
 * patch.py #includes this file into ublk_drv.c right before
 * ublk_setup_iod(), so it sees the driver's private types and helpers.  It
 * is built for the bublk test VM only (selftests/kmod/build.sh).
 *
 * Registration (UBLK_U_CMD_REG_BUF) long-term pins the server's pages and
 * records every page frame in an xarray: pfn -> (buffer index, page offset,
 * read-only).  At dispatch, a READ/WRITE whose pages all lie contiguously,
 * in order, inside one buffer gets UBLK_IO_F_SHMEM_ZC with
 * iod->addr = index << 32 | offset, and neither ublk_map_io() nor
 * ublk_unmap_io() copies anything.  Pages that all lie in registered
 * buffers but not as one span go to the attached bublk_sg_ops program, if
 * any.  Everything else is untouched.
 *
 * Readers (dispatch) never lock: every change to the tables happens with
 * the queue frozen (or before the disk exists), so no request is in
 * ->queue_rq or in flight while they change.
 */

#define BUBLK_SHM_MAX_LEN	(4ULL << 30)	/* upstream: at most 4 GiB */
#define BUBLK_SHM_MAX_BUFS	65536		/* index fits 16 bits */
#define BUBLK_SHM_PIN_BATCH	4096		/* pages per pin call */

/* xarray value: index << 32 | read-only << 31 | page offset (< 2^20) */
#define BUBLK_SHM_RO		(1UL << 31)
#define BUBLK_SHM_VAL(idx, ro, pgoff) \
	(((unsigned long)(idx) << 32) | ((ro) ? BUBLK_SHM_RO : 0) | (pgoff))

struct bublk_shm_buf {
	struct page	**pages;
	unsigned long	nr_pages;
	bool		read_only;
};

static inline bool ublk_dev_support_shmem_zc(const struct ublk_device *ub)
{
	return ub->dev_info.flags & UBLK_F_SHMEM_ZC;
}

static void bublk_shm_init(struct ublk_device *ub)
{
	xa_init_flags(&ub->shm.bufs, XA_FLAGS_ALLOC);
	xa_init(&ub->shm.pfns);
	ub->shm.nr_bufs = 0;
}

static void bublk_shm_buf_free(struct bublk_shm_buf *buf)
{
	unpin_user_pages(buf->pages, buf->nr_pages);
	kvfree(buf->pages);
	kfree(buf);
}

/* drop buf's pfn entries; only the first @nr pages were inserted */
static void bublk_shm_erase_pfns(struct bublk_shm *shm,
				 struct bublk_shm_buf *buf, unsigned long nr)
{
	unsigned long i;

	for (i = 0; i < nr; i++)
		xa_erase(&shm->pfns, page_to_pfn(buf->pages[i]));
}

/* device release: nothing can dispatch any more */
static void bublk_shm_release(struct ublk_device *ub)
{
	struct bublk_shm_buf *buf;
	unsigned long index;

	xa_for_each(&ub->shm.bufs, index, buf)
		bublk_shm_buf_free(buf);
	xa_destroy(&ub->shm.bufs);
	xa_destroy(&ub->shm.pfns);
	ub->shm.nr_bufs = 0;
}

static int bublk_shm_pin(struct bublk_shm_buf *buf, u64 addr)
{
	unsigned int gup = FOLL_LONGTERM | (buf->read_only ? 0 : FOLL_WRITE);
	unsigned long done = 0;
	int ret;

	while (done < buf->nr_pages) {
		int n = min_t(unsigned long, buf->nr_pages - done,
			      BUBLK_SHM_PIN_BATCH);

		ret = pin_user_pages_fast(addr + (done << PAGE_SHIFT), n, gup,
					  buf->pages + done);
		if (ret <= 0) {
			unpin_user_pages(buf->pages, done);
			return ret ? ret : -EFAULT;
		}
		done += ret;
	}
	return 0;
}

/* freeze I/O while the tables change; called with ub->mutex held */
static struct request_queue *bublk_shm_freeze(struct ublk_device *ub)
{
	struct request_queue *q = ub->ub_disk ? ub->ub_disk->queue : NULL;

	if (q)
		blk_mq_freeze_queue(q);
	return q;
}

static void bublk_shm_unfreeze(struct request_queue *q)
{
	if (q)
		blk_mq_unfreeze_queue(q);
}

static int bublk_ctrl_reg_buf(struct ublk_device *ub, struct io_uring_cmd *cmd)
{
	const struct ublksrv_ctrl_cmd *header = io_uring_sqe_cmd(cmd->sqe);
	struct bublk_shm *shm = &ub->shm;
	struct ublk_shmem_buf_reg reg;
	struct bublk_shm_buf *buf;
	struct request_queue *q;
	unsigned long i;
	u32 index;
	int ret;

	if (!ublk_dev_support_shmem_zc(ub))
		return -EOPNOTSUPP;
	if (header->len != sizeof(reg) || !header->addr)
		return -EINVAL;
	if (copy_from_user(&reg, u64_to_user_ptr(header->addr), sizeof(reg)))
		return -EFAULT;
	if ((reg.flags & ~UBLK_SHMEM_BUF_READ_ONLY) || reg.reserved)
		return -EINVAL;
	if (!reg.len || reg.len > BUBLK_SHM_MAX_LEN ||
	    !PAGE_ALIGNED(reg.addr) || !PAGE_ALIGNED(reg.len))
		return -EINVAL;

	buf = kzalloc(sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	buf->nr_pages = reg.len >> PAGE_SHIFT;
	buf->read_only = reg.flags & UBLK_SHMEM_BUF_READ_ONLY;
	buf->pages = kvmalloc_array(buf->nr_pages, sizeof(*buf->pages),
				    GFP_KERNEL);
	if (!buf->pages) {
		kfree(buf);
		return -ENOMEM;
	}
	/* pin outside ub->mutex and the freeze: it may fault and migrate */
	ret = bublk_shm_pin(buf, reg.addr);
	if (ret) {
		kvfree(buf->pages);
		kfree(buf);
		return ret;
	}

	mutex_lock(&ub->mutex);
	q = bublk_shm_freeze(ub);
	ret = xa_alloc(&shm->bufs, &index, buf,
		       XA_LIMIT(0, BUBLK_SHM_MAX_BUFS - 1), GFP_KERNEL);
	if (ret) {
		ret = ret == -EBUSY ? -ENOSPC : ret;
		goto out_unlock;
	}
	for (i = 0; i < buf->nr_pages; i++) {
		ret = xa_insert(&shm->pfns, page_to_pfn(buf->pages[i]),
				xa_mk_value(BUBLK_SHM_VAL(index, buf->read_only, i)),
				GFP_KERNEL);
		if (ret) {
			/* -EBUSY: that page is already registered */
			ret = ret == -EBUSY ? -EEXIST : ret;
			bublk_shm_erase_pfns(shm, buf, i);
			xa_erase(&shm->bufs, index);
			goto out_unlock;
		}
	}
	shm->nr_bufs++;
	ret = index;
out_unlock:
	bublk_shm_unfreeze(q);
	mutex_unlock(&ub->mutex);
	if (ret < 0)
		bublk_shm_buf_free(buf);
	return ret;
}

static int bublk_ctrl_unreg_buf(struct ublk_device *ub,
				struct io_uring_cmd *cmd)
{
	const struct ublksrv_ctrl_cmd *header = io_uring_sqe_cmd(cmd->sqe);
	struct bublk_shm *shm = &ub->shm;
	struct bublk_shm_buf *buf;
	struct request_queue *q;
	u64 index = header->data[0];

	if (!ublk_dev_support_shmem_zc(ub))
		return -EOPNOTSUPP;
	if (index >= BUBLK_SHM_MAX_BUFS)
		return -ENOENT;

	mutex_lock(&ub->mutex);
	q = bublk_shm_freeze(ub);
	buf = xa_erase(&shm->bufs, index);
	if (buf) {
		bublk_shm_erase_pfns(shm, buf, buf->nr_pages);
		shm->nr_bufs--;
	}
	bublk_shm_unfreeze(q);
	mutex_unlock(&ub->mutex);
	if (!buf)
		return -ENOENT;
	bublk_shm_buf_free(buf);
	return 0;
}

/*
 * Describe @req's data as pieces of registered buffers, merging what is
 * contiguous.  Returns the piece count, 0 if some page is not registered
 * (or is read-only and the server would have to write it), -E2BIG if more
 * than @max pieces would be needed.
 */
static int bublk_shm_pieces(struct bublk_shm *shm, struct request *req,
			    bool server_writes, struct bublk_sg_piece *p,
			    int max)
{
	struct req_iterator iter;
	struct bio_vec bv;
	int n = 0;

	rq_for_each_bvec(bv, req, iter) {
		/* a multi-page bvec is physically contiguous: walk its pages */
		unsigned long pfn = page_to_pfn(bv.bv_page) +
				    (bv.bv_offset >> PAGE_SHIFT);
		unsigned int off = offset_in_page(bv.bv_offset);
		unsigned int left = bv.bv_len;

		while (left) {
			unsigned int chunk = min_t(unsigned int, left,
						   PAGE_SIZE - off);
			void *e = xa_load(&shm->pfns, pfn);
			unsigned long v;
			u64 boff;
			u32 idx;

			if (!e)
				return 0;
			v = xa_to_value(e);
			if (server_writes && (v & BUBLK_SHM_RO))
				return 0;
			idx = v >> 32;
			boff = ((u64)(v & (BUBLK_SHM_RO - 1)) << PAGE_SHIFT) + off;
			if (n && p[n - 1].buf_index == idx &&
			    p[n - 1].offset + p[n - 1].len == boff) {
				p[n - 1].len += chunk;
			} else {
				if (n == max)
					return -E2BIG;
				p[n].buf_index = idx;
				p[n].offset = boff;
				p[n].len = chunk;
				n++;
			}
			left -= chunk;
			off = 0;
			pfn++;
		}
	}
	return n;
}

static bool bublk_sg_build(struct ublk_device *ub, struct ublk_queue *ubq,
			   struct request *req, struct ublksrv_io_desc *iod,
			   const struct bublk_sg_piece *pieces, int n);

/* called by ublk_setup_iod() once the iod is filled in the normal way */
static void bublk_shm_setup_iod(struct ublk_queue *ubq, struct request *req,
				struct ublksrv_io_desc *iod)
{
	struct ublk_device *ub = ubq->dev;
	struct bublk_sg_piece pieces[BUBLK_SG_MAX_PIECES];
	enum req_op op = req_op(req);
	int n;

	if (!ublk_dev_support_shmem_zc(ub) || !READ_ONCE(ub->shm.nr_bufs))
		return;
	if ((op != REQ_OP_READ && op != REQ_OP_WRITE) || !ublk_rq_has_data(req))
		return;
	n = bublk_shm_pieces(&ub->shm, req, op == REQ_OP_READ, pieces,
			     ARRAY_SIZE(pieces));
	if (n == 1) {
		iod->op_flags |= UBLK_IO_F_SHMEM_ZC;
		iod->addr = ((u64)pieces[0].buf_index << UBLK_SHMEM_ZC_IDX_OFF) |
			    pieces[0].offset;
	} else if (n > 1) {
		bublk_sg_build(ub, ubq, req, iod, pieces, n);
	}
}

/* the server serves this request from registered memory: nothing to copy */
static bool bublk_shm_req_is_zc(const struct ublk_queue *ubq,
				const struct request *req)
{
	const struct ublksrv_io_desc *iod =
		ublk_get_iod((struct ublk_queue *)ubq, req->tag);

	return READ_ONCE(iod->op_flags) &
	       (UBLK_IO_F_SHMEM_ZC | UBLK_IO_F_SHMEM_SG);
}

#include "bublk_sg.c"

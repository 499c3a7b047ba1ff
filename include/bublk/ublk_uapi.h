/* SPDX-License-Identifier: MIT */
/*
 * The ublk user/kernel interface bublk relies on, through Linux 7.3.
 *
 * Debian 12 ships the 6.1 <linux/ublk_cmd.h>, which lacks everything added
 * since (ioctl-encoded opcodes, USER_COPY, GET_FEATURES, SHMEM_ZC, ...), so
 * bublk carries its own definitions. Values are the upstream UAPI numbers.
 * We define the upstream include guard so the old system header, if some
 * other header pulls it in afterwards, does not redefine these.
 *
 * Only what upstream has: the scatter/gather prototype's bits, which only
 * bublk's test module implements, are in ublk_proto.h.
 */
#ifndef BUBLK_UBLK_UAPI_H
#define BUBLK_UBLK_UAPI_H

#ifndef USER_BLK_DRV_CMD_INC_H
#define USER_BLK_DRV_CMD_INC_H
#endif

#ifndef __bpf__
#include <linux/types.h>
#include <linux/ioctl.h>
#endif

/* ---- control commands (sent to /dev/ublk-control, SQE128) ---- */
#define UBLK_CMD_GET_QUEUE_AFFINITY	0x01
#define UBLK_CMD_GET_DEV_INFO		0x02
#define UBLK_CMD_ADD_DEV		0x04
#define UBLK_CMD_DEL_DEV		0x05
#define UBLK_CMD_START_DEV		0x06
#define UBLK_CMD_STOP_DEV		0x07
#define UBLK_CMD_SET_PARAMS		0x08
#define UBLK_CMD_GET_PARAMS		0x09
#define UBLK_CMD_START_USER_RECOVERY	0x10
#define UBLK_CMD_END_USER_RECOVERY	0x11
#define UBLK_CMD_GET_DEV_INFO2		0x12
/* 0x13 and later exist only ioctl-encoded */
#define UBLK_CMD_GET_FEATURES		0x13
#define UBLK_CMD_DEL_DEV_ASYNC		0x14
#define UBLK_CMD_UPDATE_SIZE		0x15
#define UBLK_CMD_QUIESCE_DEV		0x16
#define UBLK_CMD_TRY_STOP_DEV		0x17
#define UBLK_CMD_REG_BUF		0x18
#define UBLK_CMD_UNREG_BUF		0x19

#define UBLK_U_CMD_GET_QUEUE_AFFINITY	_IOR('u', 0x01, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_DEV_INFO		_IOR('u', 0x02, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_ADD_DEV		_IOWR('u', 0x04, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_DEL_DEV		_IOWR('u', 0x05, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_START_DEV		_IOWR('u', 0x06, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_STOP_DEV		_IOWR('u', 0x07, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_SET_PARAMS		_IOWR('u', 0x08, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_PARAMS		_IOR('u', 0x09, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_START_USER_RECOVERY	_IOWR('u', 0x10, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_END_USER_RECOVERY	_IOWR('u', 0x11, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_DEV_INFO2	_IOR('u', 0x12, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_FEATURES		_IOR('u', 0x13, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_DEL_DEV_ASYNC	_IOR('u', 0x14, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_UPDATE_SIZE		_IOWR('u', 0x15, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_QUIESCE_DEV		_IOWR('u', 0x16, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_TRY_STOP_DEV		_IOWR('u', 0x17, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_REG_BUF		_IOWR('u', 0x18, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_UNREG_BUF		_IOWR('u', 0x19, struct ublksrv_ctrl_cmd)

/* ---- per-queue I/O commands (sent to /dev/ublkcN) ---- */
#define UBLK_IO_FETCH_REQ		0x20
#define UBLK_IO_COMMIT_AND_FETCH_REQ	0x21
#define UBLK_IO_NEED_GET_DATA		0x22

#define UBLK_U_IO_FETCH_REQ		_IOWR('u', 0x20, struct ublksrv_io_cmd)
#define UBLK_U_IO_COMMIT_AND_FETCH_REQ	_IOWR('u', 0x21, struct ublksrv_io_cmd)
#define UBLK_U_IO_NEED_GET_DATA		_IOWR('u', 0x22, struct ublksrv_io_cmd)
#define UBLK_U_IO_REGISTER_IO_BUF	_IOWR('u', 0x23, struct ublksrv_io_cmd)
#define UBLK_U_IO_UNREGISTER_IO_BUF	_IOWR('u', 0x24, struct ublksrv_io_cmd)

/*
 * UBLK_F_BATCH_IO (7.0+): per-queue commands over arrays of tags instead of
 * one FETCH/COMMIT per tag. The header sits in the SQE's cmd area, the
 * element array at sqe->addr. Only ioctl-encoded opcodes exist for these.
 */
struct ublk_batch_io {
	__u16	q_id;
	__u16	flags;		/* UBLK_BATCH_F_* */
	__u16	nr_elem;
	__u8	elem_bytes;	/* sizeof(struct ublk_elem_header) + 8 per optional field */
	__u8	reserved;
	__u64	reserved2;
};
#define UBLK_BATCH_F_HAS_ZONE_LBA		(1U << 0)
#define UBLK_BATCH_F_HAS_BUF_ADDR		(1U << 1)	/* copy mode: a __u64 buffer address follows */
#define UBLK_BATCH_F_AUTO_BUF_REG_FALLBACK	(1U << 2)

/* one element of PREP_IO_CMDS and COMMIT_IO_CMDS (FETCH_IO_CMDS returns bare __u16 tags) */
struct ublk_elem_header {
	__u16	tag;
	__u16	buf_index;	/* UBLK_F_AUTO_BUF_REG: where the tag's next request is registered */
	__s32	result;		/* COMMIT: the request's result */
};

/* arm every tag once, before START_DEV (CQE: 0 or -errno) */
#define UBLK_U_IO_PREP_IO_CMDS		_IOWR('u', 0x25, struct ublk_batch_io)
/* complete requests; CQE: bytes of elements consumed (a prefix), or -errno if none */
#define UBLK_U_IO_COMMIT_IO_CMDS	_IOWR('u', 0x26, struct ublk_batch_io)
/* multishot, buffer select: each CQE delivers __u16 tags of new requests */
#define UBLK_U_IO_FETCH_IO_CMDS		_IOWR('u', 0x27, struct ublk_batch_io)

/* result of a FETCH/COMMIT_AND_FETCH completion */
#define UBLK_IO_RES_OK			0
#define UBLK_IO_RES_NEED_GET_DATA	1
#define UBLK_IO_RES_ABORT		(-19)	/* -ENODEV */

/* mmap offsets and user-copy offsets on /dev/ublkcN */
#define UBLKSRV_CMD_BUF_OFFSET	0
#define UBLKSRV_IO_BUF_OFFSET	0x80000000
#define UBLK_MAX_QUEUE_DEPTH	4096
#define UBLK_IO_BUF_BITS	25
#define UBLK_IO_BUF_BITS_MASK	((1ULL << UBLK_IO_BUF_BITS) - 1)
#define UBLK_TAG_OFF		UBLK_IO_BUF_BITS
#define UBLK_TAG_BITS		16
#define UBLK_QID_OFF		(UBLK_TAG_OFF + UBLK_TAG_BITS)
#define UBLK_QID_BITS		12
#define UBLK_MAX_NR_QUEUES	(1U << UBLK_QID_BITS)

/* ---- device feature flags (ublksrv_ctrl_dev_info.flags) ---- */
#define UBLK_F_SUPPORT_ZERO_COPY	(1ULL << 0)
#define UBLK_F_URING_CMD_COMP_IN_TASK	(1ULL << 1)
#define UBLK_F_NEED_GET_DATA		(1ULL << 2)
#define UBLK_F_USER_RECOVERY		(1ULL << 3)
#define UBLK_F_USER_RECOVERY_REISSUE	(1ULL << 4)
#define UBLK_F_UNPRIVILEGED_DEV		(1ULL << 5)
#define UBLK_F_CMD_IOCTL_ENCODE		(1ULL << 6)
#define UBLK_F_USER_COPY		(1ULL << 7)
#define UBLK_F_ZONED			(1ULL << 8)
#define UBLK_F_USER_RECOVERY_FAIL_IO	(1ULL << 9)
#define UBLK_F_UPDATE_SIZE		(1ULL << 10)
#define UBLK_F_AUTO_BUF_REG		(1ULL << 11)
#define UBLK_F_QUIESCE			(1ULL << 12)
#define UBLK_F_PER_IO_DAEMON		(1ULL << 13)
#define UBLK_F_BUF_REG_OFF_DAEMON	(1ULL << 14)
#define UBLK_F_BATCH_IO			(1ULL << 15)
#define UBLK_F_INTEGRITY		(1ULL << 16)
#define UBLK_F_SAFE_STOP_DEV		(1ULL << 17)
#define UBLK_F_NO_AUTO_PART_SCAN	(1ULL << 18)
#define UBLK_F_SHMEM_ZC			(1ULL << 19)
#define UBLK_F_IO_DESC_SIZE		(1ULL << 20)

/*
 * UBLK_F_AUTO_BUF_REG: FETCH and COMMIT_AND_FETCH carry, in the SQE's own
 * addr field, the fixed-buffer index the driver registers the tag's next
 * request buffer at (bits 0-15), flags (16-23), zero elsewhere.
 */
struct ublk_auto_buf_reg {
	__u16	index;
	__u8	flags;
	__u8	reserved0;
	__u32	reserved1;
};
/* registration failed: post the request anyway, with UBLK_IO_F_NEED_REG_BUF */
#define UBLK_AUTO_BUF_REG_FALLBACK	(1U << 0)

static inline __u64 ublk_auto_buf_reg_sqe_addr(struct ublk_auto_buf_reg r)
{
	return r.index | ((__u64)r.flags << 16) | ((__u64)r.reserved0 << 24) |
	       ((__u64)r.reserved1 << 32);
}

/* device state (ublksrv_ctrl_dev_info.state) */
#define UBLK_S_DEV_DEAD		0
#define UBLK_S_DEV_LIVE		1
#define UBLK_S_DEV_QUIESCED	2
#define UBLK_S_DEV_FAIL_IO	3

struct ublksrv_ctrl_cmd {
	__u32	dev_id;
	__u16	queue_id;	/* -1 when not queue-specific */
	__u16	len;		/* bytes at addr */
	__u64	addr;
	__u64	data[1];
	__u16	dev_path_len;	/* unprivileged devices only */
	__u16	pad;
	__u32	reserved;
};

struct ublksrv_ctrl_dev_info {
	__u16	nr_hw_queues;
	__u16	queue_depth;
	__u16	state;
	/* UBLK_F_IO_DESC_SIZE (7.x): the stride of the mmapped descriptors;
	 * without the flag the kernel answers sizeof(struct ublksrv_io_desc) */
	__u16	io_desc_size;
	__u32	max_io_buf_bytes;
	__u32	dev_id;
	__s32	ublksrv_pid;
	__u32	pad1;
	__u64	flags;
	__u64	ublksrv_flags;	/* opaque to the kernel, kept for the server */
	__u32	owner_uid;
	__u32	owner_gid;
	__u64	reserved1;
	__u64	reserved2;
};

/* ---- request ops and flags (ublksrv_io_desc.op_flags) ---- */
#define UBLK_IO_OP_READ			0
#define UBLK_IO_OP_WRITE		1
#define UBLK_IO_OP_FLUSH		2
#define UBLK_IO_OP_DISCARD		3
#define UBLK_IO_OP_WRITE_SAME		4
#define UBLK_IO_OP_WRITE_ZEROES		5
#define UBLK_IO_OP_ZONE_OPEN		10
#define UBLK_IO_OP_ZONE_CLOSE		11
#define UBLK_IO_OP_ZONE_FINISH		12
#define UBLK_IO_OP_ZONE_APPEND		13
#define UBLK_IO_OP_ZONE_RESET_ALL	14
#define UBLK_IO_OP_ZONE_RESET		15
#define UBLK_IO_OP_REPORT_ZONES		18

#define UBLK_IO_F_FAILFAST_DEV		(1U << 8)
#define UBLK_IO_F_FAILFAST_TRANSPORT	(1U << 9)
#define UBLK_IO_F_FAILFAST_DRIVER	(1U << 10)
#define UBLK_IO_F_META			(1U << 11)
#define UBLK_IO_F_FUA			(1U << 13)
#define UBLK_IO_F_NOUNMAP		(1U << 15)
#define UBLK_IO_F_SWAP			(1U << 16)
#define UBLK_IO_F_NEED_REG_BUF		(1U << 17)
#define UBLK_IO_F_SHMEM_ZC		(1U << 19)

/* one per tag, in the read-only array mmapped from /dev/ublkcN */
struct ublksrv_io_desc {
	__u32	op_flags;	/* op in bits 0-7, flags in 8-31 */
	union {
		__u32	nr_sectors;
		__u32	nr_zones;
	};
	__u64	start_sector;
	__u64	addr;		/* copy mode: the server's buffer */
};

static inline __u8 ublksrv_get_op(const struct ublksrv_io_desc *iod)
{
	return iod->op_flags & 0xff;
}

static inline __u32 ublksrv_get_flags(const struct ublksrv_io_desc *iod)
{
	return iod->op_flags >> 8;
}

/* payload of FETCH/COMMIT_AND_FETCH (fits the 16-byte cmd area of a 64-byte SQE) */
struct ublksrv_io_cmd {
	__u16	q_id;
	__u16	tag;
	__s32	result;
	union {
		__u64	addr;
		__u64	zone_append_lba;
	};
};

/* ---- device parameters (SET_PARAMS / GET_PARAMS) ---- */
struct ublk_param_basic {
#define UBLK_ATTR_READ_ONLY		(1 << 0)
#define UBLK_ATTR_ROTATIONAL		(1 << 1)
#define UBLK_ATTR_VOLATILE_CACHE	(1 << 2)
#define UBLK_ATTR_FUA			(1 << 3)
	__u32	attrs;
	__u8	logical_bs_shift;
	__u8	physical_bs_shift;
	__u8	io_opt_shift;
	__u8	io_min_shift;
	__u32	max_sectors;
	__u32	chunk_sectors;
	__u64	dev_sectors;
	__u64	virt_boundary_mask;
};

struct ublk_param_discard {
	__u32	discard_alignment;
	__u32	discard_granularity;
	__u32	max_discard_sectors;
	__u32	max_write_zeroes_sectors;
	__u16	max_discard_segments;
	__u16	reserved0;
};

struct ublk_param_devt {
	__u32	char_major;
	__u32	char_minor;
	__u32	disk_major;
	__u32	disk_minor;
};

struct ublk_param_zoned {
	__u32	max_open_zones;
	__u32	max_active_zones;
	__u32	max_zone_append_sectors;
	__u8	reserved[20];
};

struct ublk_param_dma_align {
	__u32	alignment;
	__u8	pad[4];
};

struct ublk_param_segment {
	__u64	seg_boundary_mask;
	__u32	max_segment_size;
	__u16	max_segments;
	__u8	pad[2];
};

struct ublk_params {
	/* bytes of this struct the kernel reads: cover exactly the types set */
	__u32	len;
#define UBLK_PARAM_TYPE_BASIC		(1 << 0)
#define UBLK_PARAM_TYPE_DISCARD		(1 << 1)
#define UBLK_PARAM_TYPE_DEVT		(1 << 2)
#define UBLK_PARAM_TYPE_ZONED		(1 << 3)
#define UBLK_PARAM_TYPE_DMA_ALIGN	(1 << 4)
#define UBLK_PARAM_TYPE_SEGMENT		(1 << 5)
	__u32	types;
	struct ublk_param_basic		basic;
	struct ublk_param_discard	discard;
	struct ublk_param_devt		devt;
	struct ublk_param_zoned		zoned;
	struct ublk_param_dma_align	dma;
	struct ublk_param_segment	seg;
};

/* ---- UBLK_F_SHMEM_ZC (7.1): shared memory registration ---- */
struct ublk_shmem_buf_reg {
	__u64	addr;
	__u64	len;
	__u32	flags;
#define UBLK_SHMEM_BUF_READ_ONLY	(1U << 0)
	__u32	reserved;
};

/*
 * iod->addr of a UBLK_IO_F_SHMEM_ZC request: buffer index << 32 | offset.
 * Upstream (7.x) gives the index 16 bits; bits 48-63 are reserved.
 */
#define UBLK_SHMEM_ZC_IDX_OFF		32
#define UBLK_SHMEM_ZC_IDX_MASK		0xffffU
#define UBLK_SHMEM_ZC_OFF_MASK		0xffffffffULL

static inline __u32 ublk_shmem_zc_index(__u64 addr)
{
	return (addr >> UBLK_SHMEM_ZC_IDX_OFF) & UBLK_SHMEM_ZC_IDX_MASK;
}

static inline __u32 ublk_shmem_zc_offset(__u64 addr)
{
	return addr & UBLK_SHMEM_ZC_OFF_MASK;
}

#endif /* BUBLK_UBLK_UAPI_H */

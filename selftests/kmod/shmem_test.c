// SPDX-License-Identifier: MIT
/*
 * shmem_test - UBLK_F_SHMEM_ZC and the bublk_sg_ops hook, against the test
 * ublk module (selftests/kmod).  Runs in the VM as root.
 *
 * One process plays both sides: a small ublk server (one queue, a RAM
 * store, its own thread) that counts how each request arrives -- plain,
 * UBLK_IO_F_SHMEM_ZC or UBLK_IO_F_SHMEM_SG -- and serves it from the
 * matching memory; and an O_DIRECT client in the main thread that does I/O
 * from memfd pages the server registered, and from ordinary memory, and
 * checks the data.  Prints "ok NAME" / "not ok NAME - why".
 *
 * Usage: shmem_test [SG_HOOK_OBJ]   (default build/bpf/sg_hook.bpf.o)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <bpf/bpf.h>

#include "ctrl.h"
#include "sg_hook.h"
#include <bublk/sg_hook.h>
#include <bublk/ublk_proto.h>

#define DEPTH		16
#define MAX_IO		(512 << 10)
#define DEV_BYTES	(16 << 20)
#define MAX_BUFS	16
#define PG		4096
#define SG_ARENA_ADDR	(1ULL << 43)
#define SG_ARENA_BYTES	(64 << 10)
#define DEV_ARENA_ADDR	(1ULL << 42)

static int failed;

static void report(bool good, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (good) {
		printf("ok %s\n", name);
	} else {
		failed++;
		printf("not ok %s - ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
}

/* evaluates got once: it is usually a command */
#define EXPECT_RET(name, got, want) do {					\
	int __got = (got), __want = (want);					\
	report(__got == __want, name, "got %d (%s), want %d", __got,		\
	       strerror(__got < 0 ? -__got : 0), __want);			\
} while (0)

/* ---- the server ---------------------------------------------------------- */

struct counts {
	unsigned long	reqs, zc, sg, bad;
};

struct srv {
	struct bublk_ctrl	*ctrl;
	__u32			dev_id;
	int			cfd;
	struct ublksrv_io_desc	*iods;
	size_t			iods_bytes;
	struct io_uring		ring;
	void			*tagbuf[DEPTH];
	unsigned char		*store;
	pthread_t		thr;
	volatile int		ready, stop;
	bool			user_copy;	/* UBLK_F_USER_COPY device */
	int			err;

	/* registered buffers, as the server maps them (index -> mapping) */
	unsigned char		*base[MAX_BUFS];
	size_t			len[MAX_BUFS];

	struct counts		n;
	/* how the last ZC / SG request arrived */
	__u32			zc_idx, zc_off;
	__u32			sg_nr;
	__u64			sg_addr;
	struct ublk_shmem_sg_entry sg[BUBLK_SG_MAX_PIECES];
};

static void srv_queue(struct srv *s, int tag, bool commit, int res)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
	struct ublksrv_io_cmd *cmd;

	if (!sqe) {	/* the SQ holds 2 * DEPTH: cannot happen */
		s->err = -EBUSY;
		return;
	}
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = s->cfd;
	sqe->cmd_op = commit ? UBLK_U_IO_COMMIT_AND_FETCH_REQ : UBLK_U_IO_FETCH_REQ;
	cmd = (struct ublksrv_io_cmd *)sqe->cmd;
	cmd->q_id = 0;
	cmd->tag = tag;
	cmd->result = res;
	/* user copy: no buffer address, the data moves by pread/pwrite */
	cmd->addr = s->user_copy ? 0 : (__u64)(uintptr_t)s->tagbuf[tag];
	sqe->user_data = tag;
}

static void move(int op, void *mem, void *dev, size_t len)
{
	if (op == UBLK_IO_OP_READ)
		memcpy(mem, dev, len);
	else
		memcpy(dev, mem, len);
}

/* the registered range [off, off + len) of buffer idx, or NULL */
static void *srv_buf(struct srv *s, __u32 idx, __u64 off, __u64 len)
{
	if (idx >= MAX_BUFS || !s->base[idx] || off + len > s->len[idx])
		return NULL;
	return s->base[idx] + off;
}

static int srv_serve(struct srv *s, int tag)
{
	const struct ublksrv_io_desc *iod = &s->iods[tag];
	int op = ublksrv_get_op(iod);
	__u64 off = iod->start_sector << 9;
	__u32 len = iod->nr_sectors << 9;
	void *mem;

	if (op == UBLK_IO_OP_FLUSH)
		return 0;
	if (op != UBLK_IO_OP_READ && op != UBLK_IO_OP_WRITE)
		return -EOPNOTSUPP;
	if (off + len > DEV_BYTES)
		return -EIO;
	s->n.reqs++;

	if (iod->op_flags & UBLK_IO_F_SHMEM_ZC) {
		mem = srv_buf(s, ublk_shmem_zc_index(iod->addr),
			      ublk_shmem_zc_offset(iod->addr), len);
		if (!mem) {
			s->n.bad++;
			return -EIO;
		}
		s->zc_idx = ublk_shmem_zc_index(iod->addr);
		s->zc_off = ublk_shmem_zc_offset(iod->addr);
		s->n.zc++;
		move(op, mem, s->store + off, len);
	} else if (iod->op_flags & UBLK_IO_F_SHMEM_SG) {
		const struct ublk_shmem_sg_iov *iov = (const void *)(uintptr_t)iod->addr;
		__u32 i, done = 0;

		if (iov->nr > BUBLK_SG_MAX_PIECES || iov->bytes != len) {
			s->n.bad++;
			return -EIO;
		}
		for (i = 0; i < iov->nr; i++) {
			const struct ublk_shmem_sg_entry *e = &iov->e[i];

			mem = srv_buf(s, e->buf_index, e->offset, e->len);
			if (!mem || done + e->len > len) {
				s->n.bad++;
				return -EIO;
			}
			move(op, mem, s->store + off + done, e->len);
			s->sg[i] = *e;
			done += e->len;
		}
		if (done != len) {
			s->n.bad++;
			return -EIO;
		}
		s->sg_nr = iov->nr;
		s->sg_addr = iod->addr;
		s->n.sg++;
	} else if (s->user_copy) {
		off_t pos = UBLKSRV_IO_BUF_OFFSET + ((off_t)tag << UBLK_TAG_OFF);
		ssize_t r;

		if (op == UBLK_IO_OP_READ)
			r = pwrite(s->cfd, s->store + off, len, pos);
		else
			r = pread(s->cfd, s->store + off, len, pos);
		if (r != (ssize_t)len)
			return r < 0 ? -errno : -EIO;
	} else {
		move(op, s->tagbuf[tag], s->store + off, len);
	}
	return len;
}

static void *srv_thread(void *arg)
{
	struct srv *s = arg;
	struct io_uring_cqe *cqe;
	int tag, ret;

	/* FETCH and COMMIT must come from the same task: this one */
	ret = io_uring_queue_init(DEPTH * 2, &s->ring, 0);
	if (ret) {
		s->err = ret;
		s->ready = 1;
		return NULL;
	}
	for (tag = 0; tag < DEPTH; tag++)
		srv_queue(s, tag, false, 0);
	ret = io_uring_submit(&s->ring);
	s->err = ret == DEPTH ? 0 : -EIO;
	__atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);

	while (!s->err && !__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		struct __kernel_timespec ts = { .tv_nsec = 20 * 1000 * 1000 };
		int res;

		ret = io_uring_wait_cqe_timeout(&s->ring, &cqe, &ts);
		if (ret == -ETIME || ret == -EINTR)
			continue;
		if (ret)
			break;
		tag = cqe->user_data;
		res = cqe->res;
		io_uring_cqe_seen(&s->ring, cqe);
		if (res != UBLK_IO_RES_OK)
			continue;	/* aborted: the device is going away */
		srv_queue(s, tag, true, srv_serve(s, tag));
		io_uring_submit(&s->ring);
	}
	/* exiting the ring cancels the FETCH commands the kernel holds */
	io_uring_queue_exit(&s->ring);
	return NULL;
}

static int dev_add(struct bublk_ctrl *c, __u64 flags, __u32 *dev_id)
{
	struct ublksrv_ctrl_dev_info info = {
		.nr_hw_queues = 1,
		.queue_depth = DEPTH,
		.max_io_buf_bytes = MAX_IO,
		.dev_id = (__u32)-1,
		.ublksrv_pid = getpid(),
		.flags = flags,
	};
	struct ublk_params p = {
		.len = offsetof(struct ublk_params, discard),
		.types = UBLK_PARAM_TYPE_BASIC,
		.basic = {
			.logical_bs_shift = 9,
			.physical_bs_shift = 12,
			.io_opt_shift = 12,
			.io_min_shift = 9,
			.max_sectors = MAX_IO >> 9,
			.dev_sectors = DEV_BYTES >> 9,
		},
	};
	int ret;

	ret = bublk_ctrl_add_dev(c, &info);
	if (ret)
		return ret;
	*dev_id = info.dev_id;
	ret = bublk_ctrl_set_params(c, info.dev_id, &p);
	if (ret)
		bublk_ctrl_del_dev(c, info.dev_id);
	return ret;
}

static int srv_start(struct srv *s)
{
	char path[64];
	int tag, ret;

	snprintf(path, sizeof(path), "/dev/ublkc%u", s->dev_id);
	s->cfd = open(path, O_RDWR | O_CLOEXEC);
	if (s->cfd < 0)
		return -errno;
	s->iods_bytes = (DEPTH * sizeof(struct ublksrv_io_desc) + PG - 1) & ~(size_t)(PG - 1);
	s->iods = mmap(NULL, s->iods_bytes, PROT_READ, MAP_SHARED, s->cfd,
		       UBLKSRV_CMD_BUF_OFFSET);
	if (s->iods == MAP_FAILED)
		return -errno;
	s->store = calloc(1, DEV_BYTES);
	for (tag = 0; tag < DEPTH; tag++)
		if (posix_memalign(&s->tagbuf[tag], PG, MAX_IO))
			return -ENOMEM;
	if (pthread_create(&s->thr, NULL, srv_thread, s))
		return -EAGAIN;
	while (!__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE))
		usleep(1000);
	if (s->err)
		return s->err;
	ret = bublk_ctrl_start_dev(s->ctrl, s->dev_id, getpid());
	return ret;
}

/* stop with whatever is still registered: the module must clean up */
static int srv_teardown(struct srv *s)
{
	int ret, tag;

	ret = bublk_ctrl_stop_dev(s->ctrl, s->dev_id);
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_join(s->thr, NULL);
	munmap(s->iods, s->iods_bytes);
	close(s->cfd);
	ret = ret ?: bublk_ctrl_del_dev(s->ctrl, s->dev_id);
	for (tag = 0; tag < DEPTH; tag++)
		free(s->tagbuf[tag]);
	free(s->store);
	return ret;
}

/* ---- shared memory --------------------------------------------------------- */

struct shm {
	int		fd;
	size_t		len;
	unsigned char	*srv;	/* the server's mapping (registered) */
	unsigned char	*cli;	/* the client's mapping of the same pages */
	int		idx;	/* REG_BUF's answer */
};

static int shm_new(struct shm *m, size_t len, int srv_prot)
{
	m->fd = memfd_create("shmem_test", MFD_CLOEXEC);
	m->len = len;
	m->idx = -1;
	if (m->fd < 0 || ftruncate(m->fd, len))
		return -errno;
	m->srv = mmap(NULL, len, srv_prot, MAP_SHARED | MAP_POPULATE, m->fd, 0);
	m->cli = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (m->srv == MAP_FAILED || m->cli == MAP_FAILED)
		return -errno;
	return 0;
}

static int shm_reg(struct srv *s, struct shm *m, __u32 flags)
{
	m->idx = bublk_ctrl_reg_buf(s->ctrl, s->dev_id, m->srv, m->len, flags);
	if (m->idx >= 0 && m->idx < MAX_BUFS) {
		s->base[m->idx] = m->srv;
		s->len[m->idx] = m->len;
	}
	return m->idx;
}

static int shm_unreg(struct srv *s, struct shm *m)
{
	int ret = bublk_ctrl_unreg_buf(s->ctrl, s->dev_id, m->idx);

	if (!ret && m->idx < MAX_BUFS)
		s->base[m->idx] = NULL;
	return ret;
}

/* ---- the client ------------------------------------------------------------ */

static int bfd = -1;

static void fill(void *p, size_t len, unsigned int seed)
{
	unsigned int *w = p;
	size_t i;

	for (i = 0; i < len / 4; i++)
		w[i] = seed * 2654435761u + i;
}

static struct counts snap(struct srv *s)
{
	struct counts c = s->n;

	return c;
}

static struct counts delta(struct srv *s, struct counts a)
{
	struct counts b = snap(s);

	b.reqs -= a.reqs;
	b.zc -= a.zc;
	b.sg -= a.sg;
	b.bad -= a.bad;
	return b;
}

static bool io(bool wr, void *buf, size_t len, off_t off)
{
	ssize_t r = wr ? pwrite(bfd, buf, len, off) : pread(bfd, buf, len, off);

	return r == (ssize_t)len;
}

static bool iov_io(bool wr, struct iovec *iov, int n, off_t off)
{
	ssize_t want = 0, r;
	int i;

	for (i = 0; i < n; i++)
		want += iov[i].iov_len;
	r = wr ? pwritev(bfd, iov, n, off) : preadv(bfd, iov, n, off);
	return r == want;
}

static void *plain_buf(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, PG, len))
		abort();
	return p;
}

/* I/O of len bytes at off from/to mem; every request must arrive as expected */
enum want { PLAIN, ZC, SG };

static void check_io(struct srv *s, const char *name, bool wr, void *mem, size_t len,
		     off_t off, enum want want)
{
	unsigned char *ref = plain_buf(len), *chk = plain_buf(len);
	struct counts d, a;
	bool data_ok;

	/* known content on the device or in mem first */
	fill(ref, len, off / PG + wr);
	if (wr) {
		memcpy(mem, ref, len);
	} else {
		if (!io(true, ref, len, off)) {
			report(false, name, "setup write failed: %s", strerror(errno));
			goto out;
		}
		memset(mem, 0, len);
	}
	a = snap(s);
	if (!io(wr, mem, len, off)) {
		report(false, name, "%s failed: %s", wr ? "pwrite" : "pread", strerror(errno));
		goto out;
	}
	d = delta(s, a);
	if (wr) {
		data_ok = !memcmp(s->store + off, ref, len);
	} else {
		data_ok = !memcmp(mem, ref, len);
	}
	/* and the device agrees through an ordinary buffer */
	data_ok = data_ok && io(false, chk, len, off) && !memcmp(chk, ref, len);
	report(data_ok && !d.bad && d.reqs > 0 &&
	       d.zc == (want == ZC ? d.reqs : 0) && d.sg == (want == SG ? d.reqs : 0),
	       name, "requests %lu: zc %lu sg %lu bad %lu, data %s", d.reqs, d.zc, d.sg,
	       d.bad, data_ok ? "ok" : "WRONG");
out:
	free(ref);
	free(chk);
}

/* pwritev/preadv over iov; expect one request of the given kind */
static void check_iov(struct srv *s, const char *name, bool wr, struct iovec *iov, int n,
		      off_t off, enum want want)
{
	size_t len = 0, done = 0;
	unsigned char *ref, *cur;
	struct counts a, d;
	bool data_ok = true;
	int i;

	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	ref = plain_buf(len);
	cur = plain_buf(len);
	fill(ref, len, off / PG + 7 + wr);
	for (i = 0; i < n; i++) {
		if (wr)
			memcpy(iov[i].iov_base, ref + done, iov[i].iov_len);
		else
			memset(iov[i].iov_base, 0, iov[i].iov_len);
		done += iov[i].iov_len;
	}
	if (!wr && !io(true, ref, len, off)) {
		report(false, name, "setup write failed");
		goto out;
	}
	a = snap(s);
	if (!iov_io(wr, iov, n, off)) {
		report(false, name, "%s failed: %s", wr ? "pwritev" : "preadv", strerror(errno));
		goto out;
	}
	d = delta(s, a);
	if (wr) {
		data_ok = !memcmp(s->store + off, ref, len);
	} else {
		for (i = 0, done = 0; i < n; done += iov[i].iov_len, i++)
			memcpy(cur + done, iov[i].iov_base, iov[i].iov_len);
		data_ok = !memcmp(cur, ref, len);
	}
	report(data_ok && !d.bad && d.reqs == 1 && d.zc == (want == ZC) && d.sg == (want == SG),
	       name, "requests %lu: zc %lu sg %lu bad %lu, data %s", d.reqs, d.zc, d.sg,
	       d.bad, data_ok ? "ok" : "WRONG");
out:
	free(ref);
	free(cur);
}

/* the last SG request's iov must be exactly these pieces */
static void check_sg_pieces(struct srv *s, const char *name,
			    const struct ublk_shmem_sg_entry *want, __u32 n)
{
	__u32 i;
	bool good = s->sg_nr == n;

	for (i = 0; good && i < n; i++)
		good = s->sg[i].buf_index == want[i].buf_index &&
		       s->sg[i].offset == want[i].offset && s->sg[i].len == want[i].len;
	report(good, name, "iov has %u entries; first (%u, %llu, %u), want (%u, %llu, %u)",
	       s->sg_nr, s->sg[0].buf_index, (unsigned long long)s->sg[0].offset, s->sg[0].len,
	       want[0].buf_index, (unsigned long long)want[0].offset, want[0].len);
}

/* pages pinned system wide (FOLL_PIN): acquired - released */
static long pinned_pages(void)
{
	char name[64];
	long v, acq = -1, rel = -1;
	FILE *f;
	int fd;

	/* fold the per-CPU counter deltas, or the sums lag behind */
	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			perror("stat_refresh");
		close(fd);
	}
	f = fopen("/proc/vmstat", "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", name, &v) == 2) {
		if (!strcmp(name, "nr_foll_pin_acquired"))
			acq = v;
		else if (!strcmp(name, "nr_foll_pin_released"))
			rel = v;
	}
	fclose(f);
	return acq < 0 || rel < 0 ? -1 : acq - rel;
}

/* ---- the tests -------------------------------------------------------------- */

static void test_registration_errors(struct srv *s, struct shm *a)
{
	struct ublk_shmem_buf_reg reg = { .addr = (uintptr_t)a->srv, .len = PG };
	struct shm alias, ro;
	void *hole;
	int ret, idx;

	EXPECT_RET("reg_unaligned_addr",
		   bublk_ctrl_reg_buf(s->ctrl, s->dev_id, a->srv + 512, PG, 0), -EINVAL);
	EXPECT_RET("reg_unaligned_len",
		   bublk_ctrl_reg_buf(s->ctrl, s->dev_id, a->srv, PG + 512, 0), -EINVAL);
	EXPECT_RET("reg_zero_len", bublk_ctrl_reg_buf(s->ctrl, s->dev_id, a->srv, 0, 0), -EINVAL);
	EXPECT_RET("reg_over_4g",
		   bublk_ctrl_reg_buf(s->ctrl, s->dev_id, a->srv, (4ULL << 30) + PG, 0), -EINVAL);
	EXPECT_RET("reg_unknown_flags",
		   bublk_ctrl_reg_buf(s->ctrl, s->dev_id, a->srv, PG, 1U << 7), -EINVAL);
	EXPECT_RET("reg_short_struct",
		   bublk_ctrl_cmd(s->ctrl, UBLK_CMD_REG_BUF, s->dev_id, (__u16)-1, &reg, 16, 0),
		   -EINVAL);
	hole = mmap(NULL, 4 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole, 4 * PG);
	EXPECT_RET("reg_unmapped", bublk_ctrl_reg_buf(s->ctrl, s->dev_id, hole, 4 * PG, 0),
		   -EFAULT);
	EXPECT_RET("unreg_unknown_index", bublk_ctrl_unreg_buf(s->ctrl, s->dev_id, 12345), -ENOENT);

	idx = shm_reg(s, a, 0);
	report(idx >= 0, "reg_before_start", "REG_BUF: %d (%s)", idx, strerror(-idx));
	EXPECT_RET("reg_same_pages_twice",
		   bublk_ctrl_reg_buf(s->ctrl, s->dev_id, a->srv, a->len, 0), -EEXIST);
	/* the same pages through another mapping are still the same pages */
	alias.srv = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, a->fd,
			 8 * PG);
	EXPECT_RET("reg_same_pages_other_mapping",
		   bublk_ctrl_reg_buf(s->ctrl, s->dev_id, alias.srv, 2 * PG, 0), -EEXIST);
	munmap(alias.srv, 2 * PG);

	ret = shm_unreg(s, a);
	EXPECT_RET("unreg", ret, 0);
	EXPECT_RET("unreg_twice", bublk_ctrl_unreg_buf(s->ctrl, s->dev_id, idx), -ENOENT);
	idx = shm_reg(s, a, 0);
	report(idx >= 0, "reg_again_after_unreg", "REG_BUF: %d (%s)", idx, strerror(-idx));

	/* a read-only mapping can be registered read-only, and only so */
	if (shm_new(&ro, 4 * PG, PROT_READ)) {
		report(false, "reg_readonly_mapping", "memfd: %s", strerror(errno));
		return;
	}
	ret = bublk_ctrl_reg_buf(s->ctrl, s->dev_id, ro.srv, ro.len, 0);
	report(ret < 0, "reg_writable_on_readonly_mapping_fails", "REG_BUF: %d", ret);
	ret = bublk_ctrl_reg_buf(s->ctrl, s->dev_id, ro.srv, ro.len, UBLK_SHMEM_BUF_READ_ONLY);
	report(ret >= 0, "reg_readonly_mapping", "REG_BUF: %d (%s)", ret, strerror(-ret));
	if (ret >= 0)
		EXPECT_RET("unreg_readonly_mapping", bublk_ctrl_unreg_buf(s->ctrl, s->dev_id, ret), 0);
	munmap(ro.srv, ro.len);
	munmap(ro.cli, ro.len);
	close(ro.fd);
}

struct io_loop {
	unsigned char	*mem;
	int		rounds, errors;
};

/* the client: write and read back 64 KiB from registered memory, again and again */
static void *io_loop_fn(void *arg)
{
	struct io_loop *l = arg;
	unsigned char *ref = plain_buf(64 << 10);
	int i;

	for (i = 0; i < l->rounds; i++) {
		fill(ref, 64 << 10, 1000 + i);
		memcpy(l->mem, ref, 64 << 10);
		if (!io(true, l->mem, 64 << 10, 13 << 20))
			l->errors++;
		memset(l->mem, 0, 64 << 10);
		if (!io(false, l->mem, 64 << 10, 13 << 20) || memcmp(l->mem, ref, 64 << 10))
			l->errors++;
	}
	free(ref);
	return NULL;
}

/*
 * REG/UNREG of another buffer while I/O from a registered one runs: each
 * freezes the queue; nothing may hang, fail, or lose the match.
 */
static void test_reg_under_io(struct srv *s, struct shm *busy)
{
	struct io_loop l = { .mem = busy->cli, .rounds = 200 };
	struct counts a = snap(s), d;
	int i, idx, regs = 0, unregs = 0;
	struct shm other;
	pthread_t t;

	if (shm_new(&other, 64 << 10, PROT_READ | PROT_WRITE) ||
	    pthread_create(&t, NULL, io_loop_fn, &l)) {
		report(false, "reg_unreg_under_io", "setup: %s", strerror(errno));
		return;
	}
	for (i = 0; i < 20; i++) {
		idx = shm_reg(s, &other, 0);
		regs += idx >= 0;
		if (idx >= 0)
			unregs += !shm_unreg(s, &other);
		usleep(2000);
	}
	pthread_join(t, NULL);
	d = delta(s, a);
	report(regs == 20 && unregs == 20 && !l.errors && !d.bad && d.reqs >= 400 &&
	       d.zc == d.reqs, "reg_unreg_under_io",
	       "%d/20 reg, %d/20 unreg; I/O errors %d; requests %lu, zc %lu, bad %lu",
	       regs, unregs, l.errors, d.reqs, d.zc, d.bad);
	munmap(other.srv, other.len);
	munmap(other.cli, other.len);
	close(other.fd);
}

/* the same matching on a UBLK_F_USER_COPY device (its plain path is pread/pwrite) */
static void test_user_copy(struct bublk_ctrl *ctrl)
{
	struct srv u = { .ctrl = ctrl, .user_copy = true };
	unsigned char *plain = plain_buf(128 << 10);
	int saved_bfd = bfd, ret;
	struct shm m;
	char path[64];

	ret = dev_add(ctrl, UBLK_F_SHMEM_ZC | UBLK_F_USER_COPY, &u.dev_id);
	if (ret) {
		report(false, "user_copy_start", "ADD_DEV: %s", strerror(-ret));
		goto out;
	}
	if (shm_new(&m, 256 << 10, PROT_READ | PROT_WRITE)) {
		report(false, "user_copy_start", "memfd: %s", strerror(errno));
		bublk_ctrl_del_dev(ctrl, u.dev_id);
		goto out;
	}
	ret = shm_reg(&u, &m, 0);
	ret = ret < 0 ? ret : srv_start(&u);
	report(!ret, "user_copy_start", "REG_BUF/START: %s", strerror(-ret));
	snprintf(path, sizeof(path), "/dev/ublkb%u", u.dev_id);
	bfd = ret ? -1 : open(path, O_RDWR | O_DIRECT);
	if (bfd >= 0) {
		check_io(&u, "user_copy_zc_write", true, m.cli + 4 * PG, 64 << 10, 1 << 20, ZC);
		check_io(&u, "user_copy_zc_read", false, m.cli + 32 * PG, 64 << 10, 1 << 20, ZC);
		check_io(&u, "user_copy_plain_write", true, plain, 128 << 10, 2 << 20, PLAIN);
		check_io(&u, "user_copy_plain_read", false, plain, 128 << 10, 2 << 20, PLAIN);
		close(bfd);
	}
	if (!ret)
		EXPECT_RET("user_copy_teardown", srv_teardown(&u), 0);
	munmap(m.srv, m.len);
	munmap(m.cli, m.len);
	close(m.fd);
out:
	bfd = saved_bfd;
	free(plain);
}

/*
 * A hugetlb memfd (vm-tests.sh reserves the pages): a request inside one
 * 2 MiB page arrives as one multi-page bvec, walked page frame by page frame.
 */
static void test_hugetlb(struct srv *s)
{
	const size_t len = 2 << 20;
	struct shm h = { .idx = -1 };
	int ret;

	h.fd = memfd_create("shmem_test_huge", MFD_CLOEXEC | MFD_HUGETLB);
	if (h.fd < 0 || ftruncate(h.fd, len)) {
		report(false, "hugetlb_reg", "hugetlb memfd: %s", strerror(errno));
		return;
	}
	h.len = len;
	h.srv = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, h.fd, 0);
	h.cli = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, h.fd, 0);
	if (h.srv == MAP_FAILED || h.cli == MAP_FAILED) {
		report(false, "hugetlb_reg", "mmap hugetlb: %s", strerror(errno));
		return;
	}
	ret = shm_reg(s, &h, 0);
	report(ret >= 0, "hugetlb_reg", "REG_BUF: %d (%s)", ret, strerror(-ret));
	if (ret < 0)
		goto out;
	check_io(s, "hugetlb_zc_write", true, h.cli + (512 << 10), 256 << 10, 12 << 20, ZC);
	report(s->zc_idx == (__u32)h.idx && s->zc_off == 512 << 10, "hugetlb_zc_offset",
	       "addr gave index %u offset %u, want %d, %d", s->zc_idx, s->zc_off, h.idx,
	       512 << 10);
	check_io(s, "hugetlb_zc_read", false, h.cli + (1 << 20), 256 << 10, 12 << 20, ZC);
	EXPECT_RET("hugetlb_unreg", shm_unreg(s, &h), 0);
out:
	munmap(h.srv, len);
	munmap(h.cli, len);
	close(h.fd);
}

/* an arena standing in for the device's (the runtime's), mapped at addr */
static int dev_arena_create(__u64 addr, size_t bytes)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_MMAPABLE, .map_extra = addr);
	void *p;
	int fd;

	fd = bpf_map_create(33 /* BPF_MAP_TYPE_ARENA */, "dev_arena", 0, 0, bytes / PG, &mo);
	if (fd < 0)
		return -errno;
	p = mmap((void *)(uintptr_t)addr, bytes, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return -errno;
	}
	return fd;
}

static void test_sg(struct srv *s, struct shm *a, struct shm *b, const char *obj)
{
	struct bublk_sg_hook_opts o = {
		.dev_id = s->dev_id,
		.nr_queues = 1,
		.depth = DEPTH,
		.arena_fd = -1,
		.arena_addr = SG_ARENA_ADDR,
		.arena_bytes = SG_ARENA_BYTES,
	};
	struct iovec two[2] = {
		{ a->cli + 16 * PG, PG },
		{ b->cli + 2 * PG, 2 * PG },
	};
	struct iovec swapped[2] = {
		{ a->cli + 40 * PG, PG },
		{ a->cli + 32 * PG, PG },
	};
	struct ublk_shmem_sg_entry want_two[2] = {
		{ .buf_index = a->idx, .offset = 16 * PG, .len = PG },
		{ .buf_index = b->idx, .offset = 2 * PG, .len = 2 * PG },
	};
	struct ublk_shmem_sg_entry want_swapped[2] = {
		{ .buf_index = a->idx, .offset = 40 * PG, .len = PG },
		{ .buf_index = a->idx, .offset = 32 * PG, .len = PG },
	};
	struct bublk_sg_hook *h = NULL;
	__u64 built = 0, refused = 0;
	char err[256] = "";
	int ret;

	check_iov(s, "sg_two_buffers_no_program_falls_back", true, two, 2, 3 << 20, PLAIN);

	ret = bublk_sg_hook_attach(obj, &o, &h, err, sizeof(err));
	report(!ret, "sg_hook_attach", "%s", err);
	if (ret)
		return;
	check_iov(s, "sg_two_buffers_write", true, two, 2, 3 << 20, SG);
	check_sg_pieces(s, "sg_two_buffers_write_iov", want_two, 2);
	check_iov(s, "sg_two_buffers_read", false, two, 2, 4 << 20, SG);
	check_sg_pieces(s, "sg_two_buffers_read_iov", want_two, 2);
	check_iov(s, "sg_out_of_order_write", true, swapped, 2, 5 << 20, SG);
	check_sg_pieces(s, "sg_out_of_order_iov", want_swapped, 2);
	/* one contiguous span stays plain SHMEM_ZC with a program attached */
	check_io(s, "sg_contiguous_still_zc", true, a->cli + 48 * PG, 4 * PG, 6 << 20, ZC);
	ret = bublk_sg_hook_stats(h, &built, &refused);
	report(!ret && built == 3 && refused == 0, "sg_hook_counters",
	       "built %llu refused %llu (want 3, 0)", (unsigned long long)built,
	       (unsigned long long)refused);
	bublk_sg_hook_detach(h);
	check_iov(s, "sg_detached_falls_back", true, two, 2, 3 << 20, PLAIN);

	/* build() runs where dispatch runs: a sleepable program must not load */
	o.sleepable = true;
	ret = bublk_sg_hook_attach(obj, &o, &h, err, sizeof(err));
	report(ret < 0, "sg_sleepable_program_refused", "attach returned %d", ret);
	if (!ret)
		bublk_sg_hook_detach(h);
	o.sleepable = false;

	/* a program that refuses (at most 1 entry): the upstream fallback */
	o.max_entries = 1;
	ret = bublk_sg_hook_attach(obj, &o, &h, err, sizeof(err));
	report(!ret, "sg_hook_attach_refusing", "%s", err);
	if (!ret) {
		check_iov(s, "sg_refused_falls_back", true, two, 2, 3 << 20, PLAIN);
		ret = bublk_sg_hook_stats(h, &built, &refused);
		report(!ret && built == 0 && refused == 1, "sg_refusal_counted",
		       "built %llu refused %llu (want 0, 1)", (unsigned long long)built,
		       (unsigned long long)refused);
		bublk_sg_hook_detach(h);
	}
	o.max_entries = 0;

	/* the way the runtime attaches: into an arena the device already has */
	o.arena_fd = dev_arena_create(DEV_ARENA_ADDR, SG_ARENA_BYTES);
	o.arena_addr = DEV_ARENA_ADDR;
	o.slots_off = PG;
	if (o.arena_fd < 0) {
		report(false, "sg_hook_attach_device_arena", "arena: %s", strerror(-o.arena_fd));
		return;
	}
	ret = bublk_sg_hook_attach(obj, &o, &h, err, sizeof(err));
	report(!ret, "sg_hook_attach_device_arena", "%s", err);
	if (!ret) {
		check_iov(s, "sg_device_arena_write", true, two, 2, 7 << 20, SG);
		check_sg_pieces(s, "sg_device_arena_iov", want_two, 2);
		report(s->sg_addr >= DEV_ARENA_ADDR + PG &&
		       s->sg_addr < DEV_ARENA_ADDR + SG_ARENA_BYTES, "sg_iov_in_device_arena",
		       "iov at %#llx, arena slots at %#llx", (unsigned long long)s->sg_addr,
		       (unsigned long long)DEV_ARENA_ADDR + PG);
		bublk_sg_hook_detach(h);
	}
	munmap((void *)(uintptr_t)DEV_ARENA_ADDR, SG_ARENA_BYTES);
	close(o.arena_fd);
}

int main(int argc, char **argv)
{
	const char *obj = argc > 1 ? argv[1] : "build/bpf/sg_hook.bpf.o";
	struct bublk_ctrl ctrl;
	struct srv s = { .ctrl = &ctrl };
	struct shm a, b, r;
	unsigned char *plain, *mixed;
	__u64 features = 0;
	long pins_before, pins;
	__u32 plain_id;
	char path[64];
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = bublk_ctrl_open(&ctrl);
	if (ret) {
		report(false, "ctrl_open", "%s", strerror(-ret));
		return 1;
	}
	ret = bublk_ctrl_get_features(&ctrl, &features);
	report(!ret && (features & UBLK_F_SHMEM_ZC), "features_shmem_zc",
	       "GET_FEATURES: %d, features %#llx", ret, (unsigned long long)features);
	pins_before = pinned_pages();

	/* REG_BUF needs UBLK_F_SHMEM_ZC on the device */
	ret = dev_add(&ctrl, 0, &plain_id);
	if (!ret) {
		if (shm_new(&r, PG, PROT_READ | PROT_WRITE))
			abort();
		EXPECT_RET("reg_without_feature",
			   bublk_ctrl_reg_buf(&ctrl, plain_id, r.srv, PG, 0), -EOPNOTSUPP);
		bublk_ctrl_del_dev(&ctrl, plain_id);
		munmap(r.srv, PG);
		munmap(r.cli, PG);
		close(r.fd);
	} else {
		report(false, "reg_without_feature", "ADD_DEV: %s", strerror(-ret));
	}

	/* deleting a device that never started, with a buffer registered */
	ret = dev_add(&ctrl, UBLK_F_SHMEM_ZC, &plain_id);
	if (!ret) {
		if (shm_new(&r, 4 * PG, PROT_READ | PROT_WRITE))
			abort();
		ret = bublk_ctrl_reg_buf(&ctrl, plain_id, r.srv, r.len, 0);
		report(ret >= 0, "reg_on_unstarted_device", "REG_BUF: %d", ret);
		EXPECT_RET("del_unstarted_device_with_buffer", bublk_ctrl_del_dev(&ctrl, plain_id), 0);
		munmap(r.srv, r.len);
		munmap(r.cli, r.len);
		close(r.fd);
	} else {
		report(false, "reg_on_unstarted_device", "ADD_DEV: %s", strerror(-ret));
	}

	ret = dev_add(&ctrl, UBLK_F_SHMEM_ZC, &s.dev_id);
	if (ret) {
		report(false, "add_dev_shmem_zc", "ADD_DEV/SET_PARAMS: %s", strerror(-ret));
		return 1;
	}
	if (shm_new(&a, 1 << 20, PROT_READ | PROT_WRITE) ||
	    shm_new(&b, 256 << 10, PROT_READ | PROT_WRITE) ||
	    shm_new(&r, 256 << 10, PROT_READ | PROT_WRITE)) {
		report(false, "memfd", "%s", strerror(errno));
		return 1;
	}
	test_registration_errors(&s, &a);

	ret = srv_start(&s);
	report(!ret, "start_dev", "%s", strerror(-ret));
	if (ret)
		return 1;
	snprintf(path, sizeof(path), "/dev/ublkb%u", s.dev_id);
	bfd = open(path, O_RDWR | O_DIRECT);
	if (bfd < 0) {
		report(false, "open_bdev", "%s: %s", path, strerror(errno));
		return 1;
	}

	/* matching and fallback, seen from the server */
	plain = plain_buf(256 << 10);
	check_io(&s, "zc_write", true, a.cli + 64 * PG, 128 << 10, 1 << 20, ZC);
	check_io(&s, "zc_read", false, a.cli + 128 * PG, 128 << 10, 1 << 20, ZC);
	check_io(&s, "plain_write_falls_back", true, plain, 128 << 10, 2 << 20, PLAIN);
	check_io(&s, "plain_read_falls_back", false, plain, 128 << 10, 2 << 20, PLAIN);
	check_io(&s, "zc_single_page", true, a.cli + 3 * PG, PG, 8 << 20, ZC);
	report(s.zc_idx == (__u32)a.idx && s.zc_off == 3 * PG, "zc_addr_is_index_and_offset",
	       "addr gave index %u offset %u, want %d, %d", s.zc_idx, s.zc_off, a.idx, 3 * PG);
	/* a buffer half in registered pages, half in ordinary ones */
	mixed = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mmap(mixed, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, a.fd, 200 * PG);
	check_io(&s, "partly_registered_falls_back", true, mixed, 2 * PG, 9 << 20, PLAIN);

	/* registration while the device runs (the queue is frozen meanwhile) */
	ret = shm_reg(&s, &b, 0);
	report(ret >= 0, "reg_after_start", "REG_BUF: %d (%s)", ret, strerror(-ret));
	check_io(&s, "zc_write_after_live_reg", true, b.cli, 64 << 10, 10 << 20, ZC);
	EXPECT_RET("unreg_after_start", shm_unreg(&s, &b), 0);
	check_io(&s, "unregistered_falls_back", true, b.cli, 64 << 10, 10 << 20, PLAIN);
	ret = shm_reg(&s, &b, 0);
	report(ret >= 0, "reg_again_live", "REG_BUF: %d (%s)", ret, strerror(-ret));
	test_reg_under_io(&s, &b);

	/* read-only: the server may read it (device WRITE), not fill it */
	ret = shm_reg(&s, &r, UBLK_SHMEM_BUF_READ_ONLY);
	report(ret >= 0, "reg_readonly", "REG_BUF: %d (%s)", ret, strerror(-ret));
	check_io(&s, "readonly_write_zc", true, r.cli, 64 << 10, 11 << 20, ZC);
	check_io(&s, "readonly_read_falls_back", false, r.cli, 64 << 10, 11 << 20, PLAIN);

	test_hugetlb(&s);
	test_sg(&s, &a, &b, obj);

	test_user_copy(&ctrl);

	/* teardown with a, b and r still registered, a no longer mapped */
	close(bfd);
	munmap(a.srv, a.len);
	ret = srv_teardown(&s);
	report(!ret, "teardown_with_buffers_registered", "STOP/DEL_DEV: %s", strerror(-ret));
	munmap(a.cli, a.len);
	munmap(b.srv, b.len);
	munmap(b.cli, b.len);
	munmap(r.srv, r.len);
	munmap(r.cli, r.len);
	pins = pinned_pages();
	report(pins == pins_before, "teardown_unpins_everything",
	       "pinned pages %ld, before the test %ld", pins, pins_before);
	bublk_ctrl_close(&ctrl);
	return failed ? 1 : 0;
}

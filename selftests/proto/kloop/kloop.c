// SPDX-License-Identifier: GPL-2.0
/*
 * kloop: feasibility prototype for issue 17.  One ublk null device, one
 * queue, whose steady state runs in io_uring's BPF loop (loop_step).
 *
 * User space: ADD_DEV/SET_PARAMS, the queue ring (SINGLE_ISSUER +
 * DEFER_TASKRUN + NO_SQARRAY), the QD initial FETCH commands and a poll on
 * a stop eventfd, load + attach the struct_ops program, START_DEV; then
 * the queue thread enters io_uring_enter() once and stays in the kernel
 * until the stop eventfd fires.  User space never writes a COMMIT.
 *
 * Usage: kloop PROG.bpf.o   (runs until SIGINT/SIGTERM, prints counters)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/io_uring.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "ctrl.h"
#include "loader.h"
#include "kloop.h"

#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY		(1U << 16)
#endif
#define K_BPF_F_SLEEPABLE		(1U << 4)

static const char *obj_path;
static struct ublksrv_ctrl_dev_info info;
static int stop_efd = -1;
static sem_t ready;
static int thread_err;
static struct kloop_stats final;
static unsigned long enters, eintr;
static int loop_ret;

/* vmlinux BTF ids of the struct_ops type */
static __s32 ops_id, value_id;
static __u32 value_size, data_off, ring_fd_off;

#define FAIL(...) do { fprintf(stderr, "kloop: " __VA_ARGS__); fputc('\n', stderr); } while (0)

static int member_off(const struct btf *btf, const struct btf_type *t, const char *name)
{
	const struct btf_member *m = btf_members(t);

	for (int i = 0; i < btf_vlen(t); i++, m++)
		if (!strcmp(btf__name_by_offset(btf, m->name_off), name))
			return btf_member_bit_offset(t, i) / 8;
	return -ENOENT;
}

static int find_types(void)
{
	struct btf *vml = btf__load_vmlinux_btf();
	int ret = 0;

	if (!vml)
		return -errno;
	ops_id = btf__find_by_name_kind(vml, "io_uring_bpf_ops", BTF_KIND_STRUCT);
	value_id = btf__find_by_name_kind(vml, "bpf_struct_ops_io_uring_bpf_ops", BTF_KIND_STRUCT);
	if (ops_id < 0 || value_id < 0) {
		FAIL("kernel has no io_uring_bpf_ops in vmlinux BTF (ids %d %d)", ops_id, value_id);
		ret = -ENOENT;
		goto out;
	}
	const struct btf_type *vt = btf__type_by_id(vml, value_id);
	value_size = vt->size;
	data_off = member_off(vml, vt, "data");
	ring_fd_off = member_off(vml, btf__type_by_id(vml, ops_id), "ring_fd");
	if ((int)data_off < 0 || (int)ring_fd_off < 0 ||
	    member_off(vml, btf__type_by_id(vml, ops_id), "loop_step") != 0) {
		FAIL("unexpected io_uring_bpf_ops layout");
		ret = -EINVAL;
	}
	printf("kloop: io_uring_bpf_ops btf id %d, value %d (%u bytes, data at %u, ring_fd at %u)\n",
	       ops_id, value_id, value_size, data_off, ring_fd_off);
out:
	btf__free(vml);
	return ret;
}

/* libbpf 1.1 knows no "struct_ops.s" and attaches struct_ops only through its own map */
static int prep_load(struct bpf_program *prog, struct bpf_prog_load_opts *opts, long cookie)
{
	opts->attach_btf_id = ops_id;
	opts->attach_btf_obj_fd = 0;		/* vmlinux */
	opts->expected_attach_type = 0;		/* member index of loop_step */
	opts->prog_flags |= K_BPF_F_SLEEPABLE;
	return 0;
}

struct bpf_state {
	struct bpf_object *obj;
	int map_fd, link_fd, bss_fd;
};

static int load_and_attach(struct bpf_state *b, const struct kloop_cfg *cfg, int ring_fd)
{
	LIBBPF_OPTS(libbpf_prog_handler_opts, hopts, .prog_prepare_load_fn = prep_load);
	struct bublk_struct_ops so = { .name = "kloop_ops" };
	struct bpf_program *prog;
	const char *what;
	struct bpf_map *ro;
	unsigned char *val;
	int ret;

	if (libbpf_register_prog_handler("kloop/", BPF_PROG_TYPE_STRUCT_OPS, 0, &hopts) < 0) {
		FAIL("cannot register the section handler");
		return -EINVAL;
	}
	b->obj = bpf_object__open_file(obj_path, NULL);
	if (!b->obj) {
		FAIL("%s: open: %s", obj_path, strerror(errno));
		return -errno;
	}
	ro = bpf_object__find_map_by_name(b->obj, ".rodata");
	if (!ro || bpf_map__set_initial_value(ro, cfg, sizeof(*cfg))) {
		FAIL(".rodata is not just struct kloop_cfg");
		return -EINVAL;
	}
	ret = bpf_object__load(b->obj);
	if (ret) {
		FAIL("load: %s (libbpf printed the verifier log above)", strerror(-ret));
		return ret;
	}
	prog = bpf_object__find_program_by_name(b->obj, "loop_step");
	b->bss_fd = bpf_map__fd(bpf_object__find_map_by_name(b->obj, ".bss"));

	val = calloc(1, value_size);
	if (!val)
		return -ENOMEM;
	*(__u64 *)(val + data_off) = bpf_program__fd(prog);	/* loop_step */
	*(__u32 *)(val + data_off + ring_fd_off) = ring_fd;
	so.btf_fd = bpf_object__btf_fd(b->obj);
	so.value_type_id = value_id;
	so.value = val;
	so.value_size = value_size;
	ret = bublk_struct_ops_link(&so, &b->map_fd, &b->link_fd, &what);	/* loader/struct_ops.c */
	free(val);
	if (ret) {
		FAIL("%s (ring fd %d): %s", what, ring_fd, strerror(-ret));
		return ret;
	}
	printf("kloop: loop_step attached to ring fd %d (link fd %d)\n", ring_fd, b->link_fd);
	return 0;
}

static int uring_setup(unsigned entries, struct io_uring_params *p)
{
	return syscall(__NR_io_uring_setup, entries, p);
}

static int uring_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags)
{
	return syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);
}

static void *queue_thread(void *arg)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			 IORING_SETUP_NO_SQARRAY | IORING_SETUP_CQSIZE,
		.cq_entries = KLOOP_CQ_ENTRIES,
	};
	struct bpf_state b = { .map_fd = -1, .link_fd = -1, .bss_fd = -1 };
	struct kloop_cfg cfg = {};
	struct io_uring_sqe *sqes;
	size_t rings_bytes, iod_bytes = 0;
	unsigned char *rings;
	void *iod = NULL, *bufs;
	char path[64];
	int fd, cfd = -1, ret;
	__u32 *sq_tail;

	fd = uring_setup(KLOOP_SQ_ENTRIES, &p);
	if (fd < 0) {
		FAIL("io_uring_setup: %s", strerror(errno));
		goto fail;
	}
	rings_bytes = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.sq_entries != KLOOP_SQ_ENTRIES || p.cq_entries != KLOOP_CQ_ENTRIES ||
	    rings_bytes > 4096) {
		FAIL("ring geometry %u/%u, %zu bytes: not what loop_step was built for",
		     p.sq_entries, p.cq_entries, rings_bytes);
		goto fail;
	}
	rings = mmap(NULL, rings_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
		     IORING_OFF_SQ_RING);
	sqes = mmap(NULL, p.sq_entries * sizeof(*sqes), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
	if (rings == MAP_FAILED || sqes == MAP_FAILED) {
		FAIL("mmap ring: %s", strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof(path), "/dev/ublkc%u", info.dev_id);
	cfd = open(path, O_RDWR);
	if (cfd < 0) {
		FAIL("%s: %s", path, strerror(errno));
		goto fail;
	}
	iod_bytes = (KLOOP_QD * KLOOP_IOD_BYTES + 4095) & ~4095UL;
	iod = mmap(NULL, iod_bytes, PROT_READ, MAP_SHARED | MAP_POPULATE, cfd, 0);
	if (iod == MAP_FAILED || posix_memalign(&bufs, 4096, KLOOP_QD * KLOOP_MAX_IO)) {
		FAIL("descriptor mmap / buffers: %s", strerror(errno));
		goto fail;
	}
	memset(bufs, 0, KLOOP_QD * KLOOP_MAX_IO);

	/* the only SQEs user space writes: QD FETCH + the stop poll */
	sq_tail = (__u32 *)(rings + p.sq_off.tail);
	for (unsigned tag = 0; tag <= KLOOP_QD; tag++) {
		struct io_uring_sqe *sqe = &sqes[tag];

		memset(sqe, 0, sizeof(*sqe));
		if (tag == KLOOP_QD) {
			sqe->opcode = IORING_OP_POLL_ADD;
			sqe->fd = stop_efd;
			sqe->poll32_events = POLLIN;
			sqe->user_data = KLOOP_STOP_UD;
			continue;
		}
		struct ublksrv_io_cmd *cmd = (void *)sqe->cmd;

		sqe->opcode = IORING_OP_URING_CMD;
		sqe->fd = cfd;
		sqe->cmd_op = UBLK_U_IO_FETCH_REQ;
		sqe->user_data = tag;
		cmd->q_id = 0;
		cmd->tag = tag;
		cmd->addr = (__u64)(unsigned long)bufs + (__u64)tag * KLOOP_MAX_IO;
	}
	__atomic_store_n(sq_tail, KLOOP_QD + 1, __ATOMIC_RELEASE);
	ret = uring_enter(fd, KLOOP_QD + 1, 0, 0);
	if (ret != KLOOP_QD + 1) {
		FAIL("submitting the FETCH commands: %d %s", ret, ret < 0 ? strerror(errno) : "");
		goto fail;
	}

	cfg.iod_va = (unsigned long)iod;
	cfg.buf_va = (unsigned long)bufs;
	cfg.ublkc_fd = cfd;
	cfg.rings_bytes = rings_bytes;
	cfg.sq_head = p.sq_off.head;
	cfg.sq_tail = p.sq_off.tail;
	cfg.sq_mask = p.sq_off.ring_mask;
	cfg.cq_head = p.cq_off.head;
	cfg.cq_tail = p.cq_off.tail;
	cfg.cq_mask = p.cq_off.ring_mask;
	cfg.cqes = p.cq_off.cqes;
	if (load_and_attach(&b, &cfg, fd))
		goto fail;

	sem_post(&ready);
	/* from here on, the kernel runs the queue */
	for (;;) {
		enters++;
		ret = uring_enter(fd, 0, 0, 0);
		if (ret < 0 && errno == EINTR) {
			eintr++;
			continue;
		}
		loop_ret = ret < 0 ? -errno : ret;
		break;
	}
	__u32 key = 0;
	unsigned char bss[4096];	/* stats first, then the loop state */

	if (bpf_map_lookup_elem(b.bss_fd, &key, bss) == 0)
		memcpy(&final, bss, sizeof(final));
	goto out;
fail:
	thread_err = 1;
	sem_post(&ready);
out:
	if (b.link_fd >= 0)
		close(b.link_fd);
	if (b.map_fd >= 0)
		close(b.map_fd);
	bpf_object__close(b.obj);
	if (fd >= 0)
		close(fd);	/* cancels the FETCH commands the driver still holds */
	if (iod && iod != MAP_FAILED)
		munmap(iod, iod_bytes);
	if (cfd >= 0)
		close(cfd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct bublk_ctrl c;
	struct ublk_params prm = {};
	pthread_t th;
	sigset_t set;
	int sig, ret, rc = 1;
	__u64 one = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: kloop PROG.bpf.o\n");
		return 2;
	}
	obj_path = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (find_types())
		return 1;
	ret = bublk_ctrl_open(&c);
	if (ret) {
		FAIL("ublk-control: %s", strerror(-ret));
		return 1;
	}
	info.nr_hw_queues = 1;
	info.queue_depth = KLOOP_QD;
	info.max_io_buf_bytes = KLOOP_MAX_IO;
	info.dev_id = -1;
	info.ublksrv_pid = getpid();
	info.flags = UBLK_F_CMD_IOCTL_ENCODE;
	ret = bublk_ctrl_add_dev(&c, &info);
	if (ret) {
		FAIL("ADD_DEV: %s", strerror(-ret));
		return 1;
	}
	prm.len = sizeof(prm);
	prm.types = UBLK_PARAM_TYPE_BASIC;
	prm.basic.logical_bs_shift = 9;
	prm.basic.physical_bs_shift = 12;
	prm.basic.io_opt_shift = 12;
	prm.basic.io_min_shift = 9;
	prm.basic.max_sectors = KLOOP_MAX_IO >> 9;
	prm.basic.dev_sectors = (256ULL << 20) >> 9;
	ret = bublk_ctrl_set_params(&c, info.dev_id, &prm);
	if (ret) {
		FAIL("SET_PARAMS: %s", strerror(-ret));
		goto del;
	}
	stop_efd = eventfd(0, EFD_CLOEXEC);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);	/* the queue thread inherits it */
	sem_init(&ready, 0, 0);
	pthread_create(&th, NULL, queue_thread, NULL);
	sem_wait(&ready);
	if (thread_err) {
		pthread_join(th, NULL);
		goto del;
	}
	ret = bublk_ctrl_start_dev(&c, info.dev_id, getpid());
	if (ret) {
		FAIL("START_DEV: %s", strerror(-ret));
		write(stop_efd, &one, sizeof(one));
		pthread_join(th, NULL);
		goto del;
	}
	printf("kloop: started /dev/ublkb%u\n", info.dev_id);
	sigwait(&set, &sig);
	ret = bublk_ctrl_stop_dev(&c, info.dev_id);
	if (ret)
		FAIL("STOP_DEV: %s", strerror(-ret));
	if (write(stop_efd, &one, sizeof(one)) != sizeof(one))
		FAIL("stop eventfd: %s", strerror(errno));
	pthread_join(th, NULL);
	printf("kloop: loop returned %d after %lu io_uring_enter (%lu EINTR)\n", loop_ret, enters, eintr);
	printf("kloop: stats steps=%llu cqes=%llu committed=%llu reads=%llu writes=%llu others=%llu "
	       "bytes=%llu aborted=%llu errors=%llu submitted=%llu submit_err=%lld stops=%llu\n",
	       final.steps, final.cqes, final.committed, final.reads, final.writes, final.others,
	       final.bytes, final.aborted, final.errors, final.submitted, final.submit_err,
	       final.stops);
	rc = loop_ret == 0 && final.errors == 0 && final.submit_err == 0 &&
	     final.submitted == final.committed ? 0 : 1;
del:
	ret = bublk_ctrl_del_dev(&c, info.dev_id);
	if (ret)
		FAIL("DEL_DEV: %s", strerror(-ret));
	else
		printf("kloop: deleted device %u\n", info.dev_id);
	bublk_ctrl_close(&c);
	return rc;
}

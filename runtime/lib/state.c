// SPDX-License-Identifier: MIT
/*
 * The state files under /run/bublk: their paths, what a live device's says
 * (struct bublk_dev -> struct bublk_state), writing, reading and removing
 * them, and the options that serve a device again. The text itself is
 * state_json.c's (writing) and state_parse.c's (reading), both walking the
 * one schema table in state_schema.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev.h"
#include "state.h"
#include "state_schema.h"

void bublk_state_path(char *out, size_t len, unsigned int dev_id, const char *ext)
{
	snprintf(out, len, "%s/%u.%s", BUBLK_RUN_DIR, dev_id, ext);
}

/* --- struct bublk_dev -> struct bublk_state ------------------------------ */

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/*
 * The target's pin directory and object ids, as the loader reports them
 * (bublk_target_print_ids, also what "bublk inspect" users know).
 */
static void ids_from_target(struct bublk_target *t, struct bublk_state *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	bublk_target_print_ids(t, f);
	if (fclose(f)) {
		free(buf);
		return;
	}
	bublk_state_parse_ids(buf, st);
	free(buf);
}

static int from_dev(const struct bublk_dev *dev, int pid, bool creating, struct bublk_state *st)
{
	char config[sizeof(dev->config)], *save = NULL;

	memset(st, 0, sizeof(*st));
	st->dev_id = dev->info.dev_id;
	st->pid = pid;
	st->creating = creating;
	copy_str(st->target, sizeof(st->target), dev->current->name);
	copy_str(st->object, sizeof(st->object), dev->current->path);
	st->size = dev->size;
	st->block_size = dev->block_size;
	st->rotational = dev->attrs & BUBLK_DEV_ROTATIONAL;
	st->readonly = dev->readonly;
	st->nr_queues = dev->info.nr_hw_queues;
	st->depth = dev->info.queue_depth;
	st->max_io_bytes = dev->info.max_io_buf_bytes;
	st->data_mode = dev->info.flags & UBLK_F_AUTO_BUF_REG ? BUBLK_MODE_ZERO_COPY :
			dev->info.flags & UBLK_F_SUPPORT_ZERO_COPY ? BUBLK_MODE_ZERO_COPY_MANUAL :
			dev->info.flags & UBLK_F_USER_COPY ? BUBLK_MODE_USER_COPY : BUBLK_MODE_COPY;
	st->flags = dev->info.flags;
	st->legacy = dev->ctrl.legacy;
	st->recovery = dev->info.flags & UBLK_F_USER_RECOVERY;
	st->dispatch_c = dev->cmap.map != NULL;
	st->engine_kernel = dev->engine_kernel;
	st->shmem_zc = dev->shmem_zc;
	if (dev->shmem_zc) {
		copy_str(st->shmem_socket, sizeof(st->shmem_socket), dev->shmem.listener.path);
		st->shmem_sg_hook = dev->sg_hook != NULL;
	}
	st->nr_backends = dev->nr_backends;
	st->has_base = dev->has_base;
	for (int i = 0; i < dev->nr_backends; i++) {
		copy_str(st->backends[i].path, sizeof(st->backends[i].path), dev->backends[i].path);
		st->backends[i].size = dev->backends[i].size;
	}
	copy_str(config, sizeof(config), dev->config);
	for (char *c = strtok_r(config, ";", &save); c && st->nr_options < BUBLK_STATE_MAX_OPTIONS;
	     c = strtok_r(NULL, ";", &save))
		copy_str(st->options[st->nr_options++], BUBLK_STATE_OPTIONS_LEN, c);
	/* while creating, the target is not loaded: no pins, no ids yet */
	if (!creating)
		ids_from_target(dev->current, st);
	return 0;
}

int bublk_state_from_dev(const struct bublk_dev *dev, int pid, struct bublk_state *st)
{
	return from_dev(dev, pid, false, st);
}

/* --- the files ------------------------------------------------------------ */

int bublk_state_save(const struct bublk_state *st)
{
	char path[256], tmp[300];
	char *s = bublk_state_format(st, -1);
	size_t len, off = 0;
	int fd, ret = 0;

	if (!s)
		return -ENOMEM;
	mkdir(BUBLK_RUN_DIR, 0755);
	bublk_state_path(path, sizeof(path), st->dev_id, "json");
	/* a fresh name, never an existing file or link ("3.json.XXXXXX" is no state file) */
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		free(s);
		return -errno;
	}
	len = strlen(s);
	s[len++] = '\n';	/* replaces the NUL: written by length */
	while (off < len) {
		ssize_t n = write(fd, s + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		off += n;
	}
	free(s);
	if (!ret && fchmod(fd, 0644))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	/* readers never see a half-written file */
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int bublk_state_write(const struct bublk_dev *dev, int pid)
{
	struct bublk_state *st = malloc(sizeof(*st));	/* ~100 KiB: not on a thread's stack */
	int ret;

	if (!st)
		return -ENOMEM;
	ret = bublk_state_from_dev(dev, pid, st);
	if (!ret)
		ret = bublk_state_save(st);
	free(st);
	return ret;
}

int bublk_state_write_creating(const struct bublk_dev *dev, int pid)
{
	struct bublk_state *st = malloc(sizeof(*st));
	int ret;

	if (!st)
		return -ENOMEM;
	ret = from_dev(dev, pid, true, st);
	if (!ret)
		ret = bublk_state_save(st);
	free(st);
	return ret;
}

void bublk_state_remove(unsigned int dev_id)
{
	char path[256];

	bublk_state_path(path, sizeof(path), dev_id, "json");
	unlink(path);
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return x < y ? -1 : x > y;
}

int bublk_state_ids(unsigned int *ids, int max)
{
	DIR *d = opendir(BUBLK_RUN_DIR);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;	/* nothing was ever created */
	while ((e = readdir(d)) && n < max) {
		unsigned int id;
		char tail[8];

		if (sscanf(e->d_name, "%u.%7s", &id, tail) == 2 && !strcmp(tail, "json"))
			ids[n++] = id;
	}
	closedir(d);
	qsort(ids, n, sizeof(ids[0]), cmp_uint);
	return n;
}

/*
 * The file's bytes (*len of them, NUL-terminated), or NULL with -errno in
 * *len: -ENOENT absent, -EFBIG over the limit (*size says how big).
 */
static char *read_file(const char *path, ssize_t *len, off_t *size)
{
	struct stat sb;
	char *buf;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		*len = -errno;
		return NULL;
	}
	if (fstat(fd, &sb)) {
		*len = -errno;
		close(fd);
		return NULL;
	}
	*size = sb.st_size;
	if (sb.st_size > BUBLK_STATE_MAX_BYTES) {
		*len = -EFBIG;
		close(fd);
		return NULL;
	}
	/* one byte more than the limit: a file growing meanwhile is caught too */
	buf = malloc(BUBLK_STATE_MAX_BYTES + 2);
	if (!buf) {
		*len = -ENOMEM;
		close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t k = read(fd, buf + n, BUBLK_STATE_MAX_BYTES + 1 - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			*len = -errno;
			free(buf);
			close(fd);
			return NULL;
		}
		if (!k || (n += k) > BUBLK_STATE_MAX_BYTES)
			break;
	}
	close(fd);
	if (n > BUBLK_STATE_MAX_BYTES) {
		*size = n;
		*len = -EFBIG;
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

int bublk_state_load(unsigned int dev_id, struct bublk_state *st, char *err, size_t errlen)
{
	char path[256], why[512];
	ssize_t len;
	off_t size = 0;
	char *buf;
	int ret;

	memset(st, 0, sizeof(*st));
	bublk_state_path(path, sizeof(path), dev_id, "json");
	buf = read_file(path, &len, &size);
	if (!buf) {
		if (len == -EFBIG)
			snprintf(err, errlen, "state file %s is %lld bytes, more than the %d limit: not written by bublk",
				 path, (long long)size, BUBLK_STATE_MAX_BYTES);
		else
			snprintf(err, errlen, "state file %s: %s", path, strerror((int)-len));
		return (int)len;
	}
	ret = bublk_state_parse(buf, len, st, why, sizeof(why));
	free(buf);
	if (!ret && st->dev_id != dev_id) {
		snprintf(why, sizeof(why), "it describes device %u", st->dev_id);
		memset(st, 0, sizeof(*st));
		ret = -EINVAL;
	}
	if (ret)
		snprintf(err, errlen, "state file %s is damaged: %s", path, why);
	return ret;
}

int bublk_state_pid(unsigned int dev_id)
{
	struct bublk_state *st = malloc(sizeof(*st));
	char err[8];
	int ret;

	if (!st)
		return 0;
	ret = bublk_state_load(dev_id, st, err, sizeof(err));
	ret = ret == -ENOENT ? -ENOENT : ret ? 0 : st->pid;
	free(st);
	return ret;
}

char *bublk_state_read(unsigned int dev_id)
{
	char path[256];
	ssize_t len;
	off_t size;

	bublk_state_path(path, sizeof(path), dev_id, "json");
	return read_file(path, &len, &size);
}

void bublk_state_opts(const struct bublk_state *st, struct bublk_dev_opts *o)
{
	int nr_files = st->nr_backends - st->has_base;

	memset(o, 0, sizeof(*o));
	o->target = st->object;
	for (int i = 0; i < nr_files; i++)
		o->files[o->nr_files++] = st->backends[i].path;
	if (st->has_base)
		o->base = st->backends[st->nr_backends - 1].path;
	o->size = st->size;
	o->nr_queues = st->nr_queues;
	o->depth = st->depth;
	o->max_io_bytes = st->max_io_bytes;
	o->readonly = st->readonly;
	o->rotational = st->rotational;
	o->block_size = st->block_size;
	o->legacy = st->legacy;
	o->recovery = st->recovery;
	o->shmem_zc = st->shmem_zc;
	o->data_mode = st->data_mode;
	o->dispatch = st->dispatch_c ? BUBLK_DISPATCH_C : BUBLK_DISPATCH_BPF;
	/* recovered as it was served: a kernel that lost io_uring_bpf_ops says so */
	o->engine = st->engine_kernel ? BUBLK_ENGINE_KERNEL : BUBLK_ENGINE_USER;
	for (int i = 0; i < st->nr_options; i++)
		o->config[o->nr_config++] = st->options[i];
}

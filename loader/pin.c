// SPDX-License-Identifier: MIT
/*
 * Pins: a device's programs and inspectable maps under
 * /sys/fs/bpf/bublk/<dev_id>/, so bpftool can show them while the device
 * lives. Maps a target declares with __uint(pinning, LIBBPF_PIN_BY_NAME)
 * are its persistent state: libbpf reuses the pinned map when it already
 * exists, so a recovered or reloaded daemon finds the state where the old
 * one left it. Everything goes when the device is deleted.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

static int ensure_bpffs(void)
{
	struct statfs fs;

	if (!statfs(BUBLK_PIN_ROOT_FS, &fs) && fs.f_type == BPF_FS_MAGIC)
		return 0;
	/* a systemd host mounts it; a bare VM or container may not have */
	if (mount("bpf", BUBLK_PIN_ROOT_FS, "bpf", 0, "mode=0700"))
		return -errno;
	return 0;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * A pin directory is trusted only when nobody but us can have put things
 * in it or moved it: a real directory (not a symlink), owned by our user,
 * writable by nobody else. On a bpffs mounted without mode=0700 any user
 * may create /sys/fs/bpf/bublk first and then move one device's pinned
 * state (fault rules, mirror legs) under another device's number.
 */
static int check_pin_dir(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory (a symlink?): remove it and retry", path);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen,
			 "%s is owned by uid %u, not by uid %u: another user created it; remove it (rm -r %s) and retry",
			 path, (unsigned int)st.st_uid, (unsigned int)geteuid(), path);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen,
			 "%s is writable by other users (mode %03o): its pins cannot be trusted; remove it (rm -r %s) and retry",
			 path, (unsigned int)(st.st_mode & 0777), path);
		return -EPERM;
	}
	return 0;
}

void bublk_pin_dir(__u32 dev_id, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%u", BUBLK_PIN_ROOT, dev_id);
}

/* a map the user can read with bpftool: not the arena, not .rodata & co */
static bool inspectable(const struct bpf_map *m)
{
	return bpf_map__type(m) != (enum bpf_map_type)BPF_MAP_TYPE_ARENA &&
	       !strchr(bpf_map__name(m), '.');
}

int bublk_pin_claim_state(struct bublk_target *t, char *err, size_t errlen)
{
	struct bpf_map *m;
	int ret;

	/*
	 * libbpf would pin these under /sys/fs/bpf itself, shared by every
	 * device: take them back until the device's directory is known.
	 */
	bpf_object__for_each_map(m, t->obj) {
		if (!bpf_map__pin_path(m))
			continue;
		if (!inspectable(m) || t->nr_state_maps == BUBLK_MAX_BACKENDS) {
			snprintf(err, errlen, "map %s: only up to %d ordinary maps can be pinned state",
				 bpf_map__name(m), BUBLK_MAX_BACKENDS);
			return -EINVAL;
		}
		ret = bpf_map__set_pin_path(m, NULL);
		if (ret) {
			snprintf(err, errlen, "map %s: pin path: %s", bpf_map__name(m), strerror(-ret));
			return ret;
		}
		t->state_maps[t->nr_state_maps++] = m;
	}
	return 0;
}

int bublk_pin_prepare(struct bublk_target *t, __u32 dev_id, char *err, size_t errlen)
{
	struct bpf_map *m;
	char path[PATH_MAX];
	int ret;

	ret = ensure_bpffs();
	if (ret) {
		snprintf(err, errlen, "mounting bpffs at %s: %s", BUBLK_PIN_ROOT_FS, strerror(-ret));
		return ret;
	}
	bublk_pin_dir(dev_id, t->pin_dir, sizeof(t->pin_dir));
	ret = mkdir_p(t->pin_dir);
	if (ret) {
		snprintf(err, errlen, "creating %s: %s", t->pin_dir, strerror(-ret));
		return ret;
	}
	ret = check_pin_dir(BUBLK_PIN_ROOT, err, errlen);
	if (!ret)
		ret = check_pin_dir(t->pin_dir, err, errlen);
	if (ret)
		return ret;
	/* state maps: reuse what an earlier daemon of this device pinned */
	for (int i = 0; i < t->nr_state_maps; i++) {
		m = t->state_maps[i];
		snprintf(path, sizeof(path), "%s/%s", t->pin_dir, bpf_map__name(m));
		ret = bpf_map__set_pin_path(m, path);
		if (ret) {
			snprintf(err, errlen, "pin path of map %s: %s", bpf_map__name(m), strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* pin at path, replacing what a previous daemon left there */
static int pin_fd(int fd, const char *path)
{
	unlink(path);
	return bpf_obj_pin(fd, path) ? -errno : 0;
}

int bublk_pin_all(struct bublk_target *t, char *err, size_t errlen)
{
	struct bpf_program *p;
	struct bpf_map *m;
	char path[PATH_MAX];
	int ret;

	if (!t->pin_dir[0])
		return 0;
	bpf_object__for_each_program(p, t->obj) {
		snprintf(path, sizeof(path), "%s/%s", t->pin_dir, bpf_program__name(p));
		ret = pin_fd(bpf_program__fd(p), path);
		if (ret)
			goto fail;
	}
	bpf_object__for_each_map(m, t->obj) {
		if (!inspectable(m) || bpf_map__is_pinned(m))
			continue;
		snprintf(path, sizeof(path), "%s/%s", t->pin_dir, bpf_map__name(m));
		ret = pin_fd(bpf_map__fd(m), path);
		if (ret)
			goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "pinning %s: %s", path, strerror(-ret));
	return ret;
}

int bublk_pin_remove(__u32 dev_id)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	bublk_pin_dir(dev_id, dir, sizeof(dir));
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) && !ret)
			ret = -errno;
	}
	closedir(d);
	if (rmdir(dir) && !ret)
		ret = -errno;
	return ret;
}

static __u32 obj_id(int fd)
{
	struct bpf_prog_info info;	/* id is the first member of prog and map info */
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

void bublk_target_print_ids(struct bublk_target *t, FILE *f)
{
	struct bpf_program *p;
	struct bpf_map *m;
	bool first = true;

	fprintf(f, "{\"pin_dir\": \"%s\", \"programs\": {", t->pin_dir);
	bpf_object__for_each_program(p, t->obj) {
		fprintf(f, "%s\"%s\": %u", first ? "" : ", ", bpf_program__name(p),
			obj_id(bpf_program__fd(p)));
		first = false;
	}
	fprintf(f, "}, \"maps\": {");
	first = true;
	bpf_object__for_each_map(m, t->obj) {
		if (!inspectable(m) && bpf_map__type(m) != (enum bpf_map_type)BPF_MAP_TYPE_ARENA)
			continue;
		fprintf(f, "%s\"%s\": %u", first ? "" : ", ", bpf_map__name(m), obj_id(bpf_map__fd(m)));
		first = false;
	}
	fprintf(f, "}}");
}

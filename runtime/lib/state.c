// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev.h"
#include "state.h"

void bublk_state_path(char *out, size_t len, unsigned int dev_id, const char *ext)
{
	snprintf(out, len, "%s/%u.%s", BUBLK_RUN_DIR, dev_id, ext);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static const char *data_mode_name(const struct bublk_dev *dev)
{
	return (dev->info.flags & UBLK_F_USER_COPY) ? "user_copy" : "copy";
}

int bublk_state_write(const struct bublk_dev *dev, int pid)
{
	char path[256], tmp[300];
	FILE *f;

	mkdir(BUBLK_RUN_DIR, 0755);
	bublk_state_path(path, sizeof(path), dev->info.dev_id, "json");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "{\"dev_id\": %u, \"pid\": %d, \"block\": \"/dev/ublkb%u\", \"char\": \"/dev/ublkc%u\", ",
		dev->info.dev_id, pid, dev->info.dev_id, dev->info.dev_id);
	fprintf(f, "\"target\": ");
	json_str(f, dev->current->name);
	fprintf(f, ", \"object\": ");
	json_str(f, dev->current->path);
	fprintf(f, ", \"size\": %llu, \"queues\": %u, \"depth\": %u, \"max_io_bytes\": %u, ",
		(unsigned long long)dev->size, dev->info.nr_hw_queues, dev->info.queue_depth,
		dev->info.max_io_buf_bytes);
	fprintf(f, "\"data_mode\": \"%s\", \"flags\": %llu, \"legacy_opcodes\": %s, \"backends\": [",
		data_mode_name(dev), (unsigned long long)dev->info.flags,
		dev->ctrl.legacy ? "true" : "false");
	for (int i = 0; i < dev->nr_backends; i++) {
		fprintf(f, "%s{\"path\": ", i ? ", " : "");
		json_str(f, dev->backends[i].path);
		fprintf(f, ", \"size\": %llu}", (unsigned long long)dev->backends[i].size);
	}
	fprintf(f, "], \"files\": \"");
	for (int i = 0; i < dev->nr_backends - dev->has_base; i++) {
		fputs(i ? "," : "", f);
		for (const char *c = dev->backends[i].path; *c; c++)
			fprintf(f, (*c == '"' || *c == '\\') ? "\\%c" : "%c", *c);
	}
	fprintf(f, "\", ");
	if (dev->has_base) {
		fprintf(f, "\"base\": ");
		json_str(f, dev->backends[dev->nr_backends - 1].path);
		fprintf(f, ", ");
	}
	fprintf(f, "\"config\": ");
	json_str(f, dev->config);
	fprintf(f, ", \"dispatch\": \"%s\"", dev->cmap.map ? "c" : "bpf");
	if (dev->shmem_zc)
		fprintf(f, ", \"shmem_socket\": \"%s\", \"shmem_sg_hook\": %s", dev->shmem.path,
			dev->sg_hook ? "true" : "false");
	fprintf(f, ", \"readonly\": %s, \"recovery\": %s, \"block_size\": %u, \"bpf\": ",
		dev->readonly ? "true" : "false",
		(dev->info.flags & UBLK_F_USER_RECOVERY) ? "true" : "false", dev->block_size);
	bublk_target_print_ids(dev->current, f);
	fprintf(f, "}\n");
	if (fclose(f))
		return -errno;
	/* readers never see a half-written file */
	return rename(tmp, path) ? -errno : 0;
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

char *bublk_state_read(unsigned int dev_id)
{
	char path[256], *buf;
	long len;
	FILE *f;

	bublk_state_path(path, sizeof(path), dev_id, "json");
	f = fopen(path, "r");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || len > (1 << 20) ||
	    fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return NULL;
	}
	buf = malloc(len + 1);
	if (buf && fread(buf, 1, len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[len] = 0;
	fclose(f);
	return buf;
}

/* the value after "key": at nesting depth 1, or NULL */
static const char *json_find(const char *json, const char *key)
{
	size_t klen = strlen(key);
	int depth = 0;

	for (const char *p = json; *p; p++) {
		if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			depth--;
		} else if (*p == '"') {
			const char *s = ++p;

			while (*p && *p != '"')
				p += (*p == '\\' && p[1]) ? 2 : 1;
			if (!*p)
				return NULL;
			if (depth == 1 && (size_t)(p - s) == klen && !strncmp(s, key, klen)) {
				const char *v = p + 1;

				while (*v == ' ')
					v++;
				if (*v != ':')
					continue;
				v++;
				while (*v == ' ')
					v++;
				return v;
			}
		}
	}
	return NULL;
}

int bublk_json_get_u64(const char *json, const char *key, unsigned long long *out)
{
	const char *v = json_find(json, key);
	char *end;

	if (!v)
		return -ENOENT;
	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(v, &end, 10);
	return errno ? -EINVAL : 0;
}

int bublk_json_get_str(const char *json, const char *key, char *out, size_t len)
{
	const char *v = json_find(json, key);
	size_t n = 0;

	if (!v)
		return -ENOENT;
	if (*v++ != '"' || !len)
		return -EINVAL;
	for (; *v && *v != '"'; v++) {
		char c = *v;

		if (c == '\\') {
			if (!*++v)
				return -EINVAL;
			c = *v;
		}
		if (n + 1 >= len)
			return -ENAMETOOLONG;
		out[n++] = c;
	}
	if (*v != '"')
		return -EINVAL;
	out[n] = 0;
	return 0;
}

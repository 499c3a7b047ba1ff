// SPDX-License-Identifier: MIT
/* Where a target named on the command line lives. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "loader.h"

static int try_dir(const char *dir, const char *name, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s.bpf.o", dir, name);

	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	return access(out, R_OK) ? -ENOENT : 0;
}

/*
 * Call fn on each target directory in lookup order until it returns 0:
 * $BUBLK_TARGET_PATH, the build tree (build/bublk next to build/bpf/), the
 * install next to the binary (bin/../lib/bublk), BUBLK_TARGET_DIR.
 */
static int for_each_dir(int (*fn)(const char *dir, void *arg), void *arg)
{
	char exe[PATH_MAX], dir[PATH_MAX + 32];
	const char *env = getenv("BUBLK_TARGET_PATH");
	ssize_t n;

	if (env) {
		char *copy = strdup(env), *save = NULL;

		if (!copy)
			return -ENOMEM;
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			if (!fn(d, arg)) {
				free(copy);
				return 0;
			}
		}
		free(copy);
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');

		if (slash) {
			*slash = 0;
			snprintf(dir, sizeof(dir), "%s/bpf", exe);
			if (!fn(dir, arg))
				return 0;
			snprintf(dir, sizeof(dir), "%s/../lib/bublk", exe);
			if (!fn(dir, arg))
				return 0;
		}
	}
	return fn(BUBLK_TARGET_DIR, arg);
}

struct resolve_arg {
	const char	*name;
	char		*out;
	size_t		outlen;
	int		ret;
};

static int resolve_in(const char *dir, void *arg)
{
	struct resolve_arg *a = arg;

	a->ret = try_dir(dir, a->name, a->out, a->outlen);
	return a->ret;
}

int bublk_target_resolve(const char *name, char *out, size_t outlen)
{
	struct resolve_arg a = { name, out, outlen, -ENOENT };
	size_t len = strlen(name);

	if (strchr(name, '/') || (len > 2 && !strcmp(name + len - 2, ".o"))) {
		if ((size_t)snprintf(out, outlen, "%s", name) >= outlen)
			return -ENAMETOOLONG;
		return access(out, R_OK) ? -errno : 0;
	}
	for_each_dir(resolve_in, &a);
	return a.ret;
}

/* the target list: what each object says of itself */
#define MAX_LISTED	64

struct listed {
	char	name[32];
	char	help[128];	/* the first line of its BUBLK_HELP */
};

struct list_arg {
	struct listed	t[MAX_LISTED];
	int		nr;
};

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0;
}

/* the first line of a bublk target's BUBLK_HELP, or -1 for any other object */
static int describe(const char *path, struct listed *l)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	const char *v;
	size_t sz = 0;

	if (libbpf_get_error(obj))
		return -1;
	if (!bublk_rodata_var(obj, "bublk_abi_version", &sz)) {
		bpf_object__close(obj);
		return -1;
	}
	l->help[0] = 0;
	v = bublk_rodata_var(obj, "bublk_target_help", &sz);
	if (v) {
		int n = strnlen(v, sz), line = 0;

		int skip = strlen(l->name);

		while (line < n && v[line] != '\n')
			line++;
		/* "loop: the device is ..." is listed as "loop     the device is ..." */
		if (skip + 2 <= line && !strncmp(v, l->name, skip) && v[skip] == ':' && v[skip + 1] == ' ')
			skip += 2;
		else
			skip = 0;
		snprintf(l->help, sizeof(l->help), "%.*s", line - skip, v + skip);
	}
	bpf_object__close(obj);
	return 0;
}

static int list_in(const char *dir, void *arg)
{
	struct list_arg *a = arg;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return 1;
	while ((de = readdir(d)) && a->nr < MAX_LISTED) {
		size_t len = strlen(de->d_name);
		char path[PATH_MAX];
		struct listed l;
		int i;

		if (len <= 6 || strcmp(de->d_name + len - 6, ".bpf.o") ||
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		/* NAME.bpf.o is what -t NAME finds: list it by that name, once */
		snprintf(l.name, sizeof(l.name), "%.*s", (int)(len - 6), de->d_name);
		for (i = 0; i < a->nr && strcmp(a->t[i].name, l.name); i++)
			;
		if (i < a->nr || describe(path, &l))
			continue;
		a->t[a->nr++] = l;
	}
	closedir(d);
	return 1;	/* every directory */
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct listed *)a)->name, ((const struct listed *)b)->name);
}

int bublk_target_list(FILE *f, const char *prefix, char *names, size_t nameslen)
{
	libbpf_print_fn_t old = libbpf_set_print(quiet);
	struct list_arg *a = calloc(1, sizeof(*a));
	size_t used = 0;
	int nr;

	if (names && nameslen)
		names[0] = 0;
	if (!a) {
		libbpf_set_print(old);
		return -ENOMEM;
	}
	for_each_dir(list_in, a);
	libbpf_set_print(old);
	qsort(a->t, a->nr, sizeof(a->t[0]), by_name);
	for (int i = 0; i < a->nr; i++) {
		if (f)
			fprintf(f, "%s%-8s %s\n", prefix ? prefix : "", a->t[i].name, a->t[i].help);
		if (names && used < nameslen)
			used += snprintf(names + used, nameslen - used, "%s%s", i ? ", " : "",
					 a->t[i].name);
	}
	nr = a->nr;
	free(a);
	return nr;
}

// SPDX-License-Identifier: MIT
/*
 * Target options: a target that takes options declares an ARRAY map
 * "bublk_config" with one BTF-described struct; "key=value" pairs from the
 * command line are written into the members of the same name, so the
 * options are visible (and changeable) with bpftool too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "parse.h"

/* "chunk, legs" for messages */
static void list_members(const struct btf *btf, const struct btf_type *st, char *out, size_t len)
{
	const struct btf_member *m = btf_members(st);
	size_t n = 0;

	out[0] = 0;
	for (int i = 0; i < btf_vlen(st) && n < len; i++, m++)
		n += snprintf(out + n, len - n, "%s%s", i ? ", " : "",
			      btf__name_by_offset(btf, m->name_off));
}

static int set_member(const struct btf *btf, const struct btf_type *st, void *value,
		      size_t value_size, const char *key, const char *val, char *err, size_t errlen)
{
	const struct btf_member *m = btf_members(st);
	char names[256];

	for (int i = 0; i < btf_vlen(st); i++, m++) {
		const struct btf_type *mt;
		uint64_t v;
		__u32 off;
		__s64 sz;

		if (strcmp(btf__name_by_offset(btf, m->name_off), key))
			continue;
		mt = btf__type_by_id(btf, btf__resolve_type(btf, m->type));
		sz = btf__resolve_size(btf, m->type);
		off = btf_member_bit_offset(st, i);
		/* the BTF comes from the user's object: never trust it to fit the map value */
		if (!mt || (!btf_is_int(mt) && !btf_is_enum(mt)) || btf_member_bitfield_size(st, i) ||
		    (sz != 1 && sz != 2 && sz != 4 && sz != 8) || off % 8 ||
		    off / 8 > value_size || (size_t)sz > value_size - off / 8) {
			snprintf(err, errlen, "option %s is not a plain integer", key);
			return -EINVAL;
		}
		if (parse_size(val, &v) || (sz < 8 && v >> (sz * 8))) {
			snprintf(err, errlen, "option %s=%s: not a number that fits %lld bytes", key, val,
				 (long long)sz);
			return -EINVAL;
		}
		memcpy((char *)value + off / 8, &v, sz);	/* little endian */
		return 0;
	}
	list_members(btf, st, names, sizeof(names));
	snprintf(err, errlen, "unknown option \"%s\"; this target takes: %s", key, names);
	return -ENOENT;
}

int bublk_config_apply(const struct btf *btf, __u32 type_id, void *value, size_t value_size,
		       const char *const *config, int nr_config, char *err, size_t errlen)
{
	const struct btf_type *st;
	int ret = 0;

	st = btf__type_by_id(btf, btf__resolve_type(btf, type_id));
	if (!st || !btf_is_struct(st)) {
		snprintf(err, errlen, "the target's bublk_config map value is not a struct");
		return -EINVAL;
	}
	for (int i = 0; i < nr_config && !ret; i++) {
		char key[64];
		const char *eq = strchr(config[i], '=');

		if (!eq || eq == config[i] || (size_t)(eq - config[i]) >= sizeof(key)) {
			snprintf(err, errlen, "option \"%s\": expected KEY=VALUE", config[i]);
			return -EINVAL;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(eq - config[i]), config[i]);
		ret = set_member(btf, st, value, value_size, key, eq + 1, err, errlen);
	}
	return ret;
}

int bublk_target_configure(struct bublk_target *t, const char *const *config, int nr_config,
			   char *err, size_t errlen)
{
	struct bpf_map *map = bpf_object__find_map_by_name(t->obj, "bublk_config");
	const struct btf *btf = bpf_object__btf(t->obj);
	__u32 zero = 0;
	void *value;
	int ret;

	if (!nr_config)
		return 0;
	if (!map || !btf) {
		snprintf(err, errlen, "target %s takes no options (no bublk_config map)", t->name);
		return -EINVAL;
	}
	value = calloc(1, bpf_map__value_size(map));
	if (!value)
		return -ENOMEM;
	/* start from what the map holds: members not named keep their value */
	bpf_map_lookup_elem(bpf_map__fd(map), &zero, value);
	ret = bublk_config_apply(btf, bpf_map__btf_value_type_id(map), value,
				 bpf_map__value_size(map), config, nr_config, err, errlen);
	if (!ret && bpf_map_update_elem(bpf_map__fd(map), &zero, value, 0)) {
		ret = -errno;
		snprintf(err, errlen, "writing map bublk_config: %s", strerror(errno));
	}
	free(value);
	return ret;
}

void bublk_target_print_help(struct bublk_target *t, FILE *f)
{
	struct bpf_map *map = bpf_object__find_map_by_name(t->obj, "bublk_config");
	const struct btf *btf = bpf_object__btf(t->obj);
	const struct btf_type *st = NULL;
	const char *help;
	size_t sz = 0;

	fprintf(f, "target %s (%s)\n", t->name, t->path);
	help = bublk_rodata_var(t->obj, "bublk_target_help", &sz);
	if (help && sz)
		fprintf(f, "\n%.*s\n", (int)strnlen(help, sz), help);
	if (map && btf)
		st = btf__type_by_id(btf, btf__resolve_type(btf, bpf_map__btf_value_type_id(map)));
	if (!st || !btf_is_struct(st)) {
		fprintf(f, "\noptions: none\n");
		return;
	}
	fprintf(f, "\noptions (--set KEY=VALUE; integers, K/M/G suffixes allowed):\n");
	for (int i = 0; i < btf_vlen(st); i++) {
		const struct btf_member *m = btf_members(st) + i;

		fprintf(f, "  %-12s %lld-byte integer\n", btf__name_by_offset(btf, m->name_off),
			(long long)btf__resolve_size(btf, m->type));
	}
}

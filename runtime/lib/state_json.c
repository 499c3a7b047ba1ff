// SPDX-License-Identifier: MIT
/*
 * struct bublk_state -> the state file's text, with json-c, walking the
 * schema table (state_schema.c) in its order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "state_schema.h"

#define FORMAT_FLAGS	(JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

static int add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (!val)
		return -ENOMEM;
	if (json_object_object_add(obj, key, val)) {
		json_object_put(val);
		return -ENOMEM;
	}
	return 0;
}

static int add_str(struct json_object *obj, const char *key, const char *s)
{
	return add(obj, key, json_object_new_string(s));
}

static int add_u64(struct json_object *obj, const char *key, __u64 v)
{
	return add(obj, key, json_object_new_uint64(v));
}

static int add_bool(struct json_object *obj, const char *key, bool v)
{
	return add(obj, key, json_object_new_boolean(v));
}

static struct json_object *ids_object(const struct bublk_state_id *ids, int n)
{
	struct json_object *obj = json_object_new_object();

	for (int i = 0; obj && i < n; i++) {
		if (add_u64(obj, ids[i].name, ids[i].id)) {
			json_object_put(obj);
			return NULL;
		}
	}
	return obj;
}

static int add_options(struct json_object *o, const char *key, const struct bublk_state *st)
{
	struct json_object *arr = json_object_new_array();

	if (add(o, key, arr))
		return -ENOMEM;
	for (int i = 0; i < st->nr_options; i++)
		if (json_object_array_add(arr, json_object_new_string(st->options[i])))
			return -ENOMEM;
	return 0;
}

static int add_backends(struct json_object *o, const char *key, const struct bublk_state *st)
{
	struct json_object *arr = json_object_new_array();
	int ret = 0;

	if (add(o, key, arr))
		return -ENOMEM;
	for (int i = 0; i < st->nr_backends; i++) {
		struct json_object *b = json_object_new_object();

		if (!b || json_object_array_add(arr, b)) {
			json_object_put(b);
			return -ENOMEM;
		}
		ret |= add_str(b, SK_PATH, st->backends[i].path);
		ret |= add_u64(b, SK_SIZE, st->backends[i].size);
		ret |= add_bool(b, SK_BASE, st->has_base && i == st->nr_backends - 1);
		if (ret)
			return -ENOMEM;
	}
	return 0;
}

static int add_bpf(struct json_object *o, const char *key, const struct bublk_state *st)
{
	struct json_object *bpf = json_object_new_object();
	int ret = 0;

	if (add(o, key, bpf))
		return -ENOMEM;
	ret |= add_str(bpf, SK_PIN_DIR, st->pin_dir);
	ret |= add(bpf, SK_PROGRAMS, ids_object(st->progs, st->nr_progs));
	ret |= add(bpf, SK_MAPS, ids_object(st->maps, st->nr_maps));
	return ret ? -ENOMEM : 0;
}

static int add_field(struct json_object *o, const struct bublk_state_field *f,
		     const struct bublk_state *st)
{
	const char *p = (const char *)st + f->off;
	char node[64];

	switch (f->type) {
	case SF_U64:
		return add_u64(o, f->key, *(const __u64 *)p);
	case SF_U32:
		return add_u64(o, f->key, *(const __u32 *)p);
	case SF_INT:
		return add_u64(o, f->key, *(const int *)p);
	case SF_BOOL:
		return add_bool(o, f->key, *(const bool *)p);
	case SF_STR:
		return add_str(o, f->key, p);
	case SF_ENUM:
		return add_str(o, f->key, f->names[bublk_state_enum_index(f, st)]);
	case SF_SCHEMA:
		return add_u64(o, f->key, BUBLK_STATE_SCHEMA);
	case SF_DEVNODE:
		snprintf(node, sizeof(node), f->fmt, st->dev_id);
		return add_str(o, f->key, node);
	case SF_OPTIONS:
		return add_options(o, f->key, st);
	case SF_BACKENDS:
		return add_backends(o, f->key, st);
	case SF_BPF:
		return add_bpf(o, f->key, st);
	}
	return -EINVAL;
}

static int format_into(struct json_object *o, const struct bublk_state *st)
{
	for (size_t i = 0; i < bublk_state_nr_fields; i++) {
		const struct bublk_state_field *f = &bublk_state_fields[i];

		if ((f->flags & SF_SHMEM) && !st->shmem_zc)
			continue;
		if (add_field(o, f, st))
			return -ENOMEM;
	}
	return 0;
}

char *bublk_state_format(const struct bublk_state *st, int alive)
{
	struct json_object *o = json_object_new_object();
	char *s = NULL;

	if (o && !format_into(o, st) && (alive < 0 || !add_bool(o, SK_ALIVE, alive > 0)))
		s = strdup(json_object_to_json_string_ext(o, FORMAT_FLAGS));
	json_object_put(o);
	return s;
}

// SPDX-License-Identifier: MIT
/*
 * The state file's text -> struct bublk_state, with json-c, walking the
 * schema table (state_schema.c). Every value is checked against the limits
 * "bublk add" itself enforces: what this accepts can be served (bublk
 * recover) and printed (bublk list) as is. Fuzzed (fuzz_state.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "dev.h"
#include "state_schema.h"

struct parser {
	char	*err;
	size_t	errlen;
};

static int __attribute__((format(printf, 2, 3))) bad(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *type_name(json_type type)
{
	switch (type) {
	case json_type_boolean:	return "true or false";
	case json_type_int:	return "an integer";
	case json_type_string:	return "a string";
	case json_type_array:	return "an array";
	case json_type_object:	return "an object";
	default:		return json_type_to_name(type);
	}
}

static int member(struct parser *p, struct json_object *obj, const char *key, json_type type,
		  bool required, struct json_object **val)
{
	*val = NULL;
	if (!json_object_object_get_ex(obj, key, val)) {
		*val = NULL;
		return required ? bad(p, "no \"%s\"", key) : 0;
	}
	if (!json_object_is_type(*val, type))
		return bad(p, "\"%s\" is not %s", key, type_name(type));
	return 0;
}

static int get_u64(struct parser *p, struct json_object *obj, const char *key,
		   __u64 min, __u64 max, __u64 *out)
{
	struct json_object *v;
	int ret = member(p, obj, key, json_type_int, true, &v);

	if (ret)
		return ret;
	/* json-c keeps either an int64 or a uint64: a negative one is the former */
	if (json_object_get_int64(v) < 0)
		return bad(p, "\"%s\" is negative", key);
	*out = json_object_get_uint64(v);
	if (*out < min || *out > max)
		return bad(p, "\"%s\": %llu is not within %llu..%llu", key,
			   (unsigned long long)*out, (unsigned long long)min,
			   (unsigned long long)max);
	return 0;
}

static int get_u32(struct parser *p, struct json_object *obj, const char *key,
		   __u64 min, __u64 max, __u32 *out)
{
	__u64 v;
	int ret = get_u64(p, obj, key, min, max, &v);

	if (!ret)
		*out = v;
	return ret;
}

static int get_int(struct parser *p, struct json_object *obj, const char *key,
		   __u64 min, __u64 max, int *out)
{
	__u64 v;
	int ret = get_u64(p, obj, key, min, max, &v);

	if (!ret)
		*out = v;
	return ret;
}

static int get_bool(struct parser *p, struct json_object *obj, const char *key,
		    bool required, bool *out)
{
	struct json_object *v;
	int ret = member(p, obj, key, json_type_boolean, required, &v);

	*out = v ? json_object_get_boolean(v) : false;
	return ret;
}

/* a C string value: no NUL inside (\u0000 is valid JSON), shorter than len */
static int str_value(struct parser *p, struct json_object *v, const char *what,
		     char *out, size_t len, bool nonempty)
{
	const char *s = json_object_get_string(v);
	size_t n = json_object_get_string_len(v);

	if (strlen(s) != n)
		return bad(p, "%s holds a NUL character", what);
	if (n >= len)
		return bad(p, "%s is %zu bytes, more than the %zu this field holds", what, n, len - 1);
	if (nonempty && !n)
		return bad(p, "%s is empty", what);
	memcpy(out, s, n + 1);
	return 0;
}

static int get_str(struct parser *p, struct json_object *obj, const char *key,
		   char *out, size_t len, bool nonempty)
{
	struct json_object *v;
	char what[64];
	int ret = member(p, obj, key, json_type_string, true, &v);

	if (ret)
		return ret;
	snprintf(what, sizeof(what), "\"%s\"", key);
	return str_value(p, v, what, out, len, nonempty);
}

/* one of names[] (NULL-terminated): its index */
static int get_enum(struct parser *p, struct json_object *obj, const char *key,
		    const char *const *names, int *out)
{
	char s[32];
	int ret = get_str(p, obj, key, s, sizeof(s), true);

	if (ret)
		return ret;
	for (int i = 0; names[i]; i++) {
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	}
	return bad(p, "\"%s\": unknown value \"%s\"", key, s);
}

static int parse_id_map(struct parser *p, struct json_object *obj, const char *key,
			struct bublk_state_id *ids, int *nr)
{
	struct json_object *m;
	int ret = member(p, obj, key, json_type_object, true, &m);

	if (ret)
		return ret;
	json_object_object_foreach(m, name, v) {
		char what[64];

		if (*nr == BUBLK_STATE_MAX_IDS)
			return bad(p, "\"%s\": more than %d", key, BUBLK_STATE_MAX_IDS);
		if (strlen(name) >= BUBLK_STATE_NAME_LEN || !*name)
			return bad(p, "\"%s\": a name is empty or longer than %d bytes", key,
				   BUBLK_STATE_NAME_LEN - 1);
		snprintf(what, sizeof(what), "\"%s\"", key);
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
		    json_object_get_uint64(v) > UINT32_MAX)
			return bad(p, "%s: \"%s\" is not an object id", what, name);
		memcpy(ids[*nr].name, name, strlen(name) + 1);
		ids[*nr].id = json_object_get_uint64(v);
		(*nr)++;
	}
	return 0;
}

static int parse_bpf(struct parser *p, struct json_object *bpf, struct bublk_state *st)
{
	int ret = get_str(p, bpf, SK_PIN_DIR, st->pin_dir, sizeof(st->pin_dir), false);

	if (!ret)
		ret = parse_id_map(p, bpf, SK_PROGRAMS, st->progs, &st->nr_progs);
	if (!ret)
		ret = parse_id_map(p, bpf, SK_MAPS, st->maps, &st->nr_maps);
	return ret;
}

/* the writer's side of the loader's ids (ids_from_target): no error to report */
void bublk_state_parse_ids(const char *json, struct bublk_state *st)
{
	struct json_object *obj = json_tokener_parse(json);
	struct parser p = { NULL, 0 };

	if (obj && parse_bpf(&p, obj, st)) {
		st->pin_dir[0] = 0;
		st->nr_progs = st->nr_maps = 0;
	}
	json_object_put(obj);
}

static int parse_options(struct parser *p, struct json_object *o, const char *key,
			 struct bublk_state *st)
{
	struct json_object *arr;
	size_t total = 0;
	int ret = member(p, o, key, json_type_array, true, &arr);

	if (ret)
		return ret;
	if (json_object_array_length(arr) > BUBLK_STATE_MAX_OPTIONS)
		return bad(p, "\"%s\": more than %d", key, BUBLK_STATE_MAX_OPTIONS);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);
		char *opt = st->options[st->nr_options];

		if (!json_object_is_type(v, json_type_string))
			return bad(p, "\"%s\"[%zu] is not a string", key, i);
		ret = str_value(p, v, "an option", opt, BUBLK_STATE_OPTIONS_LEN, true);
		if (ret)
			return ret;
		/* the daemon keeps them joined by ';' (dev->config) */
		if (strchr(opt, ';') || !strchr(opt, '='))
			return bad(p, "\"%s\"[%zu]: \"%s\" is not one key=value", key, i, opt);
		total += strlen(opt) + 1;
		if (total > BUBLK_STATE_OPTIONS_LEN)
			return bad(p, "\"%s\": more than %d bytes", key, BUBLK_STATE_OPTIONS_LEN - 1);
		st->nr_options++;
	}
	return 0;
}

static int parse_backends(struct parser *p, struct json_object *o, const char *key,
			  struct bublk_state *st)
{
	struct json_object *arr;
	int ret = member(p, o, key, json_type_array, true, &arr);
	size_t n;

	if (ret)
		return ret;
	n = json_object_array_length(arr);
	if (n > BUBLK_MAX_BACKENDS)
		return bad(p, "\"%s\": %zu, more than %d", key, n, BUBLK_MAX_BACKENDS);
	for (size_t i = 0; i < n; i++) {
		struct json_object *b = json_object_array_get_idx(arr, i);
		struct bublk_state_backend *sb = &st->backends[i];
		bool base;

		if (!json_object_is_type(b, json_type_object))
			return bad(p, "\"%s\"[%zu] is not an object", key, i);
		ret = get_str(p, b, SK_PATH, sb->path, sizeof(sb->path), true);
		if (!ret)
			ret = get_u64(p, b, SK_SIZE, 0, UINT64_MAX, &sb->size);
		if (!ret)
			ret = get_bool(p, b, SK_BASE, true, &base);
		if (ret)
			return ret;
		/* a base image is the last backend (dev_prepare) */
		if (base && i != n - 1)
			return bad(p, "\"%s\"[%zu]: only the last backend can be the base image", key, i);
		st->has_base = base;
		st->nr_backends++;
	}
	return 0;
}

/* one flat field of the table, and the checks that come with it */
static int parse_field(struct parser *p, struct json_object *o, const struct bublk_state_field *f,
		       struct bublk_state *st)
{
	char *at = (char *)st + f->off;
	struct json_object *v;
	__u64 min = f->min;
	int ret = 0, idx = 0;

	if ((f->flags & SF_OPTIONAL) && !json_object_object_get_ex(o, f->key, NULL))
		return 0;
	switch (f->type) {
	case SF_U64:
		if ((f->flags & SF_CREATING_0) && st->creating)
			min = 0;
		ret = get_u64(p, o, f->key, min, f->max, (__u64 *)at);
		break;
	case SF_U32:
		ret = get_u32(p, o, f->key, min, f->max, (__u32 *)at);
		break;
	case SF_INT:
		ret = get_int(p, o, f->key, min, f->max, (int *)at);
		break;
	case SF_BOOL:
		ret = get_bool(p, o, f->key, true, (bool *)at);
		break;
	case SF_STR:
		ret = get_str(p, o, f->key, at, f->size, true);
		break;
	case SF_ENUM:
		ret = get_enum(p, o, f->key, f->names, &idx);
		if (ret)
			break;
		if (f->size == sizeof(bool))
			*(bool *)at = f->min + idx;
		else
			*(int *)at = f->min + idx;
		break;
	case SF_SCHEMA: {
		__u64 schema;

		ret = get_u64(p, o, f->key, 0, UINT64_MAX, &schema);
		if (!ret && schema != BUBLK_STATE_SCHEMA)
			ret = bad(p, "schema %llu, this bublk reads schema %d: written by another version of bublk",
				  (unsigned long long)schema, BUBLK_STATE_SCHEMA);
		break;
	}
	case SF_DEVNODE:
		break;		/* derived from dev_id */
	case SF_OPTIONS:
		ret = parse_options(p, o, f->key, st);
		break;
	case SF_BACKENDS:
		ret = parse_backends(p, o, f->key, st);
		break;
	case SF_BPF:
		ret = member(p, o, f->key, json_type_object, true, &v);
		if (!ret)
			ret = parse_bpf(p, v, st);
		break;
	}
	if (ret)
		return ret;
	switch (f->check) {
	case SF_CHECK_NONE:
		break;
	case SF_CHECK_BLOCK_SIZE:
		if (st->block_size != 512 && st->block_size != 4096)
			return bad(p, "\"%s\": %u, not 512 or 4096", f->key, st->block_size);
		break;
	case SF_CHECK_BLOCKS:
		if (*(__u64 *)at % st->block_size)
			return bad(p, "\"%s\": %llu is not a multiple of the block size %u", f->key,
				   (unsigned long long)*(__u64 *)at, st->block_size);
		break;
	case SF_CHECK_PAGES:
		if (*(__u32 *)at % BUBLK_PAGE_SIZE)
			return bad(p, "\"%s\": %u is not a multiple of %d", f->key, *(__u32 *)at,
				   BUBLK_PAGE_SIZE);
		break;
	}
	return 0;
}

static int parse_object(struct parser *p, struct json_object *o, struct bublk_state *st)
{
	int ret;

	if (!json_object_is_type(o, json_type_object))
		return bad(p, "not a JSON object");
	/* the schema first (nothing else means anything under another), then "state" */
	for (size_t i = 0; i < bublk_state_nr_fields; i++)
		if ((bublk_state_fields[i].flags & SF_HEADER) &&
		    (ret = parse_field(p, o, &bublk_state_fields[i], st)))
			return ret;
	for (size_t i = 0; i < bublk_state_nr_fields; i++) {
		const struct bublk_state_field *f = &bublk_state_fields[i];

		if ((f->flags & SF_HEADER) || ((f->flags & SF_SHMEM) && !st->shmem_zc))
			continue;
		/* "size" is checked against "block_size", written after it */
		if ((f->flags & SF_AFTER_NEXT) && i + 1 < bublk_state_nr_fields &&
		    (ret = parse_field(p, o, &bublk_state_fields[++i], st)))
			return ret;
		ret = parse_field(p, o, f, st);
		if (ret)
			return ret;
	}
	return 0;
}

int bublk_state_parse(const char *buf, size_t len, struct bublk_state *st,
		      char *err, size_t errlen)
{
	struct parser p = { err, errlen };
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error jerr;
	size_t end;
	int ret;

	memset(st, 0, sizeof(*st));
	if (errlen)
		err[0] = 0;
	if (len > BUBLK_STATE_MAX_BYTES)
		return bad(&p, "%zu bytes, more than the %d limit", len, BUBLK_STATE_MAX_BYTES);
	/* json-c takes an int length; also refuse a NUL outside the JSON text */
	if (memchr(buf, 0, len))
		return bad(&p, "a NUL byte in the file");
	tok = json_tokener_new_ex(16);	/* bublk nests 3 deep */
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o || jerr != json_tokener_success) {
		json_object_put(o);
		if (jerr == json_tokener_continue)
			return bad(&p, "truncated JSON (%zu bytes)", len);
		return bad(&p, "not JSON: %s at byte %zu", json_tokener_error_desc(jerr), end);
	}
	for (; end < len; end++) {
		if (!strchr(" \t\r\n", buf[end])) {
			json_object_put(o);
			return bad(&p, "junk after the JSON object at byte %zu", end);
		}
	}
	ret = parse_object(&p, o, st);
	json_object_put(o);
	if (ret)
		memset(st, 0, sizeof(*st));	/* nothing half-parsed leaks out */
	return ret;
}


// SPDX-License-Identifier: MIT
/*
 * The state file's one schema, both ways, with json-c. The writer and the
 * parser below name the same keys in the same order; the parser checks
 * every value against the limits "bublk add" itself enforces, so what it
 * accepts can be served (bublk recover) and printed (bublk list) as is.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>

#include "dev.h"
#include "state.h"

#define FORMAT_FLAGS	(JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

void bublk_state_path(char *out, size_t len, unsigned int dev_id, const char *ext)
{
	snprintf(out, len, "%s/%u.%s", BUBLK_RUN_DIR, dev_id, ext);
}

/* --- struct bublk_dev -> struct bublk_state ------------------------------ */

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

static void parse_ids(struct json_object *obj, struct bublk_state *st);

/*
 * The target's pin directory and object ids, as the loader reports them
 * (bublk_target_print_ids, also what "bublk inspect" users know).
 */
static void ids_from_target(struct bublk_target *t, struct bublk_state *st)
{
	struct json_object *obj;
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
	obj = json_tokener_parse(buf);
	if (obj)
		parse_ids(obj, st);
	json_object_put(obj);
	free(buf);
}

const char *bublk_data_mode_name(int data_mode)
{
	switch (data_mode) {
	case BUBLK_MODE_USER_COPY:
		return "user_copy";
	case BUBLK_MODE_ZERO_COPY:
		return "zero_copy";
	default:
		return "copy";
	}
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
			dev->info.flags & UBLK_F_USER_COPY ? BUBLK_MODE_USER_COPY : BUBLK_MODE_COPY;
	st->flags = dev->info.flags;
	st->legacy = dev->ctrl.legacy;
	st->recovery = dev->info.flags & UBLK_F_USER_RECOVERY;
	st->dispatch_c = dev->cmap.map != NULL;
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

/* --- struct bublk_state -> JSON ------------------------------------------ */

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

static int format_into(struct json_object *o, const struct bublk_state *st)
{
	struct json_object *arr, *bpf;
	char path[64];
	int ret = 0;

	/*
	 * The order is the file's documentation: identity, shape, modes,
	 * then the nested parts (tests grep the flat part of the line).
	 */
	ret |= add_u64(o, "dev_id", st->dev_id);
	ret |= add_u64(o, "pid", st->pid);
	ret |= add_u64(o, "schema", BUBLK_STATE_SCHEMA);
	ret |= add_str(o, "state", st->creating ? "creating" : "live");
	snprintf(path, sizeof(path), "/dev/ublkb%u", st->dev_id);
	ret |= add_str(o, "block", path);
	snprintf(path, sizeof(path), "/dev/ublkc%u", st->dev_id);
	ret |= add_str(o, "char", path);
	ret |= add_str(o, "target", st->target);
	ret |= add_str(o, "object", st->object);
	ret |= add_u64(o, "size", st->size);
	ret |= add_u64(o, "block_size", st->block_size);
	ret |= add_bool(o, "rotational", st->rotational);
	ret |= add_bool(o, "readonly", st->readonly);
	ret |= add_u64(o, "queues", st->nr_queues);
	ret |= add_u64(o, "depth", st->depth);
	ret |= add_u64(o, "max_io_bytes", st->max_io_bytes);
	ret |= add_str(o, "data_mode", bublk_data_mode_name(st->data_mode));
	ret |= add_u64(o, "flags", st->flags);
	ret |= add_bool(o, "legacy_opcodes", st->legacy);
	ret |= add_bool(o, "recovery", st->recovery);
	ret |= add_str(o, "dispatch", st->dispatch_c ? "c" : "bpf");
	ret |= add_bool(o, "shmem_zc", st->shmem_zc);
	if (st->shmem_zc) {
		ret |= add_str(o, "shmem_socket", st->shmem_socket);
		ret |= add_bool(o, "shmem_sg_hook", st->shmem_sg_hook);
	}
	if (ret)
		return -ENOMEM;

	arr = json_object_new_array();
	if (add(o, "options", arr))
		return -ENOMEM;
	for (int i = 0; i < st->nr_options; i++)
		if (json_object_array_add(arr, json_object_new_string(st->options[i])))
			return -ENOMEM;

	arr = json_object_new_array();
	if (add(o, "backends", arr))
		return -ENOMEM;
	for (int i = 0; i < st->nr_backends; i++) {
		struct json_object *b = json_object_new_object();

		if (!b || json_object_array_add(arr, b)) {
			json_object_put(b);
			return -ENOMEM;
		}
		ret |= add_str(b, "path", st->backends[i].path);
		ret |= add_u64(b, "size", st->backends[i].size);
		ret |= add_bool(b, "base", st->has_base && i == st->nr_backends - 1);
		if (ret)
			return -ENOMEM;
	}

	bpf = json_object_new_object();
	if (add(o, "bpf", bpf))
		return -ENOMEM;
	ret |= add_str(bpf, "pin_dir", st->pin_dir);
	ret |= add(bpf, "programs", ids_object(st->progs, st->nr_progs));
	ret |= add(bpf, "maps", ids_object(st->maps, st->nr_maps));
	return ret ? -ENOMEM : 0;
}

char *bublk_state_format(const struct bublk_state *st, int alive)
{
	struct json_object *o = json_object_new_object();
	char *s = NULL;

	if (o && !format_into(o, st) && (alive < 0 || !add_bool(o, "alive", alive > 0)))
		s = strdup(json_object_to_json_string_ext(o, FORMAT_FLAGS));
	json_object_put(o);
	return s;
}

/* --- JSON -> struct bublk_state ------------------------------------------ */

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
	int ret = get_str(p, bpf, "pin_dir", st->pin_dir, sizeof(st->pin_dir), false);

	if (!ret)
		ret = parse_id_map(p, bpf, "programs", st->progs, &st->nr_progs);
	if (!ret)
		ret = parse_id_map(p, bpf, "maps", st->maps, &st->nr_maps);
	return ret;
}

/* the writer's side of the loader's ids (ids_from_target): no error to report */
static void parse_ids(struct json_object *obj, struct bublk_state *st)
{
	struct parser p = { NULL, 0 };

	if (parse_bpf(&p, obj, st)) {
		st->pin_dir[0] = 0;
		st->nr_progs = st->nr_maps = 0;
	}
}

static int parse_options(struct parser *p, struct json_object *o, struct bublk_state *st)
{
	struct json_object *arr;
	size_t total = 0;
	int ret = member(p, o, "options", json_type_array, true, &arr);

	if (ret)
		return ret;
	if (json_object_array_length(arr) > BUBLK_STATE_MAX_OPTIONS)
		return bad(p, "\"options\": more than %d", BUBLK_STATE_MAX_OPTIONS);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);
		char *opt = st->options[st->nr_options];

		if (!json_object_is_type(v, json_type_string))
			return bad(p, "\"options\"[%zu] is not a string", i);
		ret = str_value(p, v, "an option", opt, BUBLK_STATE_OPTIONS_LEN, true);
		if (ret)
			return ret;
		/* the daemon keeps them joined by ';' (dev->config) */
		if (strchr(opt, ';') || !strchr(opt, '='))
			return bad(p, "\"options\"[%zu]: \"%s\" is not one key=value", i, opt);
		total += strlen(opt) + 1;
		if (total > BUBLK_STATE_OPTIONS_LEN)
			return bad(p, "\"options\": more than %d bytes", BUBLK_STATE_OPTIONS_LEN - 1);
		st->nr_options++;
	}
	return 0;
}

static int parse_backends(struct parser *p, struct json_object *o, struct bublk_state *st)
{
	struct json_object *arr;
	int ret = member(p, o, "backends", json_type_array, true, &arr);
	size_t n;

	if (ret)
		return ret;
	n = json_object_array_length(arr);
	if (n > BUBLK_MAX_BACKENDS)
		return bad(p, "\"backends\": %zu, more than %d", n, BUBLK_MAX_BACKENDS);
	for (size_t i = 0; i < n; i++) {
		struct json_object *b = json_object_array_get_idx(arr, i);
		struct bublk_state_backend *sb = &st->backends[i];
		bool base;

		if (!json_object_is_type(b, json_type_object))
			return bad(p, "\"backends\"[%zu] is not an object", i);
		ret = get_str(p, b, "path", sb->path, sizeof(sb->path), true);
		if (!ret)
			ret = get_u64(p, b, "size", 0, UINT64_MAX, &sb->size);
		if (!ret)
			ret = get_bool(p, b, "base", true, &base);
		if (ret)
			return ret;
		/* a base image is the last backend (dev_prepare) */
		if (base && i != n - 1)
			return bad(p, "\"backends\"[%zu]: only the last backend can be the base image", i);
		st->has_base = base;
		st->nr_backends++;
	}
	return 0;
}

static int parse_object(struct parser *p, struct json_object *o, struct bublk_state *st)
{
	/* in the order of enum bublk_data_mode from BUBLK_MODE_COPY */
	static const char *const modes[] = { "copy", "user_copy", "zero_copy", NULL };
	static const char *const dispatch[] = { "bpf", "c", NULL };
	static const char *const states[] = { "live", "creating", NULL };
	struct json_object *bpf, *v;
	__u64 schema;
	int ret, mode = 0, disp = 0, state = 0;

	if (!json_object_is_type(o, json_type_object))
		return bad(p, "not a JSON object");
	ret = get_u64(p, o, "schema", 0, UINT64_MAX, &schema);
	if (ret)
		return ret;
	if (schema != BUBLK_STATE_SCHEMA)
		return bad(p, "schema %llu, this bublk reads schema %d: written by another version of bublk",
			   (unsigned long long)schema, BUBLK_STATE_SCHEMA);
	/* files written before "state" existed are all of live devices */
	if ((ret = member(p, o, "state", json_type_string, false, &v)) ||
	    (v && (ret = get_enum(p, o, "state", states, &state))))
		return ret;
	st->creating = state == 1;
	if ((ret = get_u32(p, o, "dev_id", 0, INT_MAX, &st->dev_id)) ||
	    (ret = get_int(p, o, "pid", 0, INT_MAX, &st->pid)) ||
	    (ret = get_str(p, o, "target", st->target, sizeof(st->target), true)) ||
	    (ret = get_str(p, o, "object", st->object, sizeof(st->object), true)) ||
	    (ret = get_u32(p, o, "block_size", 512, 4096, &st->block_size)))
		return ret;
	if (st->block_size != 512 && st->block_size != 4096)
		return bad(p, "\"block_size\": %u, not 512 or 4096", st->block_size);
	/* a device being created may not know its size yet (the target chooses it) */
	if ((ret = get_u64(p, o, "size", st->creating ? 0 : 1, UINT64_MAX, &st->size)))
		return ret;
	if (st->size % st->block_size)
		return bad(p, "\"size\": %llu is not a multiple of the block size %u",
			   (unsigned long long)st->size, st->block_size);
	/* the limits "bublk add" enforces (add_parse, check_opts) */
	if ((ret = get_bool(p, o, "rotational", true, &st->rotational)) ||
	    (ret = get_bool(p, o, "readonly", true, &st->readonly)) ||
	    (ret = get_int(p, o, "queues", 1, BUBLK_MAX_QUEUES, &st->nr_queues)) ||
	    (ret = get_int(p, o, "depth", 1, UBLK_MAX_QUEUE_DEPTH, &st->depth)) ||
	    (ret = get_u32(p, o, "max_io_bytes", BUBLK_PAGE_SIZE, 1U << UBLK_IO_BUF_BITS,
			   &st->max_io_bytes)))
		return ret;
	if (st->max_io_bytes % BUBLK_PAGE_SIZE)
		return bad(p, "\"max_io_bytes\": %u is not a multiple of %d", st->max_io_bytes,
			   BUBLK_PAGE_SIZE);
	if ((ret = get_enum(p, o, "data_mode", modes, &mode)) ||
	    (ret = get_u64(p, o, "flags", 0, UINT64_MAX, &st->flags)) ||
	    (ret = get_bool(p, o, "legacy_opcodes", true, &st->legacy)) ||
	    (ret = get_bool(p, o, "recovery", true, &st->recovery)) ||
	    (ret = get_enum(p, o, "dispatch", dispatch, &disp)) ||
	    (ret = get_bool(p, o, "shmem_zc", true, &st->shmem_zc)))
		return ret;
	st->data_mode = BUBLK_MODE_COPY + mode;
	st->dispatch_c = disp == 1;
	if (st->shmem_zc &&
	    ((ret = get_str(p, o, "shmem_socket", st->shmem_socket, sizeof(st->shmem_socket), true)) ||
	     (ret = get_bool(p, o, "shmem_sg_hook", true, &st->shmem_sg_hook))))
		return ret;
	if ((ret = parse_options(p, o, st)) || (ret = parse_backends(p, o, st)))
		return ret;
	ret = member(p, o, "bpf", json_type_object, true, &bpf);
	return ret ? ret : parse_bpf(p, bpf, st);
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
	for (int i = 0; i < st->nr_options; i++)
		o->config[o->nr_config++] = st->options[i];
}

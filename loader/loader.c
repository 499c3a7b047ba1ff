// SPDX-License-Identifier: MIT
/*
 * Target loading with Debian's libbpf 1.1: the arena gets its user address
 * (map_extra) and size before load, is mmapped at exactly that address so
 * BPF and C see the same pointers, and is populated from userspace so BPF
 * stores never hit an unallocated page.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "util.h"


/*
 * Where the arena lives in the daemon. AddressSanitizer's shadow memory
 * covers [0x02008fff7000, 0x10007fff7fff] on x86-64, and BUBLK_ARENA_ADDR
 * (1 << 44) lies inside it: a sanitized build (make SAN=1) maps the arena
 * just above, in ASan's high memory. Targets never see the number (they
 * get arena addresses through struct bublk_batch), so both work alike.
 */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ADDR	(1ULL << 45)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ADDR	(1ULL << 45)
#endif
#endif
#ifndef ARENA_ADDR
#define ARENA_ADDR	BUBLK_ARENA_ADDR
#endif

static void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* libbpf's own messages: warnings only (verifier logs land here) */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || (level == LIBBPF_INFO && !getenv("BUBLK_BPF_VERBOSE")))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/*
 * The internal map of a global data section (".rodata", ".bss"): libbpf
 * names it "<object prefix><section>". String literals get sections of
 * their own (".rodata.str1.1"), hence the exact suffix.
 */
static struct bpf_map *datasec_map(struct bpf_object *obj, const char *sec)
{
	size_t sl = strlen(sec);
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		size_t nl = strlen(name);

		if (bpf_map__is_internal(map) && nl >= sl && !strcmp(name + nl - sl, sec))
			return map;
	}
	return NULL;
}

/* where var lies in section sec: offset and size, from the object's BTF */
static int datasec_find(struct bpf_object *obj, const char *sec_name, const char *var,
			__u32 *off, __u32 *size)
{
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vsi;
	const struct btf_type *sec;
	int id;

	if (!btf)
		return -ENOENT;
	id = btf__find_by_name_kind(btf, sec_name, BTF_KIND_DATASEC);
	if (id < 0)
		return -ENOENT;
	sec = btf__type_by_id(btf, id);
	vsi = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vsi++) {
		const struct btf_type *v = btf__type_by_id(btf, vsi->type);

		if (!strcmp(btf__name_by_offset(btf, v->name_off), var)) {
			*off = vsi->offset;
			*size = vsi->size;
			return 0;
		}
	}
	return -ENOENT;
}

/* value of a read-only global (.rodata) the object was compiled with */
const void *bublk_rodata_var(struct bpf_object *obj, const char *var, size_t *size)
{
	struct bpf_map *rodata = datasec_map(obj, ".rodata");
	const char *data;
	size_t data_sz;
	__u32 off, sz;

	if (!rodata || datasec_find(obj, ".rodata", var, &off, &sz))
		return NULL;
	data = bpf_map__initial_value(rodata, &data_sz);
	if (!data || off + sz > data_sz)
		return NULL;
	*size = sz;
	return data + off;
}

int bublk_target_reason(struct bublk_target *t, char *out, size_t outlen)
{
	struct bpf_map *bss = t->obj ? datasec_map(t->obj, ".bss") : NULL;
	__u32 off, sz, zero = 0;
	char *val;
	int ret = -ENOENT;

	if (outlen)
		out[0] = 0;
	if (!bss || bpf_map__fd(bss) < 0 ||
	    datasec_find(t->obj, ".bss", "bublk_reason", &off, &sz) ||
	    off + sz > bpf_map__value_size(bss) || !outlen)
		return -ENOENT;
	val = calloc(1, bpf_map__value_size(bss));
	if (!val)
		return -ENOMEM;
	if (!bpf_map_lookup_elem(bpf_map__fd(bss), &zero, val) && val[off]) {
		snprintf(out, outlen, "%.*s", (int)strnlen(val + off, sz), val + off);
		ret = 0;
	}
	free(val);
	return ret;
}

/*
 * The hooks a target declares (BUBLK_TARGET, BUBLK_INIT, ... in bublk.bpf.h),
 * each a SEC("syscall") program under the one name its macro gives it.
 */
static const struct {
	const char	*prog;
	size_t		off;		/* of its struct bpf_program * in struct bublk_target */
	const char	*macro;
} hooks[] = {
	{ "bublk_dispatch",	offsetof(struct bublk_target, dispatch),	"BUBLK_TARGET" },
	{ "bublk_done",		offsetof(struct bublk_target, done),		"BUBLK_DONE" },
	{ "bublk_init",		offsetof(struct bublk_target, init),		"BUBLK_INIT" },
	{ "bublk_load",		offsetof(struct bublk_target, load),		"BUBLK_LOAD" },
	{ "bublk_resize",	offsetof(struct bublk_target, resize),		"BUBLK_RESIZE" },
};

static int find_hooks(struct bublk_target *t, char *err, size_t errlen)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, t->obj) {
		const char *name = bpf_program__name(p);
		size_t i;

		/*
		 * bublk's own loop_step (engine.bpf.h, in NAME.kern.o): only
		 * runtime/lib/engine.c turns its loading on. No other program
		 * may be in that section: it alone may submit SQEs.
		 */
		if (!strcmp(bpf_program__section_name(p), "bublk_engine")) {
			if (strcmp(name, "bublk_engine_step") || t->engine) {
				set_err(err, errlen, "%s: program \"%s\" in section bublk_engine: only BUBLK_TARGET() may put bublk's engine there",
					t->path, name);
				return -EINVAL;
			}
			t->engine = p;
			bpf_program__set_autoload(p, false);
			continue;
		}
		for (i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++)
			if (!strcmp(name, hooks[i].prog))
				break;
		if (i == sizeof(hooks) / sizeof(hooks[0])) {
			/* a misspelt hook would otherwise never run */
			if (!strncmp(name, "bublk_", 6)) {
				set_err(err, errlen, "%s: program \"%s\" is no bublk hook: declare hooks with BUBLK_INIT(), BUBLK_DONE(), BUBLK_LOAD(), BUBLK_RESIZE() (bublk.bpf.h)",
					t->path, name);
				return -EINVAL;
			}
			continue;
		}
		if (bpf_program__type(p) != BPF_PROG_TYPE_SYSCALL) {
			set_err(err, errlen, "%s: program \"%s\" must be SEC(\"syscall\"): declare it with %s() (bublk.bpf.h)",
				t->path, name, hooks[i].macro);
			return -EINVAL;
		}
		*(struct bpf_program **)((char *)t + hooks[i].off) = p;
	}
	if (!t->dispatch) {
		set_err(err, errlen, "%s: no \"bublk_dispatch\" program: declare the target with BUBLK_TARGET() (bublk.bpf.h)",
			t->path);
		return -EINVAL;
	}
	return 0;
}

/*
 * Only bublk's engine submits SQEs. A target object built without it
 * (NAME.bpf.o) that declares io_uring's BPF kfuncs means to call them from
 * its own code, which would run inside the engine in its NAME.kern.o twin:
 * refused here, before either object is loaded.
 */
static int refuse_io_uring_kfuncs(const struct bublk_target *t, char *err, size_t errlen)
{
	const struct btf *btf = bpf_object__btf(t->obj);

	if (!btf || t->engine)
		return 0;
	for (__u32 id = 1; id < btf__type_cnt(btf); id++) {
		const struct btf_type *bt = btf__type_by_id(btf, id);
		const char *name;

		/* by name, any linkage: libbpf rewrites an extern kfunc's FUNC when it opens the object */
		if (!btf_is_func(bt))
			continue;
		name = btf__name_by_offset(btf, bt->name_off);
		if (name && !strncmp(name, "bpf_io_uring_", 13)) {
			set_err(err, errlen, "%s: the target calls io_uring's kfunc %s: only bublk's engine may submit I/O (answer with segments, bublk.bpf.h)",
				t->path, name);
			return -EPERM;
		}
	}
	return 0;
}

int bublk_target_open(struct bublk_target *t, const char *path, char *err, size_t errlen)
{
	struct stat st;
	const void *v;
	size_t sz;
	__u32 abi;
	int ret;

	memset(t, 0, sizeof(*t));
	t->dispatch_fd = -1;
	t->done_fd = -1;
	libbpf_set_print(libbpf_print);
	snprintf(t->path, sizeof(t->path), "%s", path);
	/* a directory or a device would get libelf's riddles; a FIFO would block */
	if (stat(path, &st)) {
		ret = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, "%s: %s: give a target's .bpf.o file", path,
			S_ISDIR(st.st_mode) ? "a directory, not a target object" : "not a regular file");
		return -EINVAL;
	}
	/* a kern object's engine section must be known to libbpf before it opens */
	bublk_engine_kernel_ops();
	t->obj = bpf_object__open_file(path, NULL);
	ret = libbpf_get_error(t->obj);
	if (ret) {
		char why[128];

		t->obj = NULL;
		/* libbpf's own codes (-4000: "Something wrong with libelf", ...) */
		libbpf_strerror(ret, why, sizeof(why));
		set_err(err, errlen, "%s: not a loadable BPF object: %s (give a target's .bpf.o, built with clang -target bpf)",
			path, why);
		return ret;
	}
	v = bublk_rodata_var(t->obj, "bublk_abi_version", &sz);
	if (!v || sz != sizeof(abi)) {
		set_err(err, errlen, "%s: no bublk_abi_version: not a bublk target (use BUBLK_TARGET() from bublk.bpf.h)",
			path);
		ret = -EINVAL;
		goto fail;
	}
	memcpy(&abi, v, sizeof(abi));
	if (abi != BUBLK_ABI_VERSION) {
		set_err(err, errlen, "%s: built for bublk ABI %u, this bublk speaks ABI %u: rebuild the target against this bublk's bublk.bpf.h",
			path, abi, BUBLK_ABI_VERSION);
		ret = -EPROTO;
		goto fail;
	}
	v = bublk_rodata_var(t->obj, "bublk_target_name", &sz);
	if (v && sz)
		snprintf(t->name, sizeof(t->name), "%.*s", (int)min(sz, sizeof(t->name) - 1),
			 (const char *)v);
	t->arena_map = bpf_object__find_map_by_name(t->obj, "bublk_arena");
	t->dev_map = bpf_object__find_map_by_name(t->obj, "bublk_dev");
	if (!t->arena_map || bpf_map__type(t->arena_map) != (enum bpf_map_type)BPF_MAP_TYPE_ARENA) {
		set_err(err, errlen, "%s: missing arena map \"bublk_arena\"", path);
		ret = -EINVAL;
		goto fail;
	}
	if (!t->dev_map) {
		set_err(err, errlen, "%s: missing map \"bublk_dev\"", path);
		ret = -EINVAL;
		goto fail;
	}
	ret = find_hooks(t, err, errlen);
	if (!ret)
		ret = refuse_io_uring_kfuncs(t, err, errlen);
	if (ret)
		goto fail;
	ret = bublk_pin_claim_state(t, err, errlen);
	if (ret)
		goto fail;
	return 0;
fail:
	bpf_object__close(t->obj);
	t->obj = NULL;
	return ret;
}

/* an mmapable array map's values, as one writable mapping */
static void *map_values(struct bpf_object *obj, const char *name, size_t value_size,
			size_t *bytes, char *err, size_t errlen)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	size_t len;
	void *p;

	if (!m || bpf_map__value_size(m) != value_size ||
	    !(bpf_map__map_flags(m) & BPF_F_MMAPABLE)) {
		set_err(err, errlen, "map %s is missing or not the one bublk.bpf.h declares: rebuild the target against this bublk",
			name);
		return NULL;
	}
	len = (size_t)bpf_map__max_entries(m) * ALIGN_UP(value_size, 8);
	len = PAGE_ALIGN(len);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);
	if (p == MAP_FAILED) {
		set_err(err, errlen, "mmap of map %s: %s", name, strerror(errno));
		return NULL;
	}
	*bytes = len;
	return p;
}

static int map_runtime_maps(struct bublk_target *t, char *err, size_t errlen)
{
	t->stats = map_values(t->obj, "bublk_stats", sizeof(struct bublk_stats), &t->stats_bytes,
			      err, errlen);
	if (!t->stats)
		return -EINVAL;
	t->trace = map_values(t->obj, "bublk_trace", sizeof(struct bublk_trace_rec),
			      &t->trace_bytes, err, errlen);
	return t->trace ? 0 : -EINVAL;
}

int bublk_target_load(struct bublk_target *t, size_t arena_bytes,
		      const struct bublk_dev_info *dev, const char *const *config, int nr_config,
		      char *err, size_t errlen)
{
	size_t pages = (arena_bytes + BUBLK_PAGE_SIZE - 1) / BUBLK_PAGE_SIZE;
	__u32 zero = 0;
	void *p;
	int ret;

	if (!pages || pages > (1ULL << 32) / BUBLK_PAGE_SIZE) {
		set_err(err, errlen, "arena of %zu bytes is out of range (max 4 GiB)", arena_bytes);
		return -E2BIG;
	}
	t->arena_bytes = pages * BUBLK_PAGE_SIZE;
	bpf_map__set_map_extra(t->arena_map, ARENA_ADDR);
	bpf_map__set_max_entries(t->arena_map, pages);
	ret = bpf_object__load(t->obj);
	if (ret) {
		int arena = bublk_arena_probe();

		if (arena)
			set_err(err, errlen, "%s: this kernel refuses BPF arena maps (%s), which every bublk target keeps its requests in: it needs Linux 6.9+ with BPF_MAP_TYPE_ARENA allowed for root",
				t->path, strerror(-arena));
		else
			set_err(err, errlen, "%s: the kernel refused the target: %s (the verifier log is above; BUBLK_BPF_VERBOSE=1 shows more)",
				t->path, strerror(-ret));
		return ret;
	}
	p = mmap((void *)ARENA_ADDR, t->arena_bytes, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED_NOREPLACE, bpf_map__fd(t->arena_map), 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		set_err(err, errlen, "mmap of the BPF arena at 0x%llx: %s",
			(unsigned long long)ARENA_ADDR, strerror(errno));
		return ret;
	}
	t->arena = p;
	/* touching every page allocates it for both sides */
	memset(p, 0, t->arena_bytes);

	ret = map_runtime_maps(t, err, errlen);
	if (ret)
		return ret;

	if (bpf_map_update_elem(bpf_map__fd(t->dev_map), &zero, dev, 0)) {
		ret = -errno;
		set_err(err, errlen, "writing map bublk_dev: %s", strerror(errno));
		return ret;
	}
	ret = bublk_target_configure(t, config, nr_config, err, errlen);
	if (ret)
		return ret;
	t->dispatch_fd = bpf_program__fd(t->dispatch);
	t->done_fd = t->done ? bpf_program__fd(t->done) : -1;
	if (t->init) {
		int retval = 0;

		ret = bublk_prog_run(bpf_program__fd(t->init), NULL, 0, &retval);
		if (ret) {
			set_err(err, errlen, "running bublk_init: %s", strerror(-ret));
			return ret;
		}
		if (retval) {
			bublk_target_refusal(t, "refused the device", retval, err, errlen);
			return retval < 0 ? retval : -EINVAL;
		}
	}
	return bublk_pin_all(t, err, errlen);
}

void bublk_target_refusal(struct bublk_target *t, const char *what, int retval, char *err,
			  size_t errlen)
{
	char why[BUBLK_REASON_LEN];
	int r = retval < 0 ? -retval : retval;

	/* the target's own words (bublk_refuse), else only the errno */
	if (!bublk_target_reason(t, why, sizeof(why)))
		set_err(err, errlen, "target %s %s: %s (%s)", t->name, what, why, strerror(r));
	else
		set_err(err, errlen, "target %s %s: %s", t->name, what, strerror(r));
}

int bublk_target_read_dev(struct bublk_target *t, struct bublk_dev_info *dev)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(bpf_map__fd(t->dev_map), &zero, dev) ? -errno : 0;
}

int bublk_prog_run(int prog_fd, void *ctx, __u32 ctx_size, int *retval)
{
	/* a syscall program's context is copied back into ctx_in */
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = ctx, .ctx_size_in = ctx_size);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	*retval = (int)opts.retval;
	return 0;
}

static int run_batch(int prog_fd, struct bublk_batch *batch)
{
	int retval = 0, ret = bublk_prog_run(prog_fd, batch, sizeof(*batch), &retval);

	return ret ? ret : retval;
}

int bublk_target_dispatch(struct bublk_target *t, struct bublk_batch *batch)
{
	return run_batch(t->dispatch_fd, batch);
}

int bublk_target_done(struct bublk_target *t, struct bublk_batch *batch)
{
	return t->done_fd >= 0 ? run_batch(t->done_fd, batch) : -ENOENT;
}

void bublk_target_close(struct bublk_target *t)
{
	if (t->arena)
		munmap(t->arena, t->arena_bytes);
	if (t->stats)
		munmap(t->stats, t->stats_bytes);
	if (t->trace)
		munmap(t->trace, t->trace_bytes);
	t->stats = NULL;
	t->trace = NULL;
	if (t->obj)
		bpf_object__close(t->obj);
	t->arena = NULL;
	t->obj = NULL;
	t->dispatch_fd = -1;
	t->done_fd = -1;
}

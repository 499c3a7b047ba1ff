/* SPDX-License-Identifier: MIT */
/*
 * The state file's schema, private to state*.c: one table of its keys, in
 * the file's order, that the writer (state_json.c) and the parser
 * (state_parse.c) both walk. A key is named here and nowhere else.
 */
#ifndef BUBLK_STATE_SCHEMA_H
#define BUBLK_STATE_SCHEMA_H

#include <stddef.h>
#include "state.h"

enum bublk_state_type {
	SF_U64,		/* __u64 field, within min..max */
	SF_U32,		/* __u32 field, within min..max */
	SF_INT,		/* int field, within min..max */
	SF_BOOL,	/* bool field: true or false */
	SF_STR,		/* char[] field, not empty */
	SF_ENUM,	/* one of names[]: index + min in an int or bool field */
	SF_SCHEMA,	/* BUBLK_STATE_SCHEMA; read first, any other refused */
	SF_DEVNODE,	/* fmt with dev_id: written for people and tests, not read */
	SF_OPTIONS,	/* ["key=value", ...] */
	SF_BACKENDS,	/* [{ "path", "size", "base" }, ...] */
	SF_BPF,		/* { "pin_dir", "programs": { name: id }, "maps": { name: id } } */
};

enum {
	SF_HEADER	= 1 << 0,	/* read before the others */
	SF_OPTIONAL	= 1 << 1,	/* absent when read: 0 (older files) */
	SF_SHMEM	= 1 << 2,	/* only with "shmem_zc": true */
	SF_CREATING_0	= 1 << 3,	/* may be 0 while "state" is "creating" */
	SF_AFTER_NEXT	= 1 << 4,	/* read after the next key, which its check needs */
};

/* what the parser checks once the field is read */
enum bublk_state_check {
	SF_CHECK_NONE,
	SF_CHECK_BLOCK_SIZE,	/* 512 or 4096 */
	SF_CHECK_BLOCKS,	/* a multiple of "block_size" */
	SF_CHECK_PAGES,		/* a multiple of BUBLK_PAGE_SIZE */
};

struct bublk_state_field {
	const char		*key;
	enum bublk_state_type	type;
	size_t			off, size;	/* the struct bublk_state field */
	__u64			min, max;
	unsigned int		flags;
	enum bublk_state_check	check;
	const char *const	*names;		/* SF_ENUM, NULL-terminated */
	const char		*fmt;		/* SF_DEVNODE */
};

extern const struct bublk_state_field bublk_state_fields[];
extern const size_t bublk_state_nr_fields;

/* the keys inside "backends"[] and "bpf" */
#define SK_PATH		"path"
#define SK_SIZE		"size"
#define SK_BASE		"base"
#define SK_PIN_DIR	"pin_dir"
#define SK_PROGRAMS	"programs"
#define SK_MAPS		"maps"

/* list --json's addition, after everything else; never in a file */
#define SK_ALIVE	"alive"

/* an SF_ENUM field's index in its names[], clamped to 0 */
int bublk_state_enum_index(const struct bublk_state_field *f, const struct bublk_state *st);

/*
 * The loader's { "pin_dir", "programs", "maps" } text (bublk_target_print_ids)
 * into st's pin_dir, progs and maps; left empty if it does not parse.
 */
void bublk_state_parse_ids(const char *json, struct bublk_state *st);

#endif

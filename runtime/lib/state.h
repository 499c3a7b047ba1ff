/* SPDX-License-Identifier: MIT */
/* Daemon state under /run/bublk: one JSON file per device, what "list" reads. */
#ifndef BUBLK_STATE_H
#define BUBLK_STATE_H

#include <stddef.h>
#include <bublk/abi.h>

#define BUBLK_RUN_DIR "/run/bublk"

struct bublk_dev;

/* path of device id's file with extension ext ("json" state, "log") */
void bublk_state_path(char *out, size_t len, unsigned int dev_id, const char *ext);

int bublk_state_write(const struct bublk_dev *dev, int pid);
void bublk_state_remove(unsigned int dev_id);

/* ids of the devices with a state file, ascending; at most max */
int bublk_state_ids(unsigned int *ids, int max);

/* the whole file, NUL-terminated, malloc'ed; NULL if absent */
char *bublk_state_read(unsigned int dev_id);

/*
 * Minimal lookups in the flat JSON objects bublk writes: a top-level
 * "key": number or "key": "string". 0 on success, -ENOENT if absent,
 * -EINVAL if malformed.
 */
int bublk_json_get_u64(const char *json, const char *key, unsigned long long *out);
int bublk_json_get_str(const char *json, const char *key, char *out, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * What a crash can leave besides state files (security review 8): a ublk
 * device, or only pins, under /sys/fs/bpf/bublk/N with no /run/bublk/N.json
 * (a bublk from before the provisional state file, a file removed by
 * hand). Only what bublk made counts: a pin directory it trusts
 * (root's, writable by nobody else) holding the pinned map every target
 * has (bublk_dev).
 */
#ifndef BUBLK_LEFTOVERS_H
#define BUBLK_LEFTOVERS_H

#include <stdbool.h>

/* ids with a state file or bublk's pins, ascending, each once; at most max */
int leftover_ids(unsigned int *ids, int max);

/* no state file, but bublk's pins */
bool leftover_pins_only(unsigned int id);

/* bublk's pins of a device gone without its state file: removed, under its lock */
int leftover_remove_pins(unsigned int id);

#endif

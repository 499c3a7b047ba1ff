/* SPDX-License-Identifier: MIT */
/*
 * The 7.x control plane on a live device, in its daemon: resize
 * (UBLK_F_UPDATE_SIZE), and the creation flags that go with it
 * (RECOVERY_FAIL_IO, NO_AUTO_PART_SCAN).
 */
#ifndef BUBLK_CTLPLANE_H
#define BUBLK_CTLPLANE_H

#include <stdbool.h>
#include <stddef.h>

#include "dev.h"

/*
 * At creation, before ADD_DEV: add to *want the flags the options ask for
 * and those bublk uses wherever the kernel has them (UPDATE_SIZE). An option the kernel cannot grant fails here, with err
 * naming the kernel it needs.
 */
int bublk_ctlplane_flags(struct bublk_dev *dev, const struct bublk_dev_opts *o, __u64 *want,
			 char *err, size_t errlen);

/*
 * The daemon's control socket requests of this module ("resize BYTES"):
 * false if msg is none of them, else true with the answer
 * line ("ok: ..." or "error: ...", newline-terminated) in answer.
 */
bool bublk_ctlplane_request(struct bublk_dev *dev, const char *msg, char *answer, size_t len);

/*
 * Resize a live device to size bytes: a multiple of its logical block
 * size, accepted by the target's bublk_resize program for the backends'
 * current sizes. On failure nothing changed and err says why.
 */
int bublk_dev_resize(struct bublk_dev *dev, __u64 size, char *err, size_t errlen);

#endif

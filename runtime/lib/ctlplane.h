/* SPDX-License-Identifier: MIT */
/*
 * The 7.x control plane on a live device, in its daemon: resize
 * (UBLK_F_UPDATE_SIZE), quiesce for a takeover (UBLK_F_QUIESCE), and the
 * creation flags that go with them (RECOVERY_FAIL_IO, NO_AUTO_PART_SCAN).
 */
#ifndef BUBLK_CTLPLANE_H
#define BUBLK_CTLPLANE_H

#include <stdbool.h>
#include <stddef.h>

#include "dev.h"

/* how long "bublk quiesce" lets the kernel wait for idle queues by default */
#define BUBLK_QUIESCE_DEF_MS	10000

/*
 * At creation, before ADD_DEV: add to *want the flags the options ask for
 * (the data mode's too: the fastest granted unless one was asked for)
 * and those bublk uses wherever the kernel has them (UPDATE_SIZE, QUIESCE
 * with recovery). An option the kernel cannot grant fails here, with err
 * naming the kernel it needs.
 */
int bublk_ctlplane_flags(struct bublk_dev *dev, const struct bublk_dev_opts *o, __u64 *want,
			 char *err, size_t errlen);

/*
 * The daemon's control socket requests of this module ("resize BYTES",
 * "quiesce MS"): false if msg is none of them, else true with the answer
 * line ("ok: ..." or "error: ...", newline-terminated) in answer.
 */
bool bublk_ctlplane_request(struct bublk_dev *dev, const char *msg, char *answer, size_t len);

/*
 * Resize a live device to size bytes: a multiple of its logical block
 * size, accepted by the target's bublk_resize program for the backends'
 * current sizes. On failure nothing changed and err says why.
 */
int bublk_dev_resize(struct bublk_dev *dev, __u64 size, char *err, size_t errlen);

/*
 * QUIESCE_DEV, then wait until every queue has seen all its commands
 * aborted and left its loop: the daemon must then close /dev/ublkcN
 * without deleting the device (bublk_dev_leaving) so a new daemon can take
 * over with "bublk recover".
 */
int bublk_dev_quiesce(struct bublk_dev *dev, unsigned int timeout_ms, char *err, size_t errlen);

/*
 * queue.c: a FETCH/COMMIT_AND_FETCH completed with res < 0. True when the
 * device is being quiesced (the command is counted; once all of the
 * queue's are, its loop ends), false otherwise.
 */
bool bublk_queue_cmd_gone(struct bublk_queue *q, int tag, int res);

/*
 * When the daemon stops (serve): true if the device was quiesced for a
 * takeover, and then marked so that bublk_dev_destroy releases it without
 * STOP_DEV/DEL_DEV (and the state file and pins stay for "bublk recover").
 */
bool bublk_dev_leaving(struct bublk_dev *dev);

#endif

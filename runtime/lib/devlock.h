/* SPDX-License-Identifier: MIT */
/*
 * One bublk process per device id at a time: /run/bublk/N.lock, an OFD
 * write lock held by whoever creates, recovers, serves or deletes device
 * N (security review 8 and 9). The kernel drops it when the holder dies,
 * kill -9 included, so a held lock always means a live process; the file
 * says which ("PID ROLE"). Readers test it (F_OFD_GETLK) without taking
 * it, so "bublk list" never makes a daemon's take fail.
 *
 * "bublk add" claims an id before ADD_DEV (lock + a state file saying
 * "creating"), so no device bublk makes is ever without a state file,
 * whatever moment a crash picks.
 */
#ifndef BUBLK_DEVLOCK_H
#define BUBLK_DEVLOCK_H

#include <stdbool.h>
#include <stddef.h>

struct bublk_dev;

#define BUBLK_DEVLOCK_ROLE_LEN	16	/* "add", "recover", "del" */

/*
 * Take device id's lock for this process (one at a time; role as above):
 * 0, or -EBUSY with err saying who holds it ("dev 3 is being recovered
 * by pid 812 ..."), or -errno.
 */
int bublk_devlock_take(unsigned int id, const char *role, char *err, size_t errlen);

/* give it back (a no-op unless held for id); remove: the lock file too */
void bublk_devlock_release(unsigned int id, bool remove);

/*
 * Who holds device id's lock: its pid (> 0) with its role in role (may be
 * NULL), 0 if nobody, -EBUSY if held by a process not yet named in it.
 */
int bublk_devlock_holder(unsigned int id, char *role, size_t rolelen);

/* "dev N is being served/created/recovered/deleted by pid P (...)" */
void bublk_devlock_describe(unsigned int id, int pid, const char *role, char *out, size_t len);

/*
 * ADD_DEV under an id claimed first: the lowest id with no ublk device and
 * no lock, locked, with a "creating" state file; the lock stays with the
 * process. 0, or ADD_DEV's -errno with nothing claimed.
 */
int bublk_dev_add_claimed(struct bublk_dev *dev);

/* after a failed create: the state file and the lock go with the device */
void bublk_dev_unclaim(const struct bublk_dev *dev);

/* is there a ublk device id (serving, being created, or awaiting recovery)? */
bool bublk_ublk_dev_exists(unsigned int id);

#endif

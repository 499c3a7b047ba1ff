/* SPDX-License-Identifier: MIT */
/* The daemon's control socket (/run/bublk/N.sock): reload requests. */
#ifndef BUBLK_CONTROL_H
#define BUBLK_CONTROL_H

#include "dev.h"
#include "unix_listener.h"

struct bublk_control {
	struct bublk_dev	*dev;
	struct bublk_listener	listener;
	char			dev_name[16];
};

/* listen on /run/bublk/<id>.sock (root or the daemon's user only) */
int bublk_control_start(struct bublk_control *c, struct bublk_dev *dev);
void bublk_control_stop(struct bublk_control *c);

/* client side: send one request line, print the daemon's answer; 0 on "ok" */
int bublk_control_request(unsigned int dev_id, const char *request, char *answer, size_t len);

#endif

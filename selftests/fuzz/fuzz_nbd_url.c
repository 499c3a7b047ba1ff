// SPDX-License-Identifier: MIT
/*
 * Fuzz the NBD backend addresses users type in -f (runtime/lib/nbd_url.c).
 * Whatever it accepts must be what the connection code relies on: a host
 * and a port 1..65535 for TCP, an absolute socket path for a unix socket,
 * every string terminated inside its field; whatever it refuses says what
 * is accepted.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nbd_url.h"

static void terminated(const char *s, size_t room)
{
	if (!memchr(s, 0, room))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), err[1024] = "";
	struct bublk_nbd_url u;
	int ret;

	memcpy(buf, data, size);
	buf[size] = 0;
	ret = bublk_nbd_url_parse(buf, &u, err, sizeof(err));
	if (ret) {
		if (ret != -EINVAL || !strstr(err, "accepted: "))
			__builtin_trap();
	} else {
		terminated(u.host, sizeof(u.host));
		terminated(u.port, sizeof(u.port));
		terminated(u.export_name, sizeof(u.export_name));
		terminated(u.socket, sizeof(u.socket));
		if (!bublk_nbd_is_url(buf))
			__builtin_trap();
		if (u.unix_socket) {
			if (u.socket[0] != '/' || u.host[0])
				__builtin_trap();
		} else {
			long port = strtol(u.port, NULL, 10);

			if (!u.host[0] || port < 1 || port > 65535 || u.socket[0])
				__builtin_trap();
		}
	}
	free(buf);
	return 0;
}

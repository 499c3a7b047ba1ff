/* SPDX-License-Identifier: MIT */
/*
 * NBD backend addresses, as "-f" takes them (pure, no libnbd: host unit
 * tests and fuzzing use it alone):
 *   nbd://HOST[:PORT][/EXPORT]		TCP, port 10809 by default
 *   nbd+unix:///[EXPORT]?socket=PATH	a unix socket
 * HOST may be [IPv6]. EXPORT and PATH are percent-decoded; an empty EXPORT
 * is the server's default export.
 */
#ifndef BUBLK_NBD_URL_H
#define BUBLK_NBD_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>

#define BUBLK_NBD_DEF_PORT	"10809"
#define BUBLK_NBD_MAX_EXPORT	4096	/* the protocol's limit on a name */

struct bublk_nbd_url {
	bool	unix_socket;
	char	host[256];
	char	port[8];
	char	export_name[BUBLK_NBD_MAX_EXPORT + 1];
	char	socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/*
 * Whether a backing file name is meant as an NBD address: a scheme that
 * starts with "nbd" followed by "://". Those are parsed (and refused with
 * a reason) rather than opened as files; ./nbd://x is a file.
 */
bool bublk_nbd_is_url(const char *s);

/* 0, or -EINVAL with err saying what is wrong and what is accepted */
int bublk_nbd_url_parse(const char *url, struct bublk_nbd_url *u, char *err, size_t errlen);

#endif

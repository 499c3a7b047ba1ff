// SPDX-License-Identifier: MIT
/*
 * Parsing the NBD addresses "-f" accepts. Our own small parser rather than
 * libnbd's nbd_connect_uri: it accepts only what the backend supports (no
 * TLS, no vsock, no URL options we would silently ignore) and its refusals
 * name the part of the address that is wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd_url.h"

#define ACCEPTED "accepted: nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH"

bool bublk_nbd_is_url(const char *s)
{
	const char *sep = strstr(s, "://");

	if (strncmp(s, "nbd", 3) || !sep)
		return false;
	for (const char *p = s; p < sep; p++) {
		if (!((*p >= 'a' && *p <= 'z') || *p == '+'))
			return false;
	}
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* percent-decode [s, s + n) into out (room bytes with the NUL): 0 or -EINVAL */
static int decode(const char *s, size_t n, char *out, size_t room)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
				return -EINVAL;
			c = hexval(s[i + 1]) << 4 | hexval(s[i + 2]);
			if (!c)
				return -EINVAL;	/* a NUL would cut the name short */
			i += 2;
		}
		if (o + 1 >= room)
			return -E2BIG;
		out[o++] = (char)c;
	}
	out[o] = 0;
	return 0;
}

static int bad(char *err, size_t errlen, const char *url, const char *why)
{
	/* a long address is cut: the reason and what is accepted must fit */
	snprintf(err, errlen, "NBD address \"%.200s%s\": %s (" ACCEPTED ")", url,
		 strlen(url) > 200 ? "..." : "", why);
	return -EINVAL;
}

/* HOST[:PORT] or [V6][:PORT] of a TCP address */
static int parse_authority(const char *a, size_t n, struct bublk_nbd_url *u, const char *url,
			   char *err, size_t errlen)
{
	const char *colon = NULL, *host = a;
	size_t hlen;

	if (!n)
		return bad(err, errlen, url, "no host: nbd:// needs one (for a unix socket use nbd+unix:///EXPORT?socket=PATH)");
	if (memchr(a, '@', n))
		return bad(err, errlen, url, "user names are not supported");
	if (a[0] == '[') {
		const char *close = memchr(a, ']', n);

		if (!close)
			return bad(err, errlen, url, "IPv6 host without its closing ']'");
		host = a + 1;
		hlen = close - host;
		if (close + 1 < a + n) {
			if (close[1] != ':')
				return bad(err, errlen, url, "junk after the IPv6 host");
			colon = close + 1;
		}
	} else {
		colon = memchr(a, ':', n);
		hlen = colon ? (size_t)(colon - a) : n;
	}
	if (!hlen)
		return bad(err, errlen, url, "empty host");
	if (hlen >= sizeof(u->host))
		return bad(err, errlen, url, "host name too long");
	memcpy(u->host, host, hlen);
	u->host[hlen] = 0;
	if (colon) {
		size_t plen = a + n - (colon + 1);
		unsigned long port;
		char *end, buf[8];

		if (!plen || plen > 5)
			return bad(err, errlen, url, "the port must be a number 1..65535");
		memcpy(buf, colon + 1, plen);
		buf[plen] = 0;
		if (buf[0] < '0' || buf[0] > '9')
			return bad(err, errlen, url, "the port must be a number 1..65535");
		port = strtoul(buf, &end, 10);
		if (*end || !port || port > 65535)
			return bad(err, errlen, url, "the port must be a number 1..65535");
		snprintf(u->port, sizeof(u->port), "%lu", port);
	}
	return 0;
}

/* the query: nbd+unix wants exactly socket=PATH; TCP takes none */
static int parse_query(const char *q, struct bublk_nbd_url *u, const char *url,
		       char *err, size_t errlen)
{
	bool have_socket = false;

	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t n = amp ? (size_t)(amp - q) : strlen(q);

		if (n > 7 && !strncmp(q, "socket=", 7) && u->unix_socket) {
			int ret = decode(q + 7, n - 7, u->socket, sizeof(u->socket));

			if (ret == -E2BIG)
				return bad(err, errlen, url, "the socket path is too long for a unix socket");
			if (ret)
				return bad(err, errlen, url, "bad %-escape in the socket path");
			if (have_socket)
				return bad(err, errlen, url, "socket= given twice");
			have_socket = true;
		} else if (n) {
			char what[128];

			snprintf(what, sizeof(what), "unsupported parameter \"%.*s\"%s", (int)(n < 60 ? n : 60), q,
				 !strncmp(q, "tls", 3) ? " (TLS is not supported yet)" : "");
			return bad(err, errlen, url, what);
		}
		q = amp ? amp + 1 : NULL;
	}
	if (u->unix_socket && !have_socket)
		return bad(err, errlen, url, "nbd+unix:// needs ?socket=PATH");
	if (u->unix_socket && u->socket[0] != '/')
		return bad(err, errlen, url, "the socket path must be absolute");
	return 0;
}

int bublk_nbd_url_parse(const char *url, struct bublk_nbd_url *u, char *err, size_t errlen)
{
	const char *sep, *rest, *path, *query;
	size_t slen, alen, plen;
	int ret;

	memset(u, 0, sizeof(*u));
	snprintf(u->port, sizeof(u->port), "%s", BUBLK_NBD_DEF_PORT);
	sep = strstr(url, "://");
	if (!sep || !bublk_nbd_is_url(url))
		return bad(err, errlen, url, "not an NBD address");
	slen = sep - url;
	if (slen == 3 && !strncmp(url, "nbd", 3))
		u->unix_socket = false;
	else if (slen == 8 && !strncmp(url, "nbd+unix", 8))
		u->unix_socket = true;
	else if (!strncmp(url, "nbds", 4))
		return bad(err, errlen, url, "TLS (nbds://) is not supported yet");
	else if (slen >= 9 && !strncmp(url + slen - 6, "+vsock", 6))
		return bad(err, errlen, url, "vsock is not supported");
	else
		return bad(err, errlen, url, "unknown scheme");
	if (strchr(url, '#'))
		return bad(err, errlen, url, "a fragment (#...) means nothing here");
	rest = sep + 3;
	query = strchr(rest, '?');
	path = strchr(rest, '/');
	if (path && query && path > query)
		path = NULL;
	alen = path ? (size_t)(path - rest) : query ? (size_t)(query - rest) : strlen(rest);
	if (u->unix_socket) {
		if (alen)
			return bad(err, errlen, url, "nbd+unix:// takes no host: write nbd+unix:///EXPORT?socket=PATH (three slashes)");
	} else {
		ret = parse_authority(rest, alen, u, url, err, errlen);
		if (ret)
			return ret;
	}
	if (path) {
		path++;	/* the export is the path without its leading '/' */
		plen = query ? (size_t)(query - path) : strlen(path);
		ret = decode(path, plen, u->export_name, sizeof(u->export_name));
		if (ret == -E2BIG)
			return bad(err, errlen, url, "export name longer than 4096 bytes");
		if (ret)
			return bad(err, errlen, url, "bad %-escape in the export name");
	}
	return parse_query(query ? query + 1 : NULL, u, url, err, errlen);
}

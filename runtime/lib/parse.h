/* SPDX-License-Identifier: MIT */
/* Parsing numbers users type. */
#ifndef BUBLK_PARSE_H
#define BUBLK_PARSE_H

#include <stdint.h>

/*
 * "64M", "1G", "4096", "512KiB", "0x1000": bytes; decimal unless it starts
 * with 0x, and a leading zero is refused (never octal); -EINVAL on junk or
 * overflow
 */
int parse_size(const char *s, uint64_t *out);
/* decimal int in [min, max]; -EINVAL otherwise */
int parse_int(const char *s, int min, int max, int *out);

#endif

// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>

#include "parse.h"

int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 0:				break;
	case 'k': case 'K':		shift = 10; end++; break;
	case 'm': case 'M':		shift = 20; end++; break;
	case 'g': case 'G':		shift = 30; end++; break;
	case 't': case 'T':		shift = 40; end++; break;
	default:			return -EINVAL;
	}
	if (*end == 'i' && shift)
		end++;
	if ((*end == 'B' || *end == 'b') && (shift || end[1] == 0))
		end++;
	if (*end)
		return -EINVAL;
	if (shift && v > (~0ULL >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

int parse_int(const char *s, int min, int max, int *out)
{
	long v;
	char *end;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (int)v;
	return 0;
}


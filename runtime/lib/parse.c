// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "parse.h"

int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	int base = 10;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	/*
	 * Decimal, or hex with an explicit 0x. A leading zero is refused, not
	 * read as octal: "0100M" meant 100M to whoever typed it, and a
	 * silently smaller device is worse than an error.
	 */
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		/* strtoull(16) would take a second "0x" too */
		if (!isxdigit((unsigned char)s[2]) || s[3] == 'x' || s[3] == 'X')
			return -EINVAL;
		base = 16;
		s += 2;
	} else if (s[0] == '0' && s[1] >= '0' && s[1] <= '9') {
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(s, &end, base);
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

	/* decimal digits only (strtol alone would take " 12" and "+12") */
	if (!s || !((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* Small helpers used across runtime/, loader/ and the CLI (kublk's utils.h in spirit). */
#ifndef BUBLK_UTIL_H
#define BUBLK_UTIL_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <bublk/abi.h>

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

#ifndef min
#define min(a, b)		({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a < _b ? _a : _b; })
#endif
#ifndef max
#define max(a, b)		({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a > _b ? _a : _b; })
#endif

/* x rounded up to a multiple of a, a power of two; in x's type */
#define ALIGN_UP(x, a)		(((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define PAGE_ALIGN(x)		ALIGN_UP(x, BUBLK_PAGE_SIZE)

/*
 * Process pid exists and has not exited: a zombie ('Z') or a dead one
 * ('X') has, though /proc still shows it.
 */
static inline bool bublk_proc_running(int pid)
{
	char path[64], buf[256], *p;
	bool running = false;
	FILE *f;

	if (pid <= 0 || (kill(pid, 0) && errno == ESRCH))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	/* "pid (comm) S ...": the comm may hold spaces and parentheses */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
		running = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return running;
}

#endif

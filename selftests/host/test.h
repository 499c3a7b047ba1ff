/* SPDX-License-Identifier: MIT */
/* Tiny test harness: each check prints "ok"/"not ok" (TAP-like); main returns failures. */
#ifndef BUBLK_TEST_H
#define BUBLK_TEST_H

#include <stdio.h>

static int t_failed, t_passed;

#define CHECK(cond, ...) do {						\
	if (cond) {							\
		t_passed++;						\
	} else {							\
		t_failed++;						\
		printf("  check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		printf(__VA_ARGS__);					\
		printf("\n");						\
	}								\
} while (0)

/* run one named test function; prints its verdict line */
#define RUN(fn) do {							\
	int before = t_failed;						\
	fn();								\
	printf("%s %s\n", t_failed == before ? "ok" : "not ok", #fn);	\
} while (0)

#endif

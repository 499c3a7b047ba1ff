/* SPDX-License-Identifier: MIT */
#ifndef BUBLK_LOG_H
#define BUBLK_LOG_H

/* one line on stderr, prefixed "bublk: " (the daemon's stderr is its log file) */
void bublk_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

/* SPDX-License-Identifier: MIT */
/* The bublk command: one file per subcommand. */
#ifndef BUBLK_CLI_H
#define BUBLK_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "parse.h"
#include "util.h"	/* bublk_proc_running: is a daemon still running (not a zombie)? */

int cmd_add(int argc, char **argv);
int cmd_del(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_resize(int argc, char **argv);
int cmd_quiesce(int argc, char **argv);

struct bublk_dev_opts;
/* create (recover_id < 0) or take over a device and serve it (cmd_add.c) */
int bublk_launch(const struct bublk_dev_opts *o, int recover_id, bool foreground, bool json);

/*
 * Parse "bublk add" arguments into o: -1 when the device should be
 * created, else the exit status (0 for --help, 2 for bad usage).
 * Separate from cmd_add() so the fuzzer can run it (selftests/fuzz).
 */
int add_parse(int argc, char **argv, struct bublk_dev_opts *o, bool *foreground, bool *json);

/* "bublk CMD: message" on stderr */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* -n ARG: a device number, or a message and -EINVAL */
int cli_dev_id(const char *cmd, const char *arg, int *id);

/*
 * A live device's pinned map /sys/fs/bpf/bublk/<id>/<name> and its queue
 * count (from its state file): the fd, or a message and -errno.
 */
int cli_live_map(const char *cmd, int id, const char *name, unsigned int *queues);

/*
 * Is pid, read from device id's state file, still that device's daemon?
 * A pid outlives its process: after the daemon died it may belong to
 * anything. Root's answer is exact (the process holds /dev/ublkcID open);
 * without access to its descriptors, a process named bublk that started
 * before the state file was last written.
 */
bool daemon_alive(unsigned int id, int pid);
/*
 * bublk list --json: a live device's state object (json, freed) with each
 * NBD backend's "connection" added from the daemon's counters; json
 * itself when there is nothing to add or it cannot be read.
 */
struct bublk_state;
char *list_with_connections(char *json, const struct bublk_state *st);

/* one request to a device's daemon over its control socket; errors printed */
int cli_control_request(const char *cmd, int id, const char *req, char *answer, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * A daemon's UNIX listening socket served by its own thread: the control
 * socket (/run/bublk/N.sock, control.c) and the shared-memory socket
 * (/run/ublk/ublkbN.sock, shmem.c). What both promise is here, once:
 *
 *   - the socket file is mode 0600, and a peer is accepted only if
 *     SO_PEERCRED says it is root or the daemon's user;
 *   - every connection is polled together with the others, so a client
 *     that connects and says nothing delays nobody: its owner gives it a
 *     deadline and drops it when the deadline passes;
 *   - answers never raise SIGPIPE (MSG_NOSIGNAL) nor wait (MSG_DONTWAIT).
 *
 * What a connection carries (a request line, a memfd) and how many a
 * listener takes stay with the owner.
 */
#ifndef BUBLK_UNIX_LISTENER_H
#define BUBLK_UNIX_LISTENER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct bublk_listener {
	int		fd;		/* the listening socket, or -1 */
	int		stop_pipe[2];	/* written by bublk_listener_close */
	pthread_t	thread;
	bool		running;
	char		path[108];	/* sun_path */
};

/* an accepted connection; the owner's record of it embeds one */
struct bublk_client {
	int		fd;
	pid_t		pid;		/* the peer process, from SO_PEERCRED */
	long long	deadline;	/* ms (bublk_now_ms); 0: none */
	short		revents;	/* this round's poll result */
};

/* CLOCK_MONOTONIC in milliseconds: what deadlines are in */
long long bublk_now_ms(void);

/* fds -1, not running: bublk_listener_close may be called on it */
void bublk_listener_init(struct bublk_listener *l);

/*
 * Listen on path (a stale socket there is removed first), mode 0600, with
 * backlog, and run fn(arg) on a thread of its own. 0, or -errno with
 * errno set; bublk_listener_close cleans up either way.
 */
int bublk_listener_open(struct bublk_listener *l, const char *path, int backlog,
			void *(*fn)(void *), void *arg);

/* stop and join the thread, close the socket and remove its file */
void bublk_listener_close(struct bublk_listener *l);

/*
 * The thread's wait: poll the stop pipe, the listening socket (only while
 * n < max) and the n clients (with events; client i is at
 * (char *)clients + i * stride) until something happens or the earliest
 * deadline passes. -1 when told to stop (or poll failed); else 0, with
 * each client's revents, *incoming when a connection waits for
 * bublk_listener_accept, and *now after the wait.
 */
int bublk_listener_wait(struct bublk_listener *l, struct bublk_client *clients, size_t stride,
			int n, int max, short events, bool *incoming, long long *now);
#define bublk_listener_wait_for(l, arr, member, n, max, events, incoming, now)		\
	bublk_listener_wait(l, &(arr)[0].member, sizeof((arr)[0]), n, max, events, incoming, now)

/*
 * Accept a connection: its fd (close-on-exec) with *pid and *allowed (the
 * peer is root or the daemon's user; else answer it and close it), or -1.
 */
int bublk_listener_accept(struct bublk_listener *l, pid_t *pid, bool *allowed);

/* send() without SIGPIPE (a client gone already) or waiting: its result */
ssize_t bublk_listener_send(int fd, const void *buf, size_t len);

#endif

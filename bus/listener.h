/* SPDX-License-Identifier: Apache-2.0 */
/*
 * listener.h — a TCP endpoint of the broker on its io_uring loop: an address value of the
 * configuration ("HOST:PORT", port 0 = any free port) bound and listening, one multishot
 * accept kept armed (re-armed when the kernel ends it), each new connection handed to
 * the owner's callback as a non-blocking, close-on-exec fd.
 */
#ifndef PAGEBUS_LISTENER_H
#define PAGEBUS_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include "loop.h"

/* Where a listener really listens: numeric host ("127.0.0.1", "::1") and port. */
struct listener_addr {
	char host[64];
	int port;
	int ipv6;
};

struct listener {
	struct uloop *loop;
	int fd;
	bool armed, stopping;
	struct uloop_op op;
	const char *what;			   /* for log lines: "metrics endpoint" */
	void (*accepted)(struct listener *ls, int fd); /* the owner takes fd */
};

/*
 * Binds the first address HOST resolves to that takes it, listens (SO_REUSEADDR) and
 * arms the accept; ls->accepted and ls->what must be set. 0 with *bound filled, or
 * -errno with err set to a message naming addr (nothing left open).
 */
int listener_open(struct listener *ls, struct uloop *loop, const char *addr, int backlog,
		  struct listener_addr *bound, char *err, size_t errlen);
/* Stops accepting (connections that arrive meanwhile are closed). */
void listener_stop(struct listener *ls);
/* Closes the socket; after the loop is gone (no completion comes any more). */
void listener_close(struct listener *ls);

/* "HOST:PORT", or "[HOST]:PORT" for IPv6. */
void listener_format(const struct listener_addr *a, char *buf, size_t len);

#endif

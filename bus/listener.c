/* SPDX-License-Identifier: Apache-2.0 */
/* listener.c — TCP endpoints of the broker: bind, listen, multishot accept on the loop. */
#include "listener.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "logging.h"

static void arm(struct listener *ls);

static void accept_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	struct listener *ls = op->ctx;
	if (res >= 0) {
		if (ls->stopping)
			close(res);
		else
			ls->accepted(ls, res);
	} else if (res != -ECANCELED && res != -EAGAIN && res != -EINTR) {
		log_warn("%s: accept failed: %s", ls->what, strerror(-res));
	}
	if (!(flags & IORING_CQE_F_MORE)) {
		ls->armed = false;
		if (!ls->stopping)
			arm(ls);
	}
}

static void arm(struct listener *ls)
{
	ls->op = (struct uloop_op){ .cb = accept_done, .ctx = ls };
	struct io_uring_sqe *sqe = uloop_sqe(ls->loop, &ls->op);
	if (!sqe)
		return;
	io_uring_prep_multishot_accept(sqe, ls->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	ls->armed = true;
}

/* Binds and listens on the first address of host:port that takes it. */
static int bind_first(const char *addr, int backlog, int *fd, char *err, size_t errlen)
{
	char host[CONFIG_ADDR_MAX], port[8];
	int p;
	if (config_parse_addr(addr, host, sizeof(host), &p) < 0)
		return config_errf(err, errlen, -EINVAL, "%s is not HOST:PORT", addr);
	snprintf(port, sizeof(port), "%d", p);
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai, *a;
	int gai = getaddrinfo(host, port, &hints, &ai);
	if (gai)
		return config_errf(err, errlen, -EINVAL, "%s: %s", addr, gai_strerror(gai));
	int r = -EADDRNOTAVAIL, one = 1;
	for (a = ai; a && *fd < 0; a = a->ai_next) {
		int s = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (s < 0) {
			r = -errno;
			continue;
		}
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, a->ai_addr, a->ai_addrlen) == 0 && listen(s, backlog) == 0) {
			*fd = s;
			break;
		}
		r = -errno;
		close(s);
	}
	freeaddrinfo(ai);
	return *fd < 0 ? config_errf(err, errlen, r, "cannot listen on %s: %s", addr, strerror(-r)) : 0;
}

int listener_open(struct listener *ls, struct uloop *loop, const char *addr, int backlog,
		  struct listener_addr *bound, char *err, size_t errlen)
{
	ls->loop = loop;
	ls->fd = -1;
	ls->armed = ls->stopping = false;
	int r = bind_first(addr, backlog, &ls->fd, err, errlen);
	if (r < 0)
		return r;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char num[8] = "0";
	memset(bound, 0, sizeof(*bound));
	getsockname(ls->fd, (struct sockaddr *)&ss, &sl);
	getnameinfo((struct sockaddr *)&ss, sl, bound->host, sizeof(bound->host), num, sizeof(num),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	bound->port = atoi(num);
	bound->ipv6 = ss.ss_family == AF_INET6;
	arm(ls);
	return 0;
}

void listener_stop(struct listener *ls)
{
	if (ls->stopping)
		return;
	ls->stopping = true;
	if (ls->armed)
		uloop_cancel(ls->loop, &ls->op, NULL);
}

void listener_close(struct listener *ls)
{
	if (ls->fd >= 0)
		close(ls->fd);
	ls->fd = -1;
}

void listener_format(const struct listener_addr *a, char *buf, size_t len)
{
	snprintf(buf, len, a->ipv6 ? "[%s]:%d" : "%s:%d", a->host, a->port);
}

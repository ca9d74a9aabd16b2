/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_client.c — the raw Kafka-protocol test client of kafka_client.h: blocking
 * sockets with SO_RCVTIMEO/SO_SNDTIMEO, frames in and out.
 */
#include "kafka_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "byteorder.h"
#include "testutil.h"

int kx_log_port(const char *log_path)
{
	static const char line[] = "kafka endpoint listening on 127.0.0.1:";
	size_t len;
	char *log = (char *)tu_read_file(log_path, &len);
	if (!log)
		return -1;
	log[len] = '\0';
	const char *at = strstr(log, line);
	int port = at ? atoi(at + strlen(line)) : -1;
	free(log);
	return port;
}

int kx_connect(int port, int wait_s)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = wait_s };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

int kx_start(struct kc_writer *w, int16_t key, int16_t version, int32_t corr, const char *client_id)
{
	if (kc_writer_init(w, 256) < 0)
		return -ENOMEM;
	kc_w_i32(w, 0);
	kc_w_i16(w, key);
	kc_w_i16(w, version);
	kc_w_i32(w, corr);
	kc_w_cstr(w, client_id);
	return 0;
}

static int io_all(int fd, void *p, size_t n, int out)
{
	uint8_t *b = p;
	while (n) {
		ssize_t k = out ? send(fd, b, n, MSG_NOSIGNAL) : recv(fd, b, n, 0);
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

int kx_send(int fd, struct kc_writer *w)
{
	int rc = w->err ? -1 : 0;
	if (!rc) {
		kc_w_patch_i32(w, 0, (int32_t)(w->len - 4));
		rc = io_all(fd, w->buf, w->len, 1);
	}
	kc_writer_free(w);
	return rc;
}

uint8_t *kx_recv(int fd, int32_t *corr, struct kc_reader *r)
{
	uint8_t sz[4];
	if (io_all(fd, sz, 4, 0) < 0)
		return NULL;
	size_t len = be32_get(sz);
	uint8_t *b = malloc(len ? len : 1);
	if (!b || io_all(fd, b, len, 0) < 0) {
		free(b);
		return NULL;
	}
	kc_reader_init(r, b, len);
	*corr = kc_i32(r, "correlation_id");
	return b;
}

int kx_closed(int fd)
{
	char buf[65536];
	for (;;) {
		ssize_t k = recv(fd, buf, sizeof(buf), 0);
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return 1;
		if (k < 0)
			return 0; /* the wait ended */
	}
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_client.h — a raw Kafka-protocol client for tests: a blocking TCP connection with
 * bounded waits, request frames built with kafka_codec.h's writer, response frames read
 * whole. Nothing is checked here: tests assert on what comes back.
 */
#ifndef PAGEBUS_TESTS_KAFKA_CLIENT_H
#define PAGEBUS_TESTS_KAFKA_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "kafka_codec.h"

/* The port in the broker log's `kafka endpoint listening on 127.0.0.1:PORT` line, or -1. */
int kx_log_port(const char *log_path);
/* A connection to 127.0.0.1:port whose reads and writes give up after wait_s seconds. */
int kx_connect(int port, int wait_s);
/* Starts a request in *w: size (patched by kx_send), key, version, correlation id and
 * client id. 0 or -ENOMEM. */
int kx_start(struct kc_writer *w, int16_t key, int16_t version, int32_t corr, const char *client_id);
/* Sends the request and frees the writer: 0, or -1 when it could not be sent. */
int kx_send(int fd, struct kc_writer *w);
/* The next response frame (after its size prefix), malloc'd, and *r at its body (after the
 * correlation id, returned in *corr). NULL at EOF or after the wait. */
uint8_t *kx_recv(int fd, int32_t *corr, struct kc_reader *r);
/* 1 when the peer closes the connection (EOF or reset) before the wait ends. */
int kx_closed(int fd);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_protocol.c — the local protocol codec: the bytes docs/protocol.md shows, every
 * request, reply and push round-tripped, every truncation and each kind of hostile
 * payload rejected with -EPROTO (make asan), and fd passing over a SEQPACKET socketpair
 * without leaking a descriptor on any error path.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "protocol.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A copy of exactly n bytes on the heap, so ASan sees any read past the end. */
static uint8_t *exact_copy(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	assert_non_null(c);
	memcpy(c, p, n);
	return c;
}

/* ---- sample messages: one of each, with edge values ----------------------------- */

static struct pbp_config configs[] = {
	{ "retention.ms", "86400000" },
	{ "segment.bytes", "1048576" },
	{ "cleanup.policy", "" },
};
static int32_t wanted_partitions[] = { 0, 3, 7 };
static struct pbp_topic_info topics[] = {
	{ "orders", 1, 4 },
	{ "a", UINT32_MAX, INT32_MAX },
};
static struct pbp_partition_info parts[] = {
	{ 0, 10, 0, 1234, 3, 1u << 30 },
	{ 1, 11, INT64_MAX - 1, INT64_MAX, UINT32_MAX, UINT64_MAX },
};
static struct pbp_consumer_slot slots[] = { { 0, 4, 1 }, { 3, 5, 2 }, { 7, 6, UINT32_MAX } };
static struct pbp_segment segments[] = { { 0, 4711 }, { 4711, 9000 }, { 9000, -1 } };

static const struct pbp_hello s_hello = { 1, 3, "pagebus-cli/0.1.0 pid 42" };
static const struct pbp_topic_create s_topic_create = { "orders", -1, ARRAY_SIZE(configs),
							configs };
static const struct pbp_topic_delete s_topic_delete = { "orders" };
static const struct pbp_topic_describe s_topic_describe = { "orders.v2_x-y" };
static const struct pbp_open_producer s_open_producer = { "orders", 8u << 20 };
static const struct pbp_close_producer s_close_producer = { 0xdeadbeef };
static const struct pbp_open_consumer s_open_consumer = { "orders", ARRAY_SIZE(wanted_partitions),
							  wanted_partitions };
static const struct pbp_close_consumer s_close_consumer = { 7 };
static const struct pbp_get_segments s_get_segments = { 3, 2, INT64_MIN };
static const struct pbp_commit_offset s_commit_offset = { "billing", "orders", 5, INT64_MAX };
static const struct pbp_fetch_offset s_fetch_offset = { "billing", "orders", -2 };

static const struct pbp_hello_reply s_hello_reply = { 1, 4242, 1024, 8u << 20 };
static const struct pbp_topic_create_reply s_topic_create_reply = { 9, 6 };
static const struct pbp_topic_list_reply s_topic_list_reply = { ARRAY_SIZE(topics), topics };
static const struct pbp_topic_describe_reply s_topic_describe_reply = { 9, ARRAY_SIZE(parts),
									ARRAY_SIZE(configs),
									configs, parts };
static const struct pbp_open_producer_reply s_open_producer_reply = { 1, 9, 2, 65536 };
static const struct pbp_open_consumer_reply s_open_consumer_reply = { 2, 9, 8, ARRAY_SIZE(slots),
								      slots };
static const struct pbp_get_segments_reply s_get_segments_reply = { ARRAY_SIZE(segments), segments,
								    1 };
static const struct pbp_fetch_offset_reply s_fetch_offset_reply = { -1 };
static const struct pbp_segment_event s_segment_event = { 9, 3, PBP_SEG_ROLLED, 123456789 };

/* groups: nested byte arrays stay empty here (the round trip compares items shallowly);
 * test_protocol_group_bytes_round_trip covers them */
static struct pbp_group_protocol protocols[] = { { "range", 0, NULL }, { "roundrobin", 0, NULL } };
static struct pbp_group_member members[] = { { "pagebus-1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed", 0, NULL },
					     { "rdkafka-0", 0, NULL } };
static uint8_t assignment_bytes[] = { 0, 0, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff };
static struct pbp_group_offset group_offsets[] = { { "orders", 0, 17 }, { "orders", 3, INT64_MAX } };
static struct pbp_group_info group_infos[] = { { "billing", "Stable", "consumer", "range", 4, 2 },
					       { "old", "Empty", "", "", 0, 0 } };
static struct pbp_group_member_info member_infos[] = { { "pagebus-x", "pagebus", "pid 42", 0 },
						       { "rdkafka-y", "rdkafka", "/127.0.0.1", 1 } };
static struct pbp_group_partition group_parts[] = { { "orders", 0, 1, 17, 0, 20 },
						    { "orders", 1, -1, -1, -1, -1 } };

static const struct pbp_join_group s_join_group = { "billing", "", "pagebus", 10000, 60000, "consumer",
						    ARRAY_SIZE(protocols), protocols };
static const struct pbp_sync_group s_sync_group = { "billing", 4, "pagebus-x", ARRAY_SIZE(members), members };
static const struct pbp_heartbeat s_heartbeat = { "billing", INT32_MAX, "pagebus-x" };
static const struct pbp_leave_group s_leave_group = { "billing", "pagebus-x" };
static const struct pbp_group_commit s_group_commit = { "billing", -1, "", ARRAY_SIZE(group_offsets),
							 group_offsets };
static const struct pbp_group_describe s_group_describe = { "billing" };
static const struct pbp_join_group_reply s_join_group_reply = { 4, "range", "pagebus-x", "pagebus-x",
								 ARRAY_SIZE(members), members };
static const struct pbp_sync_group_reply s_sync_group_reply = { sizeof(assignment_bytes), assignment_bytes };
static const struct pbp_group_list_reply s_group_list_reply = { ARRAY_SIZE(group_infos), group_infos };
static const struct pbp_group_describe_reply s_group_describe_reply = {
	"Stable", "consumer", "range", 4, "pagebus-x", ARRAY_SIZE(member_infos), member_infos,
	ARRAY_SIZE(group_parts), group_parts
};

/* Type-erased access to every encoder/parser pair, generated from the header's lists. */
struct sample {
	const char *name;
	uint16_t type, flags;
	int (*enc)(struct pbp_wbuf *w, uint32_t id, const void *in);
	int (*parse)(struct pbp_rbuf *r, struct pbp_status *st, void *out);
	void (*free)(void *m);
	size_t size;
	const void *in;
	struct {
		size_t off, bytes; /* a pointer member, and the bytes it points to in *in */
	} arrays[2];
};

/* An array member and the sample array it points to. */
#define ARR(T, member, items)                                                                      \
	{                                                                                          \
		offsetof(T, member), sizeof(items)                                                 \
	}

#define REQUEST_WRAPPERS(name, type)                                                               \
	static int enc_##name(struct pbp_wbuf *w, uint32_t id, const void *in)                     \
	{                                                                                          \
		return pbp_enc_##name(w, id, in);                                                  \
	}                                                                                          \
	static int parse_##name(struct pbp_rbuf *r, struct pbp_status *st, void *out)              \
	{                                                                                          \
		st->status = 0;                                                                    \
		return pbp_parse_##name(r, out);                                                   \
	}                                                                                          \
	static void free_##name(void *m)                                                           \
	{                                                                                          \
		pbp_free_##name(m);                                                                \
	}
#define REPLY_WRAPPERS(name, type)                                                                 \
	static int enc_##name##_reply(struct pbp_wbuf *w, uint32_t id, const void *in)             \
	{                                                                                          \
		return pbp_enc_##name##_reply(w, id, in);                                          \
	}                                                                                          \
	static int parse_##name##_reply(struct pbp_rbuf *r, struct pbp_status *st, void *out)      \
	{                                                                                          \
		return pbp_parse_##name##_reply(r, st, out);                                       \
	}                                                                                          \
	static void free_##name##_reply(void *m)                                                   \
	{                                                                                          \
		pbp_free_##name##_reply(m);                                                        \
	}
PBP_REQUESTS(REQUEST_WRAPPERS)
PBP_REPLIES(REPLY_WRAPPERS)

static int enc_topic_list(struct pbp_wbuf *w, uint32_t id, const void *in)
{
	(void)in;
	return pbp_enc_topic_list(w, id);
}
static int parse_topic_list(struct pbp_rbuf *r, struct pbp_status *st, void *out)
{
	(void)out;
	st->status = 0;
	return pbp_parse_topic_list(r);
}
/* The ok reply to TOPIC_DELETE stands for all four field-less replies. */
static int enc_ok_reply(struct pbp_wbuf *w, uint32_t id, const void *in)
{
	(void)in;
	return pbp_enc_ok_reply(w, PBP_TOPIC_DELETE, id);
}
#define ERROR_MESSAGE "topic \"orders\" exists: pick another name or delete it"
static int enc_error_reply(struct pbp_wbuf *w, uint32_t id, const void *in)
{
	(void)in;
	return pbp_enc_error_reply(w, PBP_TOPIC_CREATE, id, -EEXIST, ERROR_MESSAGE);
}
static int parse_status_reply(struct pbp_rbuf *r, struct pbp_status *st, void *out)
{
	(void)out;
	return pbp_parse_status_reply(r, st);
}
static int enc_segment_event(struct pbp_wbuf *w, uint32_t id, const void *in)
{
	(void)id;
	return pbp_enc_segment_event(w, in);
}
static int parse_segment_event(struct pbp_rbuf *r, struct pbp_status *st, void *out)
{
	st->status = 0;
	return pbp_parse_segment_event(r, out);
}
static int enc_group_list(struct pbp_wbuf *w, uint32_t id, const void *in)
{
	(void)in;
	return pbp_enc_group_list(w, id);
}
static int parse_group_list(struct pbp_rbuf *r, struct pbp_status *st, void *out)
{
	(void)out;
	st->status = 0;
	return pbp_parse_group_list(r);
}
static void free_nothing(void *m)
{
	(void)m;
}

/* clang-format off */
#define REQ(n, t, ...)                                                                             \
	{ #n, t, 0, enc_##n, parse_##n, free_##n, sizeof(s_##n), &s_##n, { __VA_ARGS__ } }
#define REP(n, t, ...)                                                                             \
	{ #n "_reply", t, PBP_F_REPLY, enc_##n##_reply, parse_##n##_reply, free_##n##_reply,       \
	  sizeof(s_##n##_reply), &s_##n##_reply, { __VA_ARGS__ } }
#define PUSH(n, t)                                                                                 \
	{ #n, t, PBP_F_PUSH, enc_##n, parse_##n, free_nothing, sizeof(s_##n), &s_##n, { } }
/* a message without a payload struct */
#define BARE(n, t, fl, e, p)                                                                       \
	{ .name = n, .type = t, .flags = fl, .enc = e, .parse = p, .free = free_nothing }
/* clang-format on */

static const struct sample samples[] = {
	REQ(hello, PBP_HELLO),
	REQ(topic_create, PBP_TOPIC_CREATE, ARR(struct pbp_topic_create, configs, configs)),
	REQ(topic_delete, PBP_TOPIC_DELETE),
	BARE("topic_list", PBP_TOPIC_LIST, 0, enc_topic_list, parse_topic_list),
	REQ(topic_describe, PBP_TOPIC_DESCRIBE),
	REQ(open_producer, PBP_OPEN_PRODUCER),
	REQ(close_producer, PBP_CLOSE_PRODUCER),
	REQ(open_consumer, PBP_OPEN_CONSUMER,
	    ARR(struct pbp_open_consumer, partitions, wanted_partitions)),
	REQ(close_consumer, PBP_CLOSE_CONSUMER),
	REQ(get_segments, PBP_GET_SEGMENTS),
	REQ(commit_offset, PBP_COMMIT_OFFSET),
	REQ(fetch_offset, PBP_FETCH_OFFSET),
	REQ(join_group, PBP_JOIN_GROUP, ARR(struct pbp_join_group, protocols, protocols)),
	REQ(sync_group, PBP_SYNC_GROUP, ARR(struct pbp_sync_group, assignments, members)),
	REQ(heartbeat, PBP_HEARTBEAT),
	REQ(leave_group, PBP_LEAVE_GROUP),
	REQ(group_commit, PBP_GROUP_COMMIT, ARR(struct pbp_group_commit, offsets, group_offsets)),
	BARE("group_list", PBP_GROUP_LIST, 0, enc_group_list, parse_group_list),
	REQ(group_describe, PBP_GROUP_DESCRIBE),
	REP(hello, PBP_HELLO),
	REP(topic_create, PBP_TOPIC_CREATE),
	REP(topic_list, PBP_TOPIC_LIST, ARR(struct pbp_topic_list_reply, topics, topics)),
	REP(topic_describe, PBP_TOPIC_DESCRIBE,
	    ARR(struct pbp_topic_describe_reply, configs, configs),
	    ARR(struct pbp_topic_describe_reply, parts, parts)),
	REP(open_producer, PBP_OPEN_PRODUCER),
	REP(open_consumer, PBP_OPEN_CONSUMER, ARR(struct pbp_open_consumer_reply, slots, slots)),
	REP(get_segments, PBP_GET_SEGMENTS, ARR(struct pbp_get_segments_reply, segments, segments)),
	REP(fetch_offset, PBP_FETCH_OFFSET),
	REP(join_group, PBP_JOIN_GROUP, ARR(struct pbp_join_group_reply, members, members)),
	REP(sync_group, PBP_SYNC_GROUP, ARR(struct pbp_sync_group_reply, assignment, assignment_bytes)),
	REP(group_list, PBP_GROUP_LIST, ARR(struct pbp_group_list_reply, groups, group_infos)),
	REP(group_describe, PBP_GROUP_DESCRIBE,
	    ARR(struct pbp_group_describe_reply, members, member_infos),
	    ARR(struct pbp_group_describe_reply, parts, group_parts)),
	BARE("ok_reply", PBP_TOPIC_DELETE, PBP_F_REPLY, enc_ok_reply, parse_status_reply),
	BARE("error_reply", PBP_TOPIC_CREATE, PBP_F_REPLY, enc_error_reply, parse_status_reply),
	PUSH(segment_event, PBP_SEGMENT_EVENT),
};

/* out (parsed) equals the sample: every array's bytes, then the struct with its pointers. */
static void assert_same_message(const struct sample *s, const void *out)
{
	uint8_t *copy = exact_copy(out, s->size);

	for (size_t i = 0; i < ARRAY_SIZE(s->arrays) && s->arrays[i].bytes; i++) {
		const void *want = *(void *const *)((const uint8_t *)s->in + s->arrays[i].off);
		void **got = (void **)(copy + s->arrays[i].off);

		assert_non_null(*got);
		assert_memory_equal(want, *got, s->arrays[i].bytes);
		*got = (void *)want;
	}
	if (s->size)
		assert_memory_equal(s->in, copy, s->size);
	free(copy);
}

static uint8_t buf1[PBP_MAX_MSG], buf2[PBP_MAX_MSG];

/* Encodes a sample into buf1; returns its size. */
static size_t encode_sample(const struct sample *s, uint32_t id)
{
	struct pbp_wbuf w;

	pbp_w_init(&w, buf1, sizeof(buf1));
	int n = s->enc(&w, id, s->in);

	assert_true(n >= PBP_HDR_SIZE);
	return (size_t)n;
}

/* ---- the bytes docs/protocol.md shows -------------------------------------------- */

/* clang-format off */
static const uint8_t documented_hello[29] = {
	0x4d, 0x53, 0x42, 0x50, /* magic 0x5042534D */
	0x01, 0x00,             /* type 1 HELLO */
	0x00, 0x00,             /* flags 0: request */
	0x01, 0x00, 0x00, 0x00, /* id 1 */
	0x0d, 0x00, 0x00, 0x00, /* len 13 */
	0x01, 0x00, 0x00, 0x00, /* min_version 1 */
	0x01, 0x00, 0x00, 0x00, /* max_version 1 */
	0x03, 0x00, 'c', 'l', 'i', /* client_name "cli" */
};
static const uint8_t documented_error_reply[41] = {
	0x4d, 0x53, 0x42, 0x50, /* magic */
	0x02, 0x00,             /* type 2 TOPIC_CREATE */
	0x01, 0x00,             /* flags 1: REPLY */
	0x07, 0x00, 0x00, 0x00, /* id 7 */
	0x19, 0x00, 0x00, 0x00, /* len 25 */
	0xef, 0xff, 0xff, 0xff, /* status -17 (-EEXIST) */
	0x13, 0x00, 't', 'o', 'p', 'i', 'c', ' ', 'o', 'r', 'd', 'e', 'r', 's', ' ',
	'e', 'x', 'i', 's', 't', 's',
};
/* clang-format on */

static void test_protocol_encodes_the_documented_bytes(void **state)
{
	struct pbp_hello hello = { 1, 1, "cli" };
	struct pbp_wbuf w;

	(void)state;
	pbp_w_init(&w, buf1, sizeof(buf1));
	assert_int_equal(pbp_enc_hello(&w, 1, &hello), sizeof(documented_hello));
	assert_memory_equal(buf1, documented_hello, sizeof(documented_hello));
	assert_int_equal(
		pbp_enc_error_reply(&w, PBP_TOPIC_CREATE, 7, -EEXIST, "topic orders exists"),
		sizeof(documented_error_reply));
	assert_memory_equal(buf1, documented_error_reply, sizeof(documented_error_reply));
}

static void test_protocol_parses_the_documented_bytes(void **state)
{
	struct pbp_hdr h;
	struct pbp_rbuf r;
	struct pbp_hello hello;
	struct pbp_status st;
	struct pbp_topic_create_reply rep;

	(void)state;
	assert_int_equal(pbp_msg_parse(documented_hello, sizeof(documented_hello), &h, &r), 0);
	assert_int_equal(h.magic, PBP_MAGIC);
	assert_int_equal(h.type, PBP_HELLO);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.id, 1);
	assert_int_equal(h.len, 13);
	assert_int_equal(pbp_parse_hello(&r, &hello), 0);
	assert_int_equal(hello.min_version, 1);
	assert_int_equal(hello.max_version, 1);
	assert_string_equal(hello.client_name, "cli");

	assert_int_equal(
		pbp_msg_parse(documented_error_reply, sizeof(documented_error_reply), &h, &r), 0);
	assert_int_equal(h.flags, PBP_F_REPLY);
	assert_int_equal(h.id, 7);
	assert_int_equal(pbp_parse_topic_create_reply(&r, &st, &rep), 0);
	assert_int_equal(st.status, -EEXIST);
	assert_string_equal(st.message, "topic orders exists");
	assert_int_equal(rep.topic_id, 0); /* no fields on error */
}

/* ---- round trips ---------------------------------------------------------------- */

static void w_configs(struct pbp_wbuf *w, const struct pbp_config *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		pbp_w_str(w, c[i].key);
		pbp_w_str(w, c[i].value);
	}
}

/*
 * The samples' payloads written field by field from the message list in
 * docs/protocol.md, with the bare writer: catches a field out of order in the codec's
 * tables, which a round trip through those same tables cannot.
 */
static void spec_payload(struct pbp_wbuf *w, const struct sample *s)
{
	const void *in = s->in;
	bool error = s->enc == enc_error_reply;

	if (s->flags == PBP_F_REPLY) {
		pbp_w_i32(w, error ? -EEXIST : 0);
		pbp_w_str(w, error ? ERROR_MESSAGE : "");
	}
	if (!in)
		return; /* TOPIC_LIST request, replies without fields */
	switch (s->flags << 8 | s->type) {
	case PBP_HELLO: {
		const struct pbp_hello *m = in;

		pbp_w_u32(w, m->min_version);
		pbp_w_u32(w, m->max_version);
		pbp_w_str(w, m->client_name);
		break;
	}
	case PBP_TOPIC_CREATE: {
		const struct pbp_topic_create *m = in;

		pbp_w_str(w, m->name);
		pbp_w_i32(w, m->partitions);
		pbp_w_u32(w, m->nconfigs);
		w_configs(w, m->configs, m->nconfigs);
		break;
	}
	case PBP_TOPIC_DELETE:
	case PBP_TOPIC_DESCRIBE:
		pbp_w_str(w, ((const struct pbp_topic_delete *)in)->name);
		break;
	case PBP_OPEN_PRODUCER:
		pbp_w_str(w, ((const struct pbp_open_producer *)in)->topic);
		pbp_w_u32(w, ((const struct pbp_open_producer *)in)->ring_bytes);
		break;
	case PBP_CLOSE_PRODUCER:
	case PBP_CLOSE_CONSUMER:
		pbp_w_u32(w, *(const uint32_t *)in);
		break;
	case PBP_OPEN_CONSUMER: {
		const struct pbp_open_consumer *m = in;

		pbp_w_str(w, m->topic);
		pbp_w_u32(w, m->n);
		for (uint32_t i = 0; i < m->n; i++)
			pbp_w_i32(w, m->partitions[i]);
		break;
	}
	case PBP_GET_SEGMENTS: {
		const struct pbp_get_segments *m = in;

		pbp_w_u32(w, m->topic_id);
		pbp_w_i32(w, m->partition);
		pbp_w_i64(w, m->from_offset);
		break;
	}
	case PBP_COMMIT_OFFSET:
	case PBP_FETCH_OFFSET: {
		const struct pbp_commit_offset *m = in; /* fetch_offset is its prefix */

		pbp_w_str(w, m->name);
		pbp_w_str(w, m->topic);
		pbp_w_i32(w, m->partition);
		if (s->type == PBP_COMMIT_OFFSET)
			pbp_w_i64(w, m->next_offset);
		break;
	}
	case PBP_F_REPLY << 8 | PBP_HELLO:
	case PBP_F_REPLY << 8 | PBP_OPEN_PRODUCER: /* four u32/i32 fields alike */
		for (int i = 0; i < 4; i++)
			pbp_w_u32(w, ((const uint32_t *)in)[i]);
		break;
	case PBP_F_REPLY << 8 | PBP_TOPIC_CREATE:
		pbp_w_u32(w, ((const struct pbp_topic_create_reply *)in)->topic_id);
		pbp_w_i32(w, ((const struct pbp_topic_create_reply *)in)->partitions);
		break;
	case PBP_F_REPLY << 8 | PBP_TOPIC_LIST: {
		const struct pbp_topic_list_reply *m = in;

		pbp_w_u32(w, m->n);
		for (uint32_t i = 0; i < m->n; i++) {
			pbp_w_str(w, m->topics[i].name);
			pbp_w_u32(w, m->topics[i].topic_id);
			pbp_w_i32(w, m->topics[i].partitions);
		}
		break;
	}
	case PBP_F_REPLY << 8 | PBP_TOPIC_DESCRIBE: {
		const struct pbp_topic_describe_reply *m = in;

		pbp_w_u32(w, m->topic_id);
		pbp_w_i32(w, m->partitions);
		pbp_w_u32(w, m->nconfigs);
		w_configs(w, m->configs, m->nconfigs);
		for (int32_t i = 0; i < m->partitions; i++) {
			const struct pbp_partition_info *p = &m->parts[i];

			pbp_w_i32(w, p->partition);
			pbp_w_u32(w, p->slot);
			pbp_w_i64(w, p->log_start);
			pbp_w_i64(w, p->hwm);
			pbp_w_u32(w, p->segments);
			pbp_w_u64(w, p->bytes);
		}
		break;
	}
	case PBP_F_REPLY << 8 | PBP_OPEN_CONSUMER: {
		const struct pbp_open_consumer_reply *m = in;

		pbp_w_u32(w, m->consumer_id);
		pbp_w_u32(w, m->topic_id);
		pbp_w_i32(w, m->partitions);
		pbp_w_u32(w, m->m);
		for (uint32_t i = 0; i < m->m; i++) {
			pbp_w_i32(w, m->slots[i].partition);
			pbp_w_u32(w, m->slots[i].slot);
			pbp_w_u32(w, m->slots[i].slot_epoch);
		}
		break;
	}
	case PBP_F_REPLY << 8 | PBP_GET_SEGMENTS: {
		const struct pbp_get_segments_reply *m = in;

		pbp_w_u32(w, m->n);
		for (uint32_t i = 0; i < m->n; i++) {
			pbp_w_i64(w, m->segments[i].base_offset);
			pbp_w_i64(w, m->segments[i].end_offset);
		}
		pbp_w_u8(w, m->more);
		break;
	}
	case PBP_F_REPLY << 8 | PBP_FETCH_OFFSET:
		pbp_w_i64(w, ((const struct pbp_fetch_offset_reply *)in)->next_offset);
		break;
	case PBP_JOIN_GROUP: {
		const struct pbp_join_group *m = in;

		pbp_w_str(w, m->group);
		pbp_w_str(w, m->member_id);
		pbp_w_str(w, m->client_id);
		pbp_w_i32(w, m->session_timeout_ms);
		pbp_w_i32(w, m->rebalance_timeout_ms);
		pbp_w_str(w, m->protocol_type);
		pbp_w_u32(w, m->nprotocols);
		for (uint32_t i = 0; i < m->nprotocols; i++) {
			pbp_w_str(w, m->protocols[i].name);
			pbp_w_u32(w, m->protocols[i].len);
			pbp_w_bytes(w, m->protocols[i].meta, m->protocols[i].len);
		}
		break;
	}
	case PBP_SYNC_GROUP: {
		const struct pbp_sync_group *m = in;

		pbp_w_str(w, m->group);
		pbp_w_i32(w, m->generation);
		pbp_w_str(w, m->member_id);
		pbp_w_u32(w, m->nassignments);
		for (uint32_t i = 0; i < m->nassignments; i++) {
			pbp_w_str(w, m->assignments[i].member_id);
			pbp_w_u32(w, m->assignments[i].len);
			pbp_w_bytes(w, m->assignments[i].data, m->assignments[i].len);
		}
		break;
	}
	case PBP_HEARTBEAT: {
		const struct pbp_heartbeat *m = in;

		pbp_w_str(w, m->group);
		pbp_w_i32(w, m->generation);
		pbp_w_str(w, m->member_id);
		break;
	}
	case PBP_LEAVE_GROUP:
		pbp_w_str(w, ((const struct pbp_leave_group *)in)->group);
		pbp_w_str(w, ((const struct pbp_leave_group *)in)->member_id);
		break;
	case PBP_GROUP_COMMIT: {
		const struct pbp_group_commit *m = in;

		pbp_w_str(w, m->group);
		pbp_w_i32(w, m->generation);
		pbp_w_str(w, m->member_id);
		pbp_w_u32(w, m->n);
		for (uint32_t i = 0; i < m->n; i++) {
			pbp_w_str(w, m->offsets[i].topic);
			pbp_w_i32(w, m->offsets[i].partition);
			pbp_w_i64(w, m->offsets[i].next_offset);
		}
		break;
	}
	case PBP_GROUP_DESCRIBE:
		pbp_w_str(w, ((const struct pbp_group_describe *)in)->group);
		break;
	case PBP_F_REPLY << 8 | PBP_JOIN_GROUP: {
		const struct pbp_join_group_reply *m = in;

		pbp_w_i32(w, m->generation);
		pbp_w_str(w, m->protocol);
		pbp_w_str(w, m->leader);
		pbp_w_str(w, m->member_id);
		pbp_w_u32(w, m->nmembers);
		for (uint32_t i = 0; i < m->nmembers; i++) {
			pbp_w_str(w, m->members[i].member_id);
			pbp_w_u32(w, m->members[i].len);
			pbp_w_bytes(w, m->members[i].data, m->members[i].len);
		}
		break;
	}
	case PBP_F_REPLY << 8 | PBP_SYNC_GROUP: {
		const struct pbp_sync_group_reply *m = in;

		pbp_w_u32(w, m->len);
		pbp_w_bytes(w, m->assignment, m->len);
		break;
	}
	case PBP_F_REPLY << 8 | PBP_GROUP_LIST: {
		const struct pbp_group_list_reply *m = in;

		pbp_w_u32(w, m->n);
		for (uint32_t i = 0; i < m->n; i++) {
			pbp_w_str(w, m->groups[i].name);
			pbp_w_str(w, m->groups[i].state);
			pbp_w_str(w, m->groups[i].protocol_type);
			pbp_w_str(w, m->groups[i].protocol);
			pbp_w_i32(w, m->groups[i].generation);
			pbp_w_u32(w, m->groups[i].members);
		}
		break;
	}
	case PBP_F_REPLY << 8 | PBP_GROUP_DESCRIBE: {
		const struct pbp_group_describe_reply *m = in;

		pbp_w_str(w, m->state);
		pbp_w_str(w, m->protocol_type);
		pbp_w_str(w, m->protocol);
		pbp_w_i32(w, m->generation);
		pbp_w_str(w, m->leader);
		pbp_w_u32(w, m->nmembers);
		for (uint32_t i = 0; i < m->nmembers; i++) {
			pbp_w_str(w, m->members[i].member_id);
			pbp_w_str(w, m->members[i].client_id);
			pbp_w_str(w, m->members[i].host);
			pbp_w_u8(w, m->members[i].kafka);
		}
		pbp_w_u32(w, m->nparts);
		for (uint32_t i = 0; i < m->nparts; i++) {
			pbp_w_str(w, m->parts[i].topic);
			pbp_w_i32(w, m->parts[i].partition);
			pbp_w_i32(w, m->parts[i].member);
			pbp_w_i64(w, m->parts[i].committed);
			pbp_w_i64(w, m->parts[i].log_start);
			pbp_w_i64(w, m->parts[i].hwm);
		}
		break;
	}
	case PBP_F_PUSH << 8 | PBP_SEGMENT_EVENT: {
		const struct pbp_segment_event *m = in;

		pbp_w_u32(w, m->topic_id);
		pbp_w_i32(w, m->partition);
		pbp_w_u32(w, m->event);
		pbp_w_i64(w, m->base_offset);
		break;
	}
	default:
		fail_msg("%s: no documented layout", s->name);
	}
}

static void test_protocol_tables_follow_the_documented_field_order(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++) {
		const struct sample *s = &samples[i];
		size_t n = encode_sample(s, 77);
		struct pbp_wbuf w;

		pbp_w_init(&w, buf2, sizeof(buf2));
		pbp_msg_begin(&w, s->type, s->flags, s->flags == PBP_F_PUSH ? 0 : 77);
		spec_payload(&w, s);
		if (pbp_msg_end(&w) != (int)n || memcmp(buf1, buf2, n))
			fail_msg("%s: the codec's bytes differ from the documented layout",
				 s->name);
	}
}

static void test_protocol_every_message_round_trips(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++) {
		const struct sample *s = &samples[i];
		uint32_t id = s->flags == PBP_F_PUSH ? 0 : 1000 + (uint32_t)i;
		size_t n = encode_sample(s, id);
		struct pbp_hdr h;
		struct pbp_rbuf r;
		struct pbp_status st;
		void *out = calloc(1, s->size ? s->size : 1);

		assert_non_null(out);
		assert_int_equal(pbp_validate(buf1, n), 0);
		assert_int_equal(pbp_msg_parse(buf1, n, &h, &r), 0);
		assert_int_equal(h.type, s->type);
		assert_int_equal(h.flags, s->flags);
		assert_int_equal(h.id, id);
		assert_int_equal(h.len, n - PBP_HDR_SIZE);
		assert_int_equal(s->parse(&r, &st, out), 0);
		assert_same_message(s, out);

		/* encoding what was parsed gives the same bytes */
		struct pbp_wbuf w;

		pbp_w_init(&w, buf2, sizeof(buf2));
		if (st.status == 0)
			assert_int_equal(s->enc(&w, id, s->in ? out : NULL), (int)n);
		else
			assert_int_equal(pbp_enc_error_reply(&w, h.type, id, st.status, st.message),
					 (int)n);
		assert_memory_equal(buf1, buf2, n);
		s->free(out);
		free(out);
	}
}

static void test_protocol_error_reply_carries_status_and_message_only(void **state)
{
	struct pbp_wbuf w;
	struct pbp_hdr h;
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_topic_describe_reply out;
	int n;

	(void)state;
	pbp_w_init(&w, buf1, sizeof(buf1));
	n = pbp_enc_error_reply(&w, PBP_TOPIC_DESCRIBE, 5, -ENOENT,
				"no topic \"x\": create it with `pagebus topics create x`");
	assert_true(n > 0);
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
	assert_int_equal(pbp_parse_topic_describe_reply(&r, &st, &out), 0);
	assert_int_equal(st.status, -ENOENT);
	assert_string_equal(st.message, "no topic \"x\": create it with `pagebus topics create x`");
	assert_null(out.configs);
	assert_null(out.parts);
	assert_int_equal(out.partitions, 0);

	/* fields after an error status are leftovers */
	pbp_reply_begin(&w, PBP_HELLO, 1, -EPROTONOSUPPORT, "too old");
	pbp_w_u32(&w, 1);
	n = pbp_msg_end(&w);
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
	struct pbp_hello_reply hr;

	assert_int_equal(pbp_parse_hello_reply(&r, &st, &hr), -EPROTO);
	assert_string_equal(r.what, "trailing bytes");

	/* a positive status is not a status */
	pbp_msg_begin(&w, PBP_HELLO, PBP_F_REPLY, 1);
	pbp_w_i32(&w, 5);
	pbp_w_str(&w, "");
	n = pbp_msg_end(&w);
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
	assert_int_equal(pbp_parse_hello_reply(&r, &st, &hr), -EPROTO);
	assert_string_equal(r.what, "status");
	assert_int_equal(pbp_enc_error_reply(&w, PBP_HELLO, 1, 5, "no"), -EINVAL);

	/* a success has an empty message (found by tests/fuzz/fuzz_protocol.c: one with a
	 * message parsed, and no encoder writes it back) */
	pbp_reply_begin(&w, PBP_CLOSE_CONSUMER, 5, 0, "unknown topic 'x'");
	n = pbp_msg_end(&w);
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
	assert_int_equal(pbp_parse_status_reply(&r, &st), -EPROTO);
	assert_string_equal(r.what, "status");
	assert_int_equal(pbp_validate(buf1, (size_t)n), -EPROTO);
}

static void test_protocol_long_error_message_is_cut_to_max_string(void **state)
{
	char *msg = malloc(PBP_MAX_STR + 100);
	struct pbp_wbuf w;
	struct pbp_hdr h;
	struct pbp_rbuf r;
	struct pbp_status st;
	int n;

	(void)state;
	assert_non_null(msg);
	memset(msg, 'm', PBP_MAX_STR + 99);
	msg[PBP_MAX_STR + 99] = '\0';
	pbp_w_init(&w, buf1, sizeof(buf1));
	n = pbp_enc_error_reply(&w, PBP_OPEN_PRODUCER, 3, -ENOMEM, msg);
	assert_int_equal(n, PBP_HDR_SIZE + 4 + 2 + PBP_MAX_STR);
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
	assert_int_equal(pbp_parse_status_reply(&r, &st), 0);
	assert_int_equal(strlen(st.message), PBP_MAX_STR);
	free(msg);
}

/* ---- hostile input -------------------------------------------------------------- */

static void put_len(uint8_t *msg, uint32_t len)
{
	msg[12] = (uint8_t)len;
	msg[13] = (uint8_t)(len >> 8);
	msg[14] = (uint8_t)(len >> 16);
	msg[15] = (uint8_t)(len >> 24);
}

static void test_protocol_truncation_at_every_byte_is_eproto(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++) {
		const struct sample *s = &samples[i];
		size_t n = encode_sample(s, 1);

		for (size_t cut = 0; cut < n; cut++) {
			uint8_t *c = exact_copy(buf1, cut);

			/* as received: the header's len no longer matches */
			assert_int_equal(pbp_validate(c, cut), -EPROTO);
			/* len patched to match: the payload parser must catch it */
			if (cut >= PBP_HDR_SIZE) {
				put_len(c, (uint32_t)(cut - PBP_HDR_SIZE));
				if (pbp_validate(c, cut) != -EPROTO)
					fail_msg("%s cut at %zu of %zu parsed", s->name, cut, n);

				struct pbp_hdr h;
				struct pbp_rbuf r;
				struct pbp_status st;
				void *out = calloc(1, s->size ? s->size : 1);

				assert_int_equal(pbp_msg_parse(c, cut, &h, &r), 0);
				assert_int_equal(s->parse(&r, &st, out), -EPROTO);
				assert_int_equal(r.err, -EPROTO);
				assert_non_null(r.what);
				for (size_t k = 0; k < s->size; k++) /* left zeroed */
					assert_int_equal(((uint8_t *)out)[k], 0);
				s->free(out); /* a no-op on a zeroed struct */
				free(out);
			}
			free(c);
		}
	}
}

static void test_protocol_rejects_bad_header(void **state)
{
	struct pbp_hdr h;
	struct pbp_rbuf r;
	size_t n;

	(void)state;
	n = encode_sample(&samples[0], 1);

	buf1[0] ^= 1; /* wrong magic */
	assert_int_equal(pbp_msg_parse(buf1, n, &h, &r), -EPROTO);
	assert_int_equal(r.err, -EPROTO);
	assert_string_equal(r.what, "header");
	buf1[0] ^= 1;
	assert_int_equal(pbp_msg_parse(buf1, n, &h, &r), 0);

	put_len(buf1, (uint32_t)(n - PBP_HDR_SIZE + 1)); /* len says more than arrived */
	assert_int_equal(pbp_msg_parse(buf1, n, &h, &r), -EPROTO);
	put_len(buf1, (uint32_t)(n - PBP_HDR_SIZE - 1)); /* len says less */
	assert_int_equal(pbp_msg_parse(buf1, n, &h, &r), -EPROTO);
	put_len(buf1, UINT32_MAX);
	assert_int_equal(pbp_msg_parse(buf1, n, &h, &r), -EPROTO);
	put_len(buf1, (uint32_t)(n - PBP_HDR_SIZE));

	buf1[6] = PBP_F_REPLY | PBP_F_PUSH; /* both flags */
	assert_int_equal(pbp_msg_parse(buf1, n, &h, &r), -EPROTO);
	buf1[6] = 4; /* unknown flag */
	assert_int_equal(pbp_msg_parse(buf1, n, &h, &r), -EPROTO);
	buf1[6] = 0;

	/* a push carries id 0 (found by tests/fuzz/fuzz_protocol.c: a push with id 8 parsed,
	 * and nothing can encode it back) */
	struct pbp_wbuf w;
	pbp_w_init(&w, buf2, sizeof(buf2));
	int m = pbp_enc_segment_event(&w, &(struct pbp_segment_event){ 1, 0, PBP_SEG_ROLLED, 4711 });
	assert_true(m > 0);
	assert_int_equal(pbp_msg_parse(buf2, (size_t)m, &h, &r), 0);
	buf2[8] = 8;
	assert_int_equal(pbp_msg_parse(buf2, (size_t)m, &h, &r), -EPROTO);
	assert_int_equal(pbp_validate(buf2, (size_t)m), -EPROTO);

	assert_int_equal(pbp_msg_parse(buf1, 15, &h, &r), -EPROTO);
	put_len(buf1, PBP_MAX_MSG + 1 - PBP_HDR_SIZE); /* over the datagram limit */
	assert_int_equal(pbp_msg_parse(buf1, PBP_MAX_MSG + 1, &h, &r), -EPROTO);
	put_len(buf1, PBP_MAX_MSG - PBP_HDR_SIZE);
	assert_int_equal(pbp_msg_parse(buf1, PBP_MAX_MSG, &h, &r), 0);
}

static void test_protocol_rejects_unknown_type_and_wrong_direction(void **state)
{
	struct pbp_wbuf w;
	int n;

	(void)state;
	pbp_w_init(&w, buf1, sizeof(buf1));
	pbp_msg_begin(&w, PBP_REQUEST_LAST + 1, 0, 1);
	n = pbp_msg_end(&w);
	assert_int_equal(pbp_validate(buf1, (size_t)n), -EPROTO);
	pbp_msg_begin(&w, 0, 0, 1);
	n = pbp_msg_end(&w);
	assert_int_equal(pbp_validate(buf1, (size_t)n), -EPROTO);
	/* a SEGMENT_EVENT is only a push; a request type is never one */
	n = pbp_enc_segment_event(&w, &s_segment_event);
	buf1[6] = 0;
	assert_int_equal(pbp_validate(buf1, (size_t)n), -EPROTO);
	n = pbp_enc_close_consumer(&w, 1, &s_close_consumer);
	buf1[6] = PBP_F_PUSH;
	assert_int_equal(pbp_validate(buf1, (size_t)n), -EPROTO);
	assert_string_equal(pbp_type_name(PBP_GET_SEGMENTS), "GET_SEGMENTS");
	assert_string_equal(pbp_type_name(PBP_SEGMENT_EVENT), "SEGMENT_EVENT");
	assert_string_equal(pbp_type_name(0), "unknown");
	assert_string_equal(pbp_type_name(PBP_JOIN_GROUP), "JOIN_GROUP");
	assert_string_equal(pbp_type_name(PBP_REQUEST_LAST + 1), "unknown");
	assert_string_equal(pbp_type_name(65535), "unknown");
}

/* Byte arrays inside array items (protocol metadata, assignments) round-trip; a byte
 * count past its bound or past the payload is malformed. */
static void test_protocol_group_bytes_round_trip(void **state)
{
	static uint8_t meta[PBP_MAX_GROUP_BYTES];
	struct pbp_group_protocol p[2] = { { "range", 5, (uint8_t *)"\0\0\0\0\1" },
					   { "roundrobin", sizeof(meta), meta } };
	struct pbp_join_group in = { "g", "m", "c", 6000, 6000, "consumer", 2, p }, out;
	struct pbp_wbuf w;
	struct pbp_hdr h;
	struct pbp_rbuf r;

	(void)state;
	for (size_t i = 0; i < sizeof(meta); i++)
		meta[i] = (uint8_t)(i * 7);
	pbp_w_init(&w, buf1, sizeof(buf1));
	int n = pbp_enc_join_group(&w, 3, &in);

	assert_true(n > (int)sizeof(meta));
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
	assert_int_equal(pbp_parse_join_group(&r, &out), 0);
	assert_int_equal(out.nprotocols, 2);
	assert_string_equal(out.protocols[1].name, "roundrobin");
	assert_int_equal(out.protocols[0].len, 5);
	assert_memory_equal(out.protocols[0].meta, "\0\0\0\0\1", 5);
	assert_int_equal(out.protocols[1].len, sizeof(meta));
	assert_memory_equal(out.protocols[1].meta, meta, sizeof(meta));
	pbp_free_join_group(&out);

	/* one byte over the bound: the encoder refuses, a hand-built message is malformed */
	struct pbp_sync_group_reply big = { PBP_MAX_GROUP_BYTES + 1, meta }, rep;
	struct pbp_status st;

	assert_int_equal(pbp_enc_sync_group_reply(&w, 1, &big), -EINVAL);
	pbp_reply_begin(&w, PBP_SYNC_GROUP, 1, 0, "");
	pbp_w_u32(&w, PBP_MAX_GROUP_BYTES + 1);
	for (int i = 0; i <= PBP_MAX_GROUP_BYTES; i++)
		pbp_w_u8(&w, 1);
	n = pbp_msg_end(&w);
	assert_true(n > 0);
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
	assert_int_equal(pbp_parse_sync_group_reply(&r, &st, &rep), -EPROTO);
	assert_null(rep.assignment);

	/* a count past the bytes present */
	pbp_msg_begin(&w, PBP_JOIN_GROUP, 0, 1);
	pbp_w_str(&w, "g");
	pbp_w_str(&w, "");
	pbp_w_str(&w, "");
	pbp_w_i32(&w, 6000);
	pbp_w_i32(&w, 6000);
	pbp_w_str(&w, "consumer");
	pbp_w_u32(&w, 1);
	pbp_w_str(&w, "range");
	pbp_w_u32(&w, 1000);
	pbp_w_u8(&w, 0);
	n = pbp_msg_end(&w);
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
	assert_int_equal(pbp_parse_join_group(&r, &out), -EPROTO);
	assert_int_equal(out.nprotocols, 0);
}

/* Parses a hand-built TOPIC_CREATE payload. */
static int parse_topic_create_bytes(struct pbp_wbuf *w, struct pbp_rbuf *r,
				    struct pbp_topic_create *out)
{
	struct pbp_hdr h;
	int n = pbp_msg_end(w);

	assert_true(n > 0);
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, r), 0);
	return pbp_parse_topic_create(r, out);
}

static void test_protocol_rejects_string_longer_than_its_buffer(void **state)
{
	char name[PBP_NAME_MAX + 2];
	struct pbp_wbuf w;
	struct pbp_rbuf r;
	struct pbp_topic_create tc;

	(void)state;
	memset(name, 'n', sizeof(name));
	name[PBP_NAME_MAX] = '\0'; /* 255 bytes: fits */
	pbp_w_init(&w, buf1, sizeof(buf1));
	pbp_msg_begin(&w, PBP_TOPIC_CREATE, 0, 1);
	pbp_w_str(&w, name);
	pbp_w_i32(&w, 1);
	pbp_w_u32(&w, 0);
	assert_int_equal(parse_topic_create_bytes(&w, &r, &tc), 0);
	assert_int_equal(strlen(tc.name), PBP_NAME_MAX);

	name[PBP_NAME_MAX] = 'n'; /* 256 bytes: one too many */
	name[PBP_NAME_MAX + 1] = '\0';
	pbp_msg_begin(&w, PBP_TOPIC_CREATE, 0, 1);
	pbp_w_str(&w, name);
	pbp_w_i32(&w, 1);
	pbp_w_u32(&w, 0);
	assert_int_equal(parse_topic_create_bytes(&w, &r, &tc), -EPROTO);
	assert_string_equal(r.what, "name");
	assert_string_equal(tc.name, "");

	/* a config value one byte over its buffer, inside the array */
	char value[PBP_VALUE_MAX + 2];

	memset(value, 'v', sizeof(value));
	value[PBP_VALUE_MAX + 1] = '\0';
	pbp_msg_begin(&w, PBP_TOPIC_CREATE, 0, 1);
	pbp_w_str(&w, "t");
	pbp_w_i32(&w, 1);
	pbp_w_u32(&w, 2);
	pbp_w_str(&w, "k");
	pbp_w_str(&w, "v");
	pbp_w_str(&w, "k2");
	pbp_w_str(&w, value);
	assert_int_equal(parse_topic_create_bytes(&w, &r, &tc), -EPROTO);
	assert_string_equal(r.what, "value");
	assert_null(tc.configs); /* freed by the parser */
	assert_int_equal(tc.nconfigs, 0);

	/* a NUL inside a string */
	pbp_msg_begin(&w, PBP_TOPIC_CREATE, 0, 1);
	pbp_w_u16(&w, 3);
	pbp_w_bytes(&w, "a\0b", 3);
	pbp_w_i32(&w, 1);
	pbp_w_u32(&w, 0);
	assert_int_equal(parse_topic_create_bytes(&w, &r, &tc), -EPROTO);
	assert_string_equal(r.what, "name");
}

static void test_protocol_reader_rejects_string_over_max_even_with_room(void **state)
{
	uint8_t raw[2 + PBP_MAX_STR + 1];
	char *out = malloc(PBP_MAX_STR + 16);
	struct pbp_rbuf r;

	(void)state;
	assert_non_null(out);
	memset(raw, 'x', sizeof(raw));
	raw[0] = (PBP_MAX_STR + 1) & 0xff;
	raw[1] = (PBP_MAX_STR + 1) >> 8;
	pbp_r_init(&r, raw, sizeof(raw));
	assert_int_equal(pbp_r_str(&r, out, PBP_MAX_STR + 16), -EPROTO);
	assert_ptr_equal(r.p, raw); /* left where the failed read started */
	assert_string_equal(out, "");

	raw[0] = PBP_MAX_STR & 0xff;
	raw[1] = PBP_MAX_STR >> 8;
	pbp_r_init(&r, raw, 2 + PBP_MAX_STR);
	assert_int_equal(pbp_r_str(&r, out, PBP_MAX_STR + 1), PBP_MAX_STR);
	assert_int_equal(pbp_r_done(&r), 0);
	free(out);
}

static void test_protocol_rejects_count_larger_than_payload(void **state)
{
	struct pbp_wbuf w;
	struct pbp_hdr h;
	struct pbp_rbuf r;
	struct pbp_status st;
	int n;

	(void)state;
	pbp_w_init(&w, buf1, sizeof(buf1));

	/* TOPIC_LIST reply claiming 2^32 - 1 topics, one present */
	struct pbp_topic_list_reply tl;

	pbp_reply_begin(&w, PBP_TOPIC_LIST, 1, 0, "");
	pbp_w_u32(&w, 0xFFFFFFFF);
	pbp_w_str(&w, "t");
	pbp_w_u32(&w, 1);
	pbp_w_i32(&w, 1);
	n = pbp_msg_end(&w);
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
	assert_int_equal(pbp_parse_topic_list_reply(&r, &st, &tl), -EPROTO);
	assert_string_equal(r.what, "topics");
	assert_null(tl.topics);

	/* OPEN_CONSUMER with 5 partitions announced, 4 present */
	struct pbp_open_consumer oc;

	pbp_msg_begin(&w, PBP_OPEN_CONSUMER, 0, 1);
	pbp_w_str(&w, "t");
	pbp_w_u32(&w, 5);
	for (int i = 0; i < 4; i++)
		pbp_w_i32(&w, i);
	n = pbp_msg_end(&w);
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
	assert_int_equal(pbp_parse_open_consumer(&r, &oc), -EPROTO);
	assert_string_equal(r.what, "partitions");

	/* 10001 partitions present: over the bound even though the bytes are there */
	pbp_msg_begin(&w, PBP_OPEN_CONSUMER, 0, 1);
	pbp_w_str(&w, "t");
	pbp_w_u32(&w, PBP_MAX_PARTITIONS + 1);
	for (int i = 0; i <= PBP_MAX_PARTITIONS; i++)
		pbp_w_i32(&w, i);
	n = pbp_msg_end(&w);
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
	assert_int_equal(pbp_parse_open_consumer(&r, &oc), -EPROTO);
	/* ... and exactly 10000 is fine */
	pbp_msg_begin(&w, PBP_OPEN_CONSUMER, 0, 1);
	pbp_w_str(&w, "t");
	pbp_w_u32(&w, PBP_MAX_PARTITIONS);
	for (int i = 0; i < PBP_MAX_PARTITIONS; i++)
		pbp_w_i32(&w, i);
	n = pbp_msg_end(&w);
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
	assert_int_equal(pbp_parse_open_consumer(&r, &oc), 0);
	assert_int_equal(oc.n, PBP_MAX_PARTITIONS);
	assert_int_equal(oc.partitions[PBP_MAX_PARTITIONS - 1], PBP_MAX_PARTITIONS - 1);
	pbp_free_open_consumer(&oc);
	assert_null(oc.partitions);
	assert_int_equal(oc.n, 0);

	/* TOPIC_CREATE with 65 configs */
	struct pbp_topic_create tc;

	pbp_msg_begin(&w, PBP_TOPIC_CREATE, 0, 1);
	pbp_w_str(&w, "t");
	pbp_w_i32(&w, 1);
	pbp_w_u32(&w, PBP_MAX_CONFIGS + 1);
	for (int i = 0; i <= PBP_MAX_CONFIGS; i++) {
		pbp_w_str(&w, "k");
		pbp_w_str(&w, "v");
	}
	assert_int_equal(parse_topic_create_bytes(&w, &r, &tc), -EPROTO);
	assert_string_equal(r.what, "configs");

	/* TOPIC_DESCRIBE reply whose partition count is negative or past the bytes */
	struct pbp_topic_describe_reply td;
	const int32_t bad_counts[] = { -1, INT32_MIN, 3, PBP_MAX_PARTITIONS + 1 };

	for (size_t i = 0; i < ARRAY_SIZE(bad_counts); i++) {
		pbp_reply_begin(&w, PBP_TOPIC_DESCRIBE, 1, 0, NULL);
		pbp_w_u32(&w, 1);
		pbp_w_i32(&w, bad_counts[i]);
		pbp_w_u32(&w, 0);
		pbp_w_bytes(&w, buf2, 2 * 36); /* two partition entries' worth */
		n = pbp_msg_end(&w);
		assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
		assert_int_equal(pbp_parse_topic_describe_reply(&r, &st, &td), -EPROTO);
		assert_string_equal(r.what, "parts");
	}

	/* GET_SEGMENTS reply with 65 segments */
	struct pbp_get_segments_reply gs;

	pbp_reply_begin(&w, PBP_GET_SEGMENTS, 1, 0, NULL);
	pbp_w_u32(&w, PBP_MAX_SEGMENTS + 1);
	for (int i = 0; i <= PBP_MAX_SEGMENTS; i++) {
		pbp_w_i64(&w, i);
		pbp_w_i64(&w, i + 1);
	}
	pbp_w_u8(&w, 0);
	n = pbp_msg_end(&w);
	assert_int_equal(pbp_msg_parse(buf1, (size_t)n, &h, &r), 0);
	assert_int_equal(pbp_parse_get_segments_reply(&r, &st, &gs), -EPROTO);
	assert_string_equal(r.what, "segments");
}

static void test_protocol_rejects_trailing_bytes(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++) {
		const struct sample *s = &samples[i];
		size_t n = encode_sample(s, 1);
		struct pbp_hdr h;
		struct pbp_rbuf r;
		struct pbp_status st;
		void *out = calloc(1, s->size ? s->size : 1);

		buf1[n] = 0;
		put_len(buf1, (uint32_t)(n + 1 - PBP_HDR_SIZE));
		assert_int_equal(pbp_validate(buf1, n + 1), -EPROTO);
		assert_int_equal(pbp_msg_parse(buf1, n + 1, &h, &r), 0);
		assert_int_equal(s->parse(&r, &st, out), -EPROTO);
		assert_string_equal(r.what, "trailing bytes");
		free(out);
	}
}

/* Flipped bytes, header kept consistent: every outcome is 0 or -EPROTO, never a crash. */
static void test_protocol_mutated_messages_never_crash(void **state)
{
	unsigned seed = 42; /* fixed, so a failure reproduces */
	int ok = 0, bad = 0;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		const struct sample *s = &samples[(unsigned)rand_r(&seed) % ARRAY_SIZE(samples)];
		size_t n = encode_sample(s, 1);
		int flips = 1 + (int)((unsigned)rand_r(&seed) % 4);

		for (int k = 0; k < flips; k++) {
			size_t at = PBP_HDR_SIZE +
				    (n > PBP_HDR_SIZE ? (unsigned)rand_r(&seed) % (n - PBP_HDR_SIZE)
						      : 0);

			if (at < n)
				buf1[at] = (uint8_t)(unsigned)rand_r(&seed);
		}
		uint8_t *c = exact_copy(buf1, n);
		int err = pbp_validate(c, n);

		assert_true(err == 0 || err == -EPROTO);
		if (err)
			bad++;
		else
			ok++;
		free(c);
	}
	print_message("mutations: %d still valid, %d rejected\n", ok, bad);
	assert_true(bad > 0);
}

/* ---- writer --------------------------------------------------------------------- */

static void test_protocol_writer_overflow_is_emsgsize_and_sticks(void **state)
{
	uint8_t small[24];
	struct pbp_wbuf w;

	(void)state;
	pbp_w_init(&w, small, sizeof(small));
	assert_int_equal(pbp_enc_hello(&w, 1, &s_hello), -EMSGSIZE);
	assert_int_equal(w.err, -EMSGSIZE);
	size_t len = w.len;

	pbp_w_u8(&w, 1); /* nothing more is written */
	pbp_w_u64(&w, 1);
	pbp_w_str(&w, "x");
	assert_int_equal(w.len, len);
	assert_int_equal(pbp_msg_end(&w), -EMSGSIZE);

	/* exactly full is fine, one more byte is not */
	pbp_w_init(&w, small, sizeof(small));
	pbp_msg_begin(&w, PBP_CLOSE_PRODUCER, 0, 1);
	pbp_w_u64(&w, 1);
	assert_int_equal(pbp_msg_end(&w), 24);
	pbp_msg_begin(&w, PBP_CLOSE_PRODUCER, 0, 1);
	pbp_w_u64(&w, 1);
	pbp_w_u8(&w, 1);
	assert_int_equal(pbp_msg_end(&w), -EMSGSIZE);
	/* pbp_msg_begin starts over */
	assert_int_equal(pbp_enc_close_producer(&w, 1, &s_close_producer), 20);

	/* a roomy buffer still stops at PBP_MAX_MSG */
	pbp_w_init(&w, buf1, sizeof(buf1));
	pbp_msg_begin(&w, PBP_TOPIC_LIST, PBP_F_REPLY, 1);
	pbp_w_bytes(&w, buf2, PBP_MAX_MSG - PBP_HDR_SIZE);
	assert_int_equal(pbp_msg_end(&w), PBP_MAX_MSG);
	static uint8_t big[PBP_MAX_MSG + 1];

	pbp_w_init(&w, big, sizeof(big));
	pbp_msg_begin(&w, PBP_TOPIC_LIST, PBP_F_REPLY, 1);
	pbp_w_bytes(&w, buf2, PBP_MAX_MSG + 1 - PBP_HDR_SIZE);
	assert_int_equal(pbp_msg_end(&w), -EMSGSIZE);

	/* a string longer than PBP_MAX_STR */
	char *s = malloc(PBP_MAX_STR + 2);

	assert_non_null(s);
	memset(s, 's', PBP_MAX_STR + 1);
	s[PBP_MAX_STR + 1] = '\0';
	pbp_msg_begin(&w, PBP_HELLO, 0, 1);
	pbp_w_str(&w, s);
	assert_int_equal(pbp_msg_end(&w), -EMSGSIZE);
	free(s);

	/* pbp_msg_end without a header */
	pbp_w_init(&w, small, sizeof(small));
	assert_int_equal(pbp_msg_end(&w), -EINVAL);
}

static void test_protocol_encoder_rejects_structs_it_cannot_encode(void **state)
{
	struct pbp_wbuf w;
	struct pbp_topic_delete td;
	struct pbp_topic_create tc = { "t", 1, 1, NULL };
	struct pbp_open_consumer oc = { "t", PBP_MAX_PARTITIONS + 1, wanted_partitions };
	struct pbp_topic_describe_reply dr = s_topic_describe_reply;

	(void)state;
	pbp_w_init(&w, buf1, sizeof(buf1));
	memset(td.name, 'x', sizeof(td.name)); /* not NUL-terminated */
	assert_int_equal(pbp_enc_topic_delete(&w, 1, &td), -EINVAL);
	assert_int_equal(pbp_enc_topic_create(&w, 1, &tc), -EINVAL); /* count 1, no items */
	assert_int_equal(pbp_enc_open_consumer(&w, 1, &oc), -EINVAL);
	dr.partitions = -1;
	assert_int_equal(pbp_enc_topic_describe_reply(&w, 1, &dr), -EINVAL);
	tc.nconfigs = 0; /* no items needed */
	assert_true(pbp_enc_topic_create(&w, 1, &tc) > 0);
}

static void test_protocol_free_accepts_a_zeroed_struct_twice(void **state)
{
	struct pbp_topic_create tc;

	(void)state;
	memset(&tc, 0, sizeof(tc));
	pbp_free_topic_create(&tc); /* a zeroed struct */
	pbp_free_topic_create(&tc);
	assert_null(tc.configs);
}

static void test_protocol_negotiates_highest_common_version(void **state)
{
	(void)state;
	assert_int_equal(pbp_negotiate(1, 1), 1);
	assert_int_equal(pbp_negotiate(1, 7), 1);
	assert_int_equal(pbp_negotiate(0, 1), 1);
	assert_int_equal(pbp_negotiate(2, 7), -EPROTONOSUPPORT);
	assert_int_equal(pbp_negotiate(0, 0), -EPROTONOSUPPORT);
	assert_int_equal(pbp_negotiate(1, 0), -EPROTONOSUPPORT); /* min > max */
	assert_int_equal(pbp_negotiate(0, UINT32_MAX), PBP_VERSION);
}

/* ---- transport ------------------------------------------------------------------ */

static int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void seqpacket_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_protocol_send_recv_passes_three_working_fds(void **state)
{
	int sv[2], pipefd[2], got[PBP_MAX_FDS], ngot = -1;
	int mfd = memfd_create("pbp-test", MFD_CLOEXEC);
	char b[16];
	size_t n;

	(void)state;
	seqpacket_pair(sv);
	assert_int_equal(pipe(pipefd), 0);
	assert_true(mfd >= 0);
	assert_int_equal(write(mfd, "ring!", 5), 5);

	n = encode_sample(&samples[0], 9);
	int sent[3] = { pipefd[0], pipefd[1], mfd };

	assert_int_equal(pbp_send(sv[0], buf1, n, sent, 3), (ssize_t)n);
	for (int i = 0; i < 3; i++)
		close(sent[i]); /* the receiver's copies must work alone */
	assert_int_equal(pbp_recv(sv[1], buf2, sizeof(buf2), got, PBP_MAX_FDS, &ngot, 0),
			 (ssize_t)n);
	assert_int_equal(ngot, 3);
	assert_memory_equal(buf1, buf2, n);
	for (int i = 0; i < 3; i++)
		assert_true(fcntl(got[i], F_GETFD) & FD_CLOEXEC);

	assert_int_equal(write(got[1], "pipe", 4), 4);
	assert_int_equal(read(got[0], b, sizeof(b)), 4);
	assert_memory_equal(b, "pipe", 4);
	assert_int_equal(pread(got[2], b, sizeof(b), 0), 5);
	assert_memory_equal(b, "ring!", 5);
	void *map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, got[2], 0);

	assert_true(map != MAP_FAILED);
	assert_memory_equal(map, "ring!", 5);
	munmap(map, 4096);

	/* a datagram without fds */
	assert_int_equal(pbp_send(sv[1], buf1, n, NULL, 0), (ssize_t)n);
	assert_int_equal(pbp_recv(sv[0], buf2, sizeof(buf2), got + 3, 4, &ngot, 0), (ssize_t)n);
	assert_int_equal(ngot, 0);

	for (int i = 0; i < 3; i++)
		close(got[i]);
	close(sv[0]);
	close(sv[1]);
}

static void test_protocol_recv_too_small_buffer_is_emsgsize_without_leak(void **state)
{
	int sv[2], pipefd[2], got[PBP_MAX_FDS], ngot = -1;
	uint8_t small[64];

	(void)state;
	seqpacket_pair(sv);
	int before = count_open_fds();

	assert_int_equal(pipe(pipefd), 0);
	int sent[3] = { pipefd[0], pipefd[1], pipefd[0] };

	memset(buf1, 0xab, 1000);
	assert_int_equal(pbp_send(sv[0], buf1, 1000, sent, 3), 1000);
	close(pipefd[0]);
	close(pipefd[1]);
	assert_int_equal(pbp_recv(sv[1], small, sizeof(small), got, PBP_MAX_FDS, &ngot, 0),
			 -EMSGSIZE);
	assert_int_equal(ngot, 0);
	assert_int_equal(count_open_fds(), before);

	/* the socket stays usable: the rest of that datagram was discarded */
	assert_int_equal(pbp_send(sv[0], "next", 4, NULL, 0), 4);
	assert_int_equal(pbp_recv(sv[1], small, sizeof(small), got, PBP_MAX_FDS, &ngot, 0), 4);
	assert_memory_equal(small, "next", 4);
	close(sv[0]);
	close(sv[1]);
}

static void test_protocol_recv_more_fds_than_max_closes_them_all(void **state)
{
	int sv[2], pipefd[2], got[2], ngot = -1;

	(void)state;
	seqpacket_pair(sv);
	int before = count_open_fds();

	assert_int_equal(pipe(pipefd), 0);
	int sent[3] = { pipefd[0], pipefd[1], pipefd[1] };

	assert_int_equal(pbp_send(sv[0], "abc", 3, sent, 3), 3);
	assert_int_equal(pbp_recv(sv[1], buf2, sizeof(buf2), got, 2, &ngot, 0), -EPROTO);
	assert_int_equal(ngot, 0);
	/* and a receiver expecting none */
	assert_int_equal(pbp_send(sv[0], "abc", 3, sent, 1), 3);
	assert_int_equal(pbp_recv(sv[1], buf2, sizeof(buf2), NULL, 0, NULL, 0), -EPROTO);
	close(pipefd[0]);
	close(pipefd[1]);
	assert_int_equal(count_open_fds(), before);
	close(sv[0]);
	close(sv[1]);
}

/* A peer may attach up to the kernel's SCM_MAX_FD (253) fds: far past our buffer. */
static void test_protocol_recv_overflowing_control_buffer_leaks_nothing(void **state)
{
	const int counts[] = { PBP_MAX_FDS + 1, 80, 200 };
	int sv[2], got[PBP_MAX_FDS], ngot = -1;

	(void)state;
	seqpacket_pair(sv);
	int before = count_open_fds();
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	for (size_t c = 0; c < ARRAY_SIZE(counts); c++) {
		int k = counts[c];
		int *fds = malloc(sizeof(int) * (size_t)k);
		size_t space = CMSG_SPACE(sizeof(int) * (size_t)k);
		char *cbuf = calloc(1, space);
		struct iovec iov = { .iov_base = "x", .iov_len = 1 };
		struct msghdr msg = { .msg_iov = &iov,
				      .msg_iovlen = 1,
				      .msg_control = cbuf,
				      .msg_controllen = space };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

		assert_non_null(fds);
		assert_non_null(cbuf);
		for (int i = 0; i < k; i++)
			fds[i] = fd;
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)k);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)k);
		assert_int_equal(sendmsg(sv[0], &msg, 0), 1);
		ssize_t r = pbp_recv(sv[1], buf2, sizeof(buf2), got, PBP_MAX_FDS, &ngot, 0);

		assert_true(r == -EPROTO || r == -EMSGSIZE);
		assert_int_equal(ngot, 0);
		free(cbuf);
		free(fds);
	}
	assert_int_equal(pbp_send(sv[0], "x", 1, got, PBP_MAX_FDS + 1), -EINVAL);
	close(fd);
	assert_int_equal(count_open_fds(), before);
	close(sv[0]);
	close(sv[1]);
}

static void test_protocol_recv_returns_zero_when_peer_closes(void **state)
{
	int sv[2], got[1], ngot = -1;

	(void)state;
	seqpacket_pair(sv);
	close(sv[0]);
	assert_int_equal(pbp_recv(sv[1], buf2, sizeof(buf2), got, 1, &ngot, 0), 0);
	assert_int_equal(ngot, 0);
	assert_int_equal(pbp_send(sv[1], "x", 1, NULL, 0), -EPIPE); /* and no SIGPIPE */
	assert_int_equal(pbp_recv(sv[1], buf2, sizeof(buf2), got, 1, &ngot, MSG_DONTWAIT), 0);
	close(sv[1]);
}

static void test_protocol_recv_dontwait_on_empty_socket_is_eagain(void **state)
{
	int sv[2], got[1], ngot = -1;

	(void)state;
	seqpacket_pair(sv);
	assert_int_equal(pbp_recv(sv[1], buf2, sizeof(buf2), got, 1, &ngot, MSG_DONTWAIT), -EAGAIN);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocol_encodes_the_documented_bytes),
		cmocka_unit_test(test_protocol_parses_the_documented_bytes),
		cmocka_unit_test(test_protocol_tables_follow_the_documented_field_order),
		cmocka_unit_test(test_protocol_every_message_round_trips),
		cmocka_unit_test(test_protocol_error_reply_carries_status_and_message_only),
		cmocka_unit_test(test_protocol_long_error_message_is_cut_to_max_string),
		cmocka_unit_test(test_protocol_truncation_at_every_byte_is_eproto),
		cmocka_unit_test(test_protocol_rejects_bad_header),
		cmocka_unit_test(test_protocol_rejects_unknown_type_and_wrong_direction),
		cmocka_unit_test(test_protocol_group_bytes_round_trip),
		cmocka_unit_test(test_protocol_rejects_string_longer_than_its_buffer),
		cmocka_unit_test(test_protocol_reader_rejects_string_over_max_even_with_room),
		cmocka_unit_test(test_protocol_rejects_count_larger_than_payload),
		cmocka_unit_test(test_protocol_rejects_trailing_bytes),
		cmocka_unit_test(test_protocol_mutated_messages_never_crash),
		cmocka_unit_test(test_protocol_writer_overflow_is_emsgsize_and_sticks),
		cmocka_unit_test(test_protocol_encoder_rejects_structs_it_cannot_encode),
		cmocka_unit_test(test_protocol_free_accepts_a_zeroed_struct_twice),
		cmocka_unit_test(test_protocol_negotiates_highest_common_version),
		cmocka_unit_test(test_protocol_send_recv_passes_three_working_fds),
		cmocka_unit_test(test_protocol_recv_too_small_buffer_is_emsgsize_without_leak),
		cmocka_unit_test(test_protocol_recv_more_fds_than_max_closes_them_all),
		cmocka_unit_test(test_protocol_recv_overflowing_control_buffer_leaks_nothing),
		cmocka_unit_test(test_protocol_recv_returns_zero_when_peer_closes),
		cmocka_unit_test(test_protocol_recv_dontwait_on_empty_socket_is_eagain),
	};

	return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}

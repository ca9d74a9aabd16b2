/* SPDX-License-Identifier: Apache-2.0 */
/*
 * protocol.c — the local protocol codec: little-endian writer and reader, one table of
 * fields per message walked by a single encoder and a single validating decoder, and
 * datagram + SCM_RIGHTS transport. Shared by pagebusd and libpagebus.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- little-endian bytes, whatever the host ----------------------------------- */

static void le_put(uint8_t *p, uint64_t v, size_t width)
{
	for (size_t i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_get(const uint8_t *p, size_t width)
{
	uint64_t v = 0;

	for (size_t i = 0; i < width; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- writer --------------------------------------------------------------------- */

void pbp_w_init(struct pbp_wbuf *w, void *buf, size_t cap)
{
	w->buf = buf;
	w->len = 0;
	w->cap = cap;
	w->err = 0;
}

static void w_fail(struct pbp_wbuf *w, int err)
{
	if (!w->err)
		w->err = err;
}

/* Room for n more bytes, or the writer fails. */
static uint8_t *w_room(struct pbp_wbuf *w, size_t n)
{
	if (w->err || !n)
		return NULL;
	if (n > w->cap - w->len) {
		w_fail(w, -EMSGSIZE);
		return NULL;
	}
	uint8_t *p = w->buf + w->len;

	w->len += n;
	return p;
}

static void w_uint(struct pbp_wbuf *w, uint64_t v, size_t width)
{
	uint8_t *p = w_room(w, width);

	if (p)
		le_put(p, v, width);
}

void pbp_w_u8(struct pbp_wbuf *w, uint8_t v)
{
	w_uint(w, v, 1);
}
void pbp_w_u16(struct pbp_wbuf *w, uint16_t v)
{
	w_uint(w, v, 2);
}
void pbp_w_u32(struct pbp_wbuf *w, uint32_t v)
{
	w_uint(w, v, 4);
}
void pbp_w_i32(struct pbp_wbuf *w, int32_t v)
{
	w_uint(w, (uint32_t)v, 4);
}
void pbp_w_u64(struct pbp_wbuf *w, uint64_t v)
{
	w_uint(w, v, 8);
}
void pbp_w_i64(struct pbp_wbuf *w, int64_t v)
{
	w_uint(w, (uint64_t)v, 8);
}

void pbp_w_bytes(struct pbp_wbuf *w, const void *p, size_t n)
{
	uint8_t *dst = w_room(w, n);

	if (dst)
		memcpy(dst, p, n);
}

static void w_strn(struct pbp_wbuf *w, const char *s, size_t n)
{
	if (n > PBP_MAX_STR) {
		w_fail(w, -EMSGSIZE);
		return;
	}
	pbp_w_u16(w, (uint16_t)n);
	pbp_w_bytes(w, s, n);
}

void pbp_w_str(struct pbp_wbuf *w, const char *s)
{
	s = s ? s : "";
	w_strn(w, s, strlen(s));
}

void pbp_msg_begin(struct pbp_wbuf *w, uint16_t type, uint16_t flags, uint32_t id)
{
	w->len = 0;
	w->err = 0;
	pbp_w_u32(w, PBP_MAGIC);
	pbp_w_u16(w, type);
	pbp_w_u16(w, flags);
	pbp_w_u32(w, id);
	pbp_w_u32(w, 0); /* len: pbp_msg_end */
}

void pbp_reply_begin(struct pbp_wbuf *w, uint16_t type, uint32_t id, int32_t status,
		     const char *message)
{
	message = message ? message : "";
	pbp_msg_begin(w, type, PBP_F_REPLY, id);
	if (status > 0)
		w_fail(w, -EINVAL);
	pbp_w_i32(w, status);
	w_strn(w, message, strnlen(message, PBP_MAX_STR));
}

int pbp_msg_end(struct pbp_wbuf *w)
{
	if (!w->err && w->len < PBP_HDR_SIZE)
		w_fail(w, -EINVAL); /* no pbp_msg_begin */
	if (!w->err && w->len > PBP_MAX_MSG)
		w_fail(w, -EMSGSIZE);
	if (w->err)
		return w->err;
	le_put(w->buf + 12, w->len - PBP_HDR_SIZE, 4);
	return (int)w->len;
}

/* ---- reader --------------------------------------------------------------------- */

void pbp_r_init(struct pbp_rbuf *r, const void *buf, size_t len)
{
	static const uint8_t empty[1];

	r->p = buf ? buf : empty; /* never arithmetic on NULL */
	r->end = r->p + (buf ? len : 0);
	r->err = 0;
	r->what = NULL;
}

/* The first failure sticks; what may be NULL (a parser then names the field). */
static void r_fail(struct pbp_rbuf *r, const char *what)
{
	if (!r->err) {
		r->err = -EPROTO;
		r->what = what;
	}
}

/* The next n bytes, or NULL (and the reader fails). */
static const uint8_t *r_take(struct pbp_rbuf *r, size_t n)
{
	if (r->err)
		return NULL;
	if (n > (size_t)(r->end - r->p)) {
		r_fail(r, NULL);
		return NULL;
	}
	const uint8_t *p = r->p;

	r->p += n;
	return p;
}

static uint64_t r_uint(struct pbp_rbuf *r, size_t width)
{
	const uint8_t *p = r_take(r, width);

	return p ? le_get(p, width) : 0;
}

uint8_t pbp_r_u8(struct pbp_rbuf *r)
{
	return (uint8_t)r_uint(r, 1);
}
uint16_t pbp_r_u16(struct pbp_rbuf *r)
{
	return (uint16_t)r_uint(r, 2);
}
uint32_t pbp_r_u32(struct pbp_rbuf *r)
{
	return (uint32_t)r_uint(r, 4);
}
int32_t pbp_r_i32(struct pbp_rbuf *r)
{
	return (int32_t)(uint32_t)r_uint(r, 4);
}
uint64_t pbp_r_u64(struct pbp_rbuf *r)
{
	return r_uint(r, 8);
}
int64_t pbp_r_i64(struct pbp_rbuf *r)
{
	return (int64_t)r_uint(r, 8);
}

int pbp_r_str(struct pbp_rbuf *r, char *out, size_t cap)
{
	const uint8_t *start = r->p;
	size_t n = pbp_r_u16(r);
	const uint8_t *s = r_take(r, n);

	if (cap)
		out[0] = '\0';
	if (s && (n > PBP_MAX_STR || n >= cap || memchr(s, '\0', n)))
		r_fail(r, NULL);
	if (r->err) {
		r->p = start;
		return r->err;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return (int)n;
}

int pbp_r_done(struct pbp_rbuf *r)
{
	if (!r->err && r->p != r->end)
		r_fail(r, "trailing bytes");
	return r->err;
}

int pbp_msg_parse(const void *buf, size_t n, struct pbp_hdr *h, struct pbp_rbuf *payload)
{
	struct pbp_rbuf r;

	memset(h, 0, sizeof(*h));
	pbp_r_init(payload, NULL, 0);
	if (n < PBP_HDR_SIZE || n > PBP_MAX_MSG)
		goto malformed;
	pbp_r_init(&r, buf, PBP_HDR_SIZE);
	h->magic = pbp_r_u32(&r);
	h->type = pbp_r_u16(&r);
	h->flags = pbp_r_u16(&r);
	h->id = pbp_r_u32(&r);
	h->len = pbp_r_u32(&r);
	if (h->magic != PBP_MAGIC || h->len != n - PBP_HDR_SIZE ||
	    (h->flags != 0 && h->flags != PBP_F_REPLY && h->flags != PBP_F_PUSH) ||
	    (h->flags == PBP_F_PUSH && h->id != 0))
		goto malformed;
	pbp_r_init(payload, (const uint8_t *)buf + PBP_HDR_SIZE, h->len);
	return 0;
malformed:
	payload->err = -EPROTO;
	payload->what = "header";
	return -EPROTO;
}

int pbp_negotiate(uint32_t min_version, uint32_t max_version)
{
	uint32_t v = max_version < PBP_VERSION_MAX ? max_version : PBP_VERSION_MAX;

	if (min_version > max_version || v < min_version || v < PBP_VERSION_MIN)
		return -EPROTONOSUPPORT;
	return (int)v;
}

/* ---- message formats: one table per message, one encoder, one decoder ----------- */

enum field_kind {
	K_INT,	    /* fixed-width integer; width = size; sign is the struct's business */
	K_STR,	    /* char[size] in the struct; u16 length + bytes on the wire */
	K_ARRAY,    /* u32 count (struct: uint32_t at count_off), then count items */
	K_ARRAY_BY, /* count items, count = an int32_t field decoded earlier (count_off) */
};

struct format;

struct field {
	const char *name;
	enum field_kind kind;
	size_t off;		   /* in the struct; arrays: a pointer to the items */
	size_t size;		   /* K_INT width, K_STR buffer */
	size_t count_off;	   /* arrays */
	uint32_t cap;		   /* arrays: max items */
	const struct format *elem; /* arrays: one item */
};

struct format {
	const char *name;
	size_t size; /* of the struct */
	const struct field *fields;
	size_t nfields;
};

#define MEMBER(T, f) (((T *)0)->f)

/* Field constructors; clang-format cannot lay out _Generic, so it keeps off. */
/* clang-format off */
/* An integer or a string field; the kind follows from the member's type. */
#define FIELD(T, f)                                                                                \
	{                                                                                          \
		.name = #f, .off = offsetof(T, f), .size = sizeof(MEMBER(T, f)),                   \
		.kind = _Generic(MEMBER(T, f), uint8_t: K_INT, uint16_t: K_INT, uint32_t: K_INT,   \
				 int32_t: K_INT, uint64_t: K_INT, int64_t: K_INT, char *: K_STR),  \
	}

/* items: a pointer to E, counted by the member `count` of type CT. */
#define ARRAY_OF(K, CT, T, items, count, E, efmt, max)                                             \
	{                                                                                          \
		.name = #items, .kind = K, .off = offsetof(T, items),                              \
		.count_off = _Generic(MEMBER(T, count), CT: offsetof(T, count)),                   \
		.elem = _Generic(MEMBER(T, items), E *: &(efmt)), .cap = (max),                    \
	}
/* counted by a uint32_t that precedes the items on the wire */
#define ARRAY(...) ARRAY_OF(K_ARRAY, uint32_t, __VA_ARGS__)
/* counted by an int32_t field decoded earlier */
#define ARRAY_BY(...) ARRAY_OF(K_ARRAY_BY, int32_t, __VA_ARGS__)
/* clang-format on */

#define FORMAT(var, T, ...)                                                                        \
	static const struct field var##_fields[] = { __VA_ARGS__ };                                \
	static const struct format var = { #T, sizeof(T), var##_fields, ARRAY_SIZE(var##_fields) }

/* Message structs are struct pbp_<m>: F(m, field) saves the repetition. */
#define F(m, f) FIELD(struct pbp_##m, f)

static const struct format fmt_none = { "none", 0, NULL, 0 };

static const struct field partition_id_field = { .name = "partition",
						 .kind = K_INT,
						 .size = sizeof(int32_t) };
static const struct format fmt_partition_id = { "int32_t", sizeof(int32_t), &partition_id_field,
						1 };

static const struct field byte_field = { .name = "byte", .kind = K_INT, .size = 1 };
static const struct format fmt_byte = { "uint8_t", 1, &byte_field, 1 };

FORMAT(fmt_config, struct pbp_config, F(config, key), F(config, value));
FORMAT(fmt_topic_info, struct pbp_topic_info, F(topic_info, name), F(topic_info, topic_id),
       F(topic_info, partitions));
FORMAT(fmt_partition_info, struct pbp_partition_info, F(partition_info, partition),
       F(partition_info, slot), F(partition_info, log_start), F(partition_info, hwm),
       F(partition_info, segments), F(partition_info, bytes));
FORMAT(fmt_consumer_slot, struct pbp_consumer_slot, F(consumer_slot, partition),
       F(consumer_slot, slot), F(consumer_slot, slot_epoch));
FORMAT(fmt_segment, struct pbp_segment, F(segment, base_offset), F(segment, end_offset));

FORMAT(fmt_hello, struct pbp_hello, F(hello, min_version), F(hello, max_version),
       F(hello, client_name));
FORMAT(fmt_hello_reply, struct pbp_hello_reply, F(hello_reply, version), F(hello_reply, broker_pid),
       F(hello_reply, nslots), F(hello_reply, ring_bytes_default));
FORMAT(fmt_topic_create, struct pbp_topic_create, F(topic_create, name),
       F(topic_create, partitions),
       ARRAY(struct pbp_topic_create, configs, nconfigs, struct pbp_config, fmt_config,
	     PBP_MAX_CONFIGS));
FORMAT(fmt_topic_create_reply, struct pbp_topic_create_reply, F(topic_create_reply, topic_id),
       F(topic_create_reply, partitions));
FORMAT(fmt_topic_delete, struct pbp_topic_delete, F(topic_delete, name));
FORMAT(fmt_topic_list_reply, struct pbp_topic_list_reply,
       ARRAY(struct pbp_topic_list_reply, topics, n, struct pbp_topic_info, fmt_topic_info,
	     PBP_MAX_TOPICS));
FORMAT(fmt_topic_describe, struct pbp_topic_describe, F(topic_describe, name));
FORMAT(fmt_topic_describe_reply, struct pbp_topic_describe_reply, F(topic_describe_reply, topic_id),
       F(topic_describe_reply, partitions),
       ARRAY(struct pbp_topic_describe_reply, configs, nconfigs, struct pbp_config, fmt_config,
	     PBP_MAX_CONFIGS),
       ARRAY_BY(struct pbp_topic_describe_reply, parts, partitions, struct pbp_partition_info,
		fmt_partition_info, PBP_MAX_PARTITIONS));
FORMAT(fmt_open_producer, struct pbp_open_producer, F(open_producer, topic),
       F(open_producer, ring_bytes));
FORMAT(fmt_open_producer_reply, struct pbp_open_producer_reply, F(open_producer_reply, producer_id),
       F(open_producer_reply, topic_id), F(open_producer_reply, partitions),
       F(open_producer_reply, ring_bytes));
FORMAT(fmt_close_producer, struct pbp_close_producer, F(close_producer, producer_id));
FORMAT(fmt_open_consumer, struct pbp_open_consumer, F(open_consumer, topic),
       ARRAY(struct pbp_open_consumer, partitions, n, int32_t, fmt_partition_id,
	     PBP_MAX_PARTITIONS));
FORMAT(fmt_open_consumer_reply, struct pbp_open_consumer_reply, F(open_consumer_reply, consumer_id),
       F(open_consumer_reply, topic_id), F(open_consumer_reply, partitions),
       ARRAY(struct pbp_open_consumer_reply, slots, m, struct pbp_consumer_slot, fmt_consumer_slot,
	     PBP_MAX_PARTITIONS));
FORMAT(fmt_close_consumer, struct pbp_close_consumer, F(close_consumer, consumer_id));
FORMAT(fmt_get_segments, struct pbp_get_segments, F(get_segments, topic_id),
       F(get_segments, partition), F(get_segments, from_offset));
FORMAT(fmt_get_segments_reply, struct pbp_get_segments_reply,
       ARRAY(struct pbp_get_segments_reply, segments, n, struct pbp_segment, fmt_segment,
	     PBP_MAX_SEGMENTS),
       F(get_segments_reply, more));
FORMAT(fmt_commit_offset, struct pbp_commit_offset, F(commit_offset, name), F(commit_offset, topic),
       F(commit_offset, partition), F(commit_offset, next_offset));
FORMAT(fmt_fetch_offset, struct pbp_fetch_offset, F(fetch_offset, name), F(fetch_offset, topic),
       F(fetch_offset, partition));
FORMAT(fmt_fetch_offset_reply, struct pbp_fetch_offset_reply, F(fetch_offset_reply, next_offset));
FORMAT(fmt_group_protocol, struct pbp_group_protocol, F(group_protocol, name),
       ARRAY(struct pbp_group_protocol, meta, len, uint8_t, fmt_byte, PBP_MAX_GROUP_BYTES));
FORMAT(fmt_group_member, struct pbp_group_member, F(group_member, member_id),
       ARRAY(struct pbp_group_member, data, len, uint8_t, fmt_byte, PBP_MAX_GROUP_BYTES));
FORMAT(fmt_join_group, struct pbp_join_group, F(join_group, group), F(join_group, member_id),
       F(join_group, client_id), F(join_group, session_timeout_ms),
       F(join_group, rebalance_timeout_ms), F(join_group, protocol_type),
       ARRAY(struct pbp_join_group, protocols, nprotocols, struct pbp_group_protocol,
	     fmt_group_protocol, PBP_MAX_PROTOCOLS));
FORMAT(fmt_join_group_reply, struct pbp_join_group_reply, F(join_group_reply, generation),
       F(join_group_reply, protocol), F(join_group_reply, leader), F(join_group_reply, member_id),
       ARRAY(struct pbp_join_group_reply, members, nmembers, struct pbp_group_member,
	     fmt_group_member, PBP_MAX_MEMBERS));
FORMAT(fmt_sync_group, struct pbp_sync_group, F(sync_group, group), F(sync_group, generation),
       F(sync_group, member_id),
       ARRAY(struct pbp_sync_group, assignments, nassignments, struct pbp_group_member,
	     fmt_group_member, PBP_MAX_MEMBERS));
FORMAT(fmt_sync_group_reply, struct pbp_sync_group_reply,
       ARRAY(struct pbp_sync_group_reply, assignment, len, uint8_t, fmt_byte,
	     PBP_MAX_GROUP_BYTES));
FORMAT(fmt_heartbeat, struct pbp_heartbeat, F(heartbeat, group), F(heartbeat, generation),
       F(heartbeat, member_id));
FORMAT(fmt_leave_group, struct pbp_leave_group, F(leave_group, group), F(leave_group, member_id));
FORMAT(fmt_group_offset, struct pbp_group_offset, F(group_offset, topic),
       F(group_offset, partition), F(group_offset, next_offset));
FORMAT(fmt_group_commit, struct pbp_group_commit, F(group_commit, group),
       F(group_commit, generation), F(group_commit, member_id),
       ARRAY(struct pbp_group_commit, offsets, n, struct pbp_group_offset, fmt_group_offset,
	     PBP_MAX_PARTITIONS));
FORMAT(fmt_group_info, struct pbp_group_info, F(group_info, name), F(group_info, state),
       F(group_info, protocol_type), F(group_info, protocol), F(group_info, generation),
       F(group_info, members));
FORMAT(fmt_group_list_reply, struct pbp_group_list_reply,
       ARRAY(struct pbp_group_list_reply, groups, n, struct pbp_group_info, fmt_group_info,
	     PBP_MAX_GROUPS));
FORMAT(fmt_group_describe, struct pbp_group_describe, F(group_describe, group));
FORMAT(fmt_group_member_info, struct pbp_group_member_info, F(group_member_info, member_id),
       F(group_member_info, client_id), F(group_member_info, host), F(group_member_info, kafka));
FORMAT(fmt_group_partition, struct pbp_group_partition, F(group_partition, topic),
       F(group_partition, partition), F(group_partition, member), F(group_partition, committed),
       F(group_partition, log_start), F(group_partition, hwm));
FORMAT(fmt_group_describe_reply, struct pbp_group_describe_reply,
       F(group_describe_reply, state), F(group_describe_reply, protocol_type),
       F(group_describe_reply, protocol), F(group_describe_reply, generation),
       F(group_describe_reply, leader),
       ARRAY(struct pbp_group_describe_reply, members, nmembers, struct pbp_group_member_info,
	     fmt_group_member_info, PBP_MAX_MEMBERS),
       ARRAY(struct pbp_group_describe_reply, parts, nparts, struct pbp_group_partition,
	     fmt_group_partition, PBP_MAX_PARTITIONS));
FORMAT(fmt_segment_event, struct pbp_segment_event, F(segment_event, topic_id),
       F(segment_event, partition), F(segment_event, event), F(segment_event, base_offset));

/* Every type, both directions: dispatch for pbp_validate() and names for logs. */
static const struct op {
	const char *name;
	const struct format *request, *reply;
} ops[] = {
	[PBP_HELLO] = { "HELLO", &fmt_hello, &fmt_hello_reply },
	[PBP_TOPIC_CREATE] = { "TOPIC_CREATE", &fmt_topic_create, &fmt_topic_create_reply },
	[PBP_TOPIC_DELETE] = { "TOPIC_DELETE", &fmt_topic_delete, &fmt_none },
	[PBP_TOPIC_LIST] = { "TOPIC_LIST", &fmt_none, &fmt_topic_list_reply },
	[PBP_TOPIC_DESCRIBE] = { "TOPIC_DESCRIBE", &fmt_topic_describe, &fmt_topic_describe_reply },
	[PBP_OPEN_PRODUCER] = { "OPEN_PRODUCER", &fmt_open_producer, &fmt_open_producer_reply },
	[PBP_CLOSE_PRODUCER] = { "CLOSE_PRODUCER", &fmt_close_producer, &fmt_none },
	[PBP_OPEN_CONSUMER] = { "OPEN_CONSUMER", &fmt_open_consumer, &fmt_open_consumer_reply },
	[PBP_CLOSE_CONSUMER] = { "CLOSE_CONSUMER", &fmt_close_consumer, &fmt_none },
	[PBP_GET_SEGMENTS] = { "GET_SEGMENTS", &fmt_get_segments, &fmt_get_segments_reply },
	[PBP_COMMIT_OFFSET] = { "COMMIT_OFFSET", &fmt_commit_offset, &fmt_none },
	[PBP_FETCH_OFFSET] = { "FETCH_OFFSET", &fmt_fetch_offset, &fmt_fetch_offset_reply },
	[PBP_JOIN_GROUP] = { "JOIN_GROUP", &fmt_join_group, &fmt_join_group_reply },
	[PBP_SYNC_GROUP] = { "SYNC_GROUP", &fmt_sync_group, &fmt_sync_group_reply },
	[PBP_HEARTBEAT] = { "HEARTBEAT", &fmt_heartbeat, &fmt_none },
	[PBP_LEAVE_GROUP] = { "LEAVE_GROUP", &fmt_leave_group, &fmt_none },
	[PBP_GROUP_COMMIT] = { "GROUP_COMMIT", &fmt_group_commit, &fmt_none },
	[PBP_GROUP_LIST] = { "GROUP_LIST", &fmt_none, &fmt_group_list_reply },
	[PBP_GROUP_DESCRIBE] = { "GROUP_DESCRIBE", &fmt_group_describe, &fmt_group_describe_reply },
};
_Static_assert(ARRAY_SIZE(ops) == PBP_REQUEST_LAST + 1, "one ops[] entry per request type");

static const struct op *op_of(unsigned type)
{
	return type < ARRAY_SIZE(ops) && ops[type].name ? &ops[type] : NULL;
}

const char *pbp_type_name(unsigned type)
{
	const struct op *op = op_of(type);

	if (type == PBP_SEGMENT_EVENT)
		return "SEGMENT_EVENT";
	return op ? op->name : "unknown";
}

static void *at(const void *obj, size_t off)
{
	return (uint8_t *)obj + off;
}

/* An array's item count as the struct holds it; negative counts come back as -1. */
static int64_t array_count(const struct field *fd, const void *obj)
{
	if (fd->kind == K_ARRAY)
		return *(const uint32_t *)at(obj, fd->count_off);
	int32_t n = *(const int32_t *)at(obj, fd->count_off);

	return n < 0 ? -1 : n;
}

/* Fewest bytes one item of f takes on the wire: bounds a count before allocating. */
static size_t wire_min(const struct format *f)
{
	size_t n = 0;

	for (size_t i = 0; i < f->nfields; i++) {
		switch (f->fields[i].kind) {
		case K_INT:
			n += f->fields[i].size;
			break;
		case K_STR:
			n += 2;
			break;
		case K_ARRAY:
			n += 4;
			break;
		case K_ARRAY_BY:
			break;
		}
	}
	return n ? n : 1;
}

static void format_free(const struct format *f, void *obj)
{
	for (size_t i = 0; obj && i < f->nfields; i++) {
		const struct field *fd = &f->fields[i];

		if (fd->kind != K_ARRAY && fd->kind != K_ARRAY_BY)
			continue;
		void **items = at(obj, fd->off);
		int64_t n = array_count(fd, obj);

		for (int64_t k = 0; *items && k < n; k++)
			format_free(fd->elem, at(*items, (size_t)k * fd->elem->size));
		free(*items);
		*items = NULL;
		if (fd->kind == K_ARRAY)
			*(uint32_t *)at(obj, fd->count_off) = 0;
	}
}

/* Integer members by width (int32_t read as uint32_t: same representation, may alias). */
static uint64_t load_uint(const void *p, size_t width)
{
	switch (width) {
	case 1:
		return *(const uint8_t *)p;
	case 2:
		return *(const uint16_t *)p;
	case 4:
		return *(const uint32_t *)p;
	default:
		return *(const uint64_t *)p;
	}
}

static void store_uint(void *p, uint64_t v, size_t width)
{
	switch (width) {
	case 1:
		*(uint8_t *)p = (uint8_t)v;
		break;
	case 2:
		*(uint16_t *)p = (uint16_t)v;
		break;
	case 4:
		*(uint32_t *)p = (uint32_t)v;
		break;
	default:
		*(uint64_t *)p = v;
		break;
	}
}

static void encode(struct pbp_wbuf *w, const struct format *f, const void *obj)
{
	for (size_t i = 0; i < f->nfields && !w->err; i++) {
		const struct field *fd = &f->fields[i];
		const void *p = at(obj, fd->off);
		size_t len;
		int64_t n;

		switch (fd->kind) {
		case K_INT:
			w_uint(w, load_uint(p, fd->size), fd->size);
			break;
		case K_STR:
			len = strnlen(p, fd->size);
			if (len == fd->size)
				w_fail(w, -EINVAL); /* not terminated within its buffer */
			w_strn(w, p, len);
			break;
		case K_ARRAY:
		case K_ARRAY_BY:
			n = array_count(fd, obj);
			if (n < 0 || n > fd->cap || (n > 0 && !*(void *const *)p)) {
				w_fail(w, -EINVAL);
				break;
			}
			if (fd->kind == K_ARRAY)
				pbp_w_u32(w, (uint32_t)n);
			for (int64_t k = 0; k < n; k++)
				encode(w, fd->elem,
				       at(*(void *const *)p, (size_t)k * fd->elem->size));
			break;
		}
	}
}

/*
 * The one validation path for every message: fills obj (zeroed by the caller) from r.
 * Arrays are allocated only after their count is checked against their bound and
 * against the bytes left, so a hostile count costs nothing.
 */
static int decode(struct pbp_rbuf *r, const struct format *f, void *obj)
{
	const struct field *fd = NULL;
	int err;

	for (size_t i = 0; i < f->nfields; i++) {
		fd = &f->fields[i];
		void *p = at(obj, fd->off);
		int64_t n;

		switch (fd->kind) {
		case K_INT:
			store_uint(p, r_uint(r, fd->size), fd->size);
			break;
		case K_STR:
			pbp_r_str(r, p, fd->size);
			break;
		case K_ARRAY:
		case K_ARRAY_BY:
			if (fd->kind == K_ARRAY)
				*(uint32_t *)at(obj, fd->count_off) = pbp_r_u32(r);
			n = array_count(fd, obj);
			if (r->err || n < 0 || n > fd->cap ||
			    (size_t)n > (size_t)(r->end - r->p) / wire_min(fd->elem))
				goto malformed;
			if (n == 0)
				break;
			*(void **)p = calloc((size_t)n, fd->elem->size);
			if (!*(void **)p)
				return -ENOMEM;
			for (int64_t k = 0; k < n; k++) {
				err = decode(r, fd->elem,
					     at(*(void **)p, (size_t)k * fd->elem->size));
				if (err)
					return err; /* r->what already names the item's field */
			}
			break;
		}
		if (r->err)
			goto malformed;
	}
	return 0;
malformed:
	r_fail(r, NULL);
	if (!r->what)
		r->what = fd->name;
	return -EPROTO;
}

/* Decodes *obj and requires the payload to end there; on failure *obj is left zeroed. */
static int parse(struct pbp_rbuf *r, const struct format *f, void *obj)
{
	if (f->size)
		memset(obj, 0, f->size);
	int err = r->err ? r->err : decode(r, f, obj);

	if (!err)
		err = pbp_r_done(r);
	if (err) {
		format_free(f, obj);
		if (f->size)
			memset(obj, 0, f->size);
	}
	return err;
}

static int parse_reply(struct pbp_rbuf *r, struct pbp_status *st, const struct format *f, void *obj)
{
	static const struct field status_fields[] = { FIELD(struct pbp_status, status),
						      FIELD(struct pbp_status, message) };
	static const struct format fmt_status = { "status", sizeof(struct pbp_status),
						  status_fields, ARRAY_SIZE(status_fields) };

	if (f->size)
		memset(obj, 0, f->size);
	memset(st, 0, sizeof(*st));
	int err = r->err ? r->err : decode(r, &fmt_status, st);

	/* a positive status is not a status, and a success has no message (docs/protocol.md) */
	if (!err && (st->status > 0 || (st->status == 0 && st->message[0]))) {
		r_fail(r, "status");
		return r->err;
	}
	if (err || st->status != 0)
		return err ? err : pbp_r_done(r);
	return parse(r, f, obj);
}

static int enc_msg(struct pbp_wbuf *w, uint16_t type, uint16_t flags, uint32_t id,
		   const struct format *f, const void *obj)
{
	pbp_msg_begin(w, type, flags, id);
	encode(w, f, obj);
	return pbp_msg_end(w);
}

static int enc_reply(struct pbp_wbuf *w, uint16_t type, uint32_t id, const struct format *f,
		     const void *obj)
{
	pbp_reply_begin(w, type, id, 0, "");
	encode(w, f, obj);
	return pbp_msg_end(w);
}

#define DEFINE_REQUEST(name, type)                                                                 \
	int pbp_enc_##name(struct pbp_wbuf *w, uint32_t id, const struct pbp_##name *in)           \
	{                                                                                          \
		return enc_msg(w, type, 0, id, &fmt_##name, in);                                   \
	}                                                                                          \
	int pbp_parse_##name(struct pbp_rbuf *r, struct pbp_##name *out)                           \
	{                                                                                          \
		return parse(r, &fmt_##name, out);                                                 \
	}                                                                                          \
	void pbp_free_##name(struct pbp_##name *m)                                                 \
	{                                                                                          \
		format_free(&fmt_##name, m);                                                       \
	}
#define DEFINE_REPLY(name, type)                                                                   \
	int pbp_enc_##name##_reply(struct pbp_wbuf *w, uint32_t id,                                \
				   const struct pbp_##name##_reply *in)                            \
	{                                                                                          \
		return enc_reply(w, type, id, &fmt_##name##_reply, in);                            \
	}                                                                                          \
	int pbp_parse_##name##_reply(struct pbp_rbuf *r, struct pbp_status *st,                    \
				     struct pbp_##name##_reply *out)                               \
	{                                                                                          \
		return parse_reply(r, st, &fmt_##name##_reply, out);                               \
	}                                                                                          \
	void pbp_free_##name##_reply(struct pbp_##name##_reply *m)                                 \
	{                                                                                          \
		format_free(&fmt_##name##_reply, m);                                               \
	}
PBP_REQUESTS(DEFINE_REQUEST)
PBP_REPLIES(DEFINE_REPLY)

int pbp_enc_topic_list(struct pbp_wbuf *w, uint32_t id)
{
	return enc_msg(w, PBP_TOPIC_LIST, 0, id, &fmt_none, NULL);
}

int pbp_parse_topic_list(struct pbp_rbuf *r)
{
	return parse(r, &fmt_none, NULL);
}

int pbp_enc_group_list(struct pbp_wbuf *w, uint32_t id)
{
	return enc_msg(w, PBP_GROUP_LIST, 0, id, &fmt_none, NULL);
}

int pbp_parse_group_list(struct pbp_rbuf *r)
{
	return parse(r, &fmt_none, NULL);
}

int pbp_enc_ok_reply(struct pbp_wbuf *w, uint16_t type, uint32_t id)
{
	return enc_reply(w, type, id, &fmt_none, NULL);
}

int pbp_enc_error_reply(struct pbp_wbuf *w, uint16_t type, uint32_t id, int32_t status,
			const char *message)
{
	pbp_reply_begin(w, type, id, status, message);
	return pbp_msg_end(w);
}

int pbp_parse_status_reply(struct pbp_rbuf *r, struct pbp_status *st)
{
	return parse_reply(r, st, &fmt_none, NULL);
}

int pbp_enc_segment_event(struct pbp_wbuf *w, const struct pbp_segment_event *in)
{
	return enc_msg(w, PBP_SEGMENT_EVENT, PBP_F_PUSH, 0, &fmt_segment_event, in);
}

int pbp_parse_segment_event(struct pbp_rbuf *r, struct pbp_segment_event *out)
{
	return parse(r, &fmt_segment_event, out);
}

int pbp_validate(const void *buf, size_t n)
{
#define REQUEST_MEMBER(name, type) struct pbp_##name name;
#define REPLY_MEMBER(name, type) struct pbp_##name##_reply name##_reply;
	union {
		PBP_REQUESTS(REQUEST_MEMBER)
		PBP_REPLIES(REPLY_MEMBER)
		struct pbp_segment_event segment_event;
	} obj;
	struct pbp_status st;
	struct pbp_hdr h;
	struct pbp_rbuf r;
	const struct op *op;
	const struct format *f;
	int err = pbp_msg_parse(buf, n, &h, &r);

	if (err)
		return err;
	op = op_of(h.type);
	if (h.flags == PBP_F_PUSH)
		f = h.type == PBP_SEGMENT_EVENT ? &fmt_segment_event : NULL;
	else
		f = !op ? NULL : h.flags == PBP_F_REPLY ? op->reply : op->request;
	if (!f)
		return -EPROTO;
	if (h.flags == PBP_F_REPLY)
		err = parse_reply(&r, &st, f, &obj);
	else
		err = parse(&r, f, &obj);
	format_free(f, &obj);
	return err;
}

/* ---- transport ------------------------------------------------------------------ */

/* Control buffer for PBP_MAX_FDS fds plus one unrelated message (e.g. SCM_CREDENTIALS). */
union cmsg_space {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int) * PBP_MAX_FDS) + CMSG_SPACE(64)];
};

ssize_t pbp_send(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	union cmsg_space cm;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds < 0 || nfds > PBP_MAX_FDS || (nfds > 0 && !fds))
		return -EINVAL;
	if (nfds > 0) {
		size_t fd_bytes = sizeof(int) * (size_t)nfds;

		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(fd_bytes);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(fd_bytes);
		memcpy(CMSG_DATA(c), fds, fd_bytes);
	}
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static void close_all(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

ssize_t pbp_recv(int fd, void *buf, size_t cap, int *fds, int max_fds, int *nfds, int flags)
{
	union cmsg_space cm;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = cm.buf,
			      .msg_controllen = sizeof(cm.buf) };
	int got[PBP_MAX_FDS];
	int ngot = 0;
	bool too_many = false;
	ssize_t n;

	if (nfds)
		*nfds = 0;
	if (max_fds < 0 || (max_fds > 0 && (!fds || !nfds)))
		return -EINVAL;
	do
		n = recvmsg(fd, &msg, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	/* Take every fd the kernel installed before judging the datagram. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const uint8_t *data = CMSG_DATA(c);

		for (size_t i = 0; i < k; i++) {
			int rfd;

			memcpy(&rfd, data + i * sizeof(int), sizeof(int));
			if (ngot < PBP_MAX_FDS)
				got[ngot++] = rfd;
			else {
				close(rfd);
				too_many = true;
			}
		}
	}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_all(got, ngot);
		return -EMSGSIZE;
	}
	if (too_many || ngot > max_fds) {
		close_all(got, ngot);
		return -EPROTO;
	}
	if (n == 0) {
		close_all(got, ngot); /* the peer closed: nothing to hand out */
		return 0;
	}
	if (ngot)
		memcpy(fds, got, sizeof(int) * (size_t)ngot);
	if (nfds)
		*nfds = ngot;
	return n;
}

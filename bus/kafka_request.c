/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_request.c — reads Kafka request frames into structs (see kafka_request.h): the
 * header, the API table, and one body parser per API (the group APIs' too). Every count and length goes
 * through the bounds-checked reader of kafka_codec.c before it is used.
 */
#include "kafka_request.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
const struct kafka_api_info kafka_apis[KAFKA_API_KEYS] = {
	[KAFKA_PRODUCE] = { "Produce", 3, 3, 9 },
	[KAFKA_FETCH] = { "Fetch", 4, 4, 12 },
	[KAFKA_LIST_OFFSETS] = { "ListOffsets", 1, 2, 6 },
	[KAFKA_METADATA] = { "Metadata", 0, 4, 9 },
	[KAFKA_OFFSET_COMMIT] = { "OffsetCommit", 2, 5, 8 },
	[KAFKA_OFFSET_FETCH] = { "OffsetFetch", 1, 4, 6 },
	[KAFKA_FIND_COORDINATOR] = { "FindCoordinator", 0, 2, 3 },
	[KAFKA_JOIN_GROUP] = { "JoinGroup", 0, 5, 6 },
	[KAFKA_HEARTBEAT] = { "Heartbeat", 0, 3, 4 },
	[KAFKA_LEAVE_GROUP] = { "LeaveGroup", 0, 1, 4 },
	[KAFKA_SYNC_GROUP] = { "SyncGroup", 0, 3, 4 },
	[KAFKA_DESCRIBE_GROUPS] = { "DescribeGroups", 0, 2, 5 },
	[KAFKA_LIST_GROUPS] = { "ListGroups", 0, 2, 3 },
	[KAFKA_API_VERSIONS] = { "ApiVersions", 0, 2, 3 },
	[KAFKA_CREATE_TOPICS] = { "CreateTopics", 0, 3, 5 },
	[KAFKA_DELETE_TOPICS] = { "DeleteTopics", 0, 3, 4 },
};
/* clang-format on */

static const char out_of_memory[] = "out of memory";

/* ---- Produce v3, Fetch v4, ListOffsets v1-v2: topics of partitions ------------------------- */

static void produce_part(struct kc_reader *r, void *slot, uint32_t topic)
{
	struct kreq_produce_part *p = slot;
	const uint8_t *rec;
	*p = (struct kreq_produce_part){ .topic = topic };
	p->partition = kc_i32(r, "partition index");
	kc_bytes(r, "records", true, &rec, &p->rec_len);
	p->rec_off = rec ? (size_t)(rec - r->base) : 0;
}

static int parse_produce(struct kc_reader *r, int v, struct kafka_request *req)
{
	(void)v;
	struct kreq_produce *m = &req->u.produce;
	kc_string(r, "transactional_id", true, &m->transactional_id.s, &m->transactional_id.len);
	m->acks = kc_i16(r, "acks");
	m->timeout_ms = kc_i32(r, "timeout_ms");
	return kc_topics_parse(r, 8, sizeof(*m->parts), produce_part, &m->topics, &m->ntopics, (void **)&m->parts,
			       &m->nparts);
}

static void fetch_part(struct kc_reader *r, void *slot, uint32_t topic)
{
	struct kreq_fetch_part *p = slot;
	*p = (struct kreq_fetch_part){ .topic = topic };
	p->partition = kc_i32(r, "partition");
	p->offset = kc_i64(r, "fetch_offset");
	p->max_bytes = kc_i32(r, "partition_max_bytes");
}

static int parse_fetch(struct kc_reader *r, int v, struct kafka_request *req)
{
	(void)v;
	struct kreq_fetch *m = &req->u.fetch;
	m->replica_id = kc_i32(r, "replica_id");
	m->max_wait_ms = kc_i32(r, "max_wait_ms");
	m->min_bytes = kc_i32(r, "min_bytes");
	m->max_bytes = kc_i32(r, "max_bytes");
	m->isolation_level = kc_i8(r, "isolation_level");
	return kc_topics_parse(r, 16, sizeof(*m->parts), fetch_part, &m->topics, &m->ntopics, (void **)&m->parts,
			       &m->nparts);
}

static void list_offsets_part(struct kc_reader *r, void *slot, uint32_t topic)
{
	struct kreq_list_offsets_part *p = slot;
	*p = (struct kreq_list_offsets_part){ .topic = topic };
	p->partition = kc_i32(r, "partition_index");
	p->timestamp = kc_i64(r, "timestamp");
}

static int parse_list_offsets(struct kc_reader *r, int v, struct kafka_request *req)
{
	struct kreq_list_offsets *m = &req->u.list_offsets;
	m->replica_id = kc_i32(r, "replica_id");
	if (v >= 2)
		m->isolation_level = kc_i8(r, "isolation_level");
	return kc_topics_parse(r, 12, sizeof(*m->parts), list_offsets_part, &m->topics, &m->ntopics,
			       (void **)&m->parts, &m->nparts);
}

/* ---- Metadata, DeleteTopics: lists of names ------------------------------------------------ */

/* n names (n <= 0: none) into a new array; NULL (and the reader failed) on no memory. */
static struct kreq_str *names(struct kc_reader *r, int32_t n, const char *what)
{
	struct kreq_str *s = calloc(n > 0 ? (size_t)n : 1, sizeof(*s));
	if (!s) {
		kc_fail(r, out_of_memory);
		return NULL;
	}
	for (int32_t i = 0; i < n; i++)
		kc_string(r, what, false, &s[i].s, &s[i].len);
	return s;
}

static int parse_metadata(struct kc_reader *r, int v, struct kafka_request *req)
{
	struct kreq_metadata *m = &req->u.metadata;
	m->ntopics = kc_array(r, "topics", 2, v >= 1);
	m->topics = names(r, m->ntopics, "topic name");
	m->allow_auto_topic_creation = v >= 4 ? kc_bool(r, "allow_auto_topic_creation") : true;
	return kc_failed(r) ? -EPROTO : 0;
}

static int parse_delete_topics(struct kc_reader *r, int v, struct kafka_request *req)
{
	(void)v;
	struct kreq_delete_topics *m = &req->u.delete_topics;
	m->n = kc_array(r, "topic_names", 2, false);
	m->names = names(r, m->n, "topic name");
	m->timeout_ms = kc_i32(r, "timeout_ms");
	return kc_failed(r) ? -EPROTO : 0;
}

/* ---- CreateTopics ---------------------------------------------------------------------------- */

static char *dup_str(const char *s, int len)
{
	char *d = malloc(len > 0 ? (size_t)len + 1 : 1);
	if (d) {
		if (len > 0)
			memcpy(d, s, (size_t)len);
		d[len > 0 ? len : 0] = '\0';
	}
	return d;
}

static void create_topic(struct kc_reader *r, struct kreq_create_topic *t)
{
	kc_string(r, "name", false, &t->name.s, &t->name.len);
	t->partitions = kc_i32(r, "num_partitions");
	t->replication = kc_i16(r, "replication_factor");
	t->nassign = kc_array(r, "assignments", 8, false);
	for (int32_t j = 0; j < t->nassign && !kc_failed(r); j++) {
		kc_i32(r, "partition_index");
		int32_t nb = kc_array(r, "broker_ids", 4, false);
		for (int32_t k = 0; k < nb; k++)
			kc_i32(r, "broker_id");
	}
	int32_t nc = kc_array(r, "configs", 4, false);
	if (nc > 0 && (!(t->keys = calloc((size_t)nc, sizeof(char *))) ||
		       !(t->values = calloc((size_t)nc, sizeof(char *))))) {
		kc_fail(r, out_of_memory);
		return;
	}
	for (int32_t j = 0; j < nc && !kc_failed(r); j++) {
		const char *k, *v;
		int kl, vl;
		kc_string(r, "config name", false, &k, &kl);
		kc_string(r, "config value", true, &v, &vl);
		if (kc_failed(r))
			break;
		t->keys[j] = dup_str(k, kl);
		t->values[j] = v ? dup_str(v, vl) : NULL;
		t->nconfigs = j + 1;
		if (!t->keys[j] || (v && !t->values[j]))
			kc_fail(r, out_of_memory);
	}
}

static int parse_create_topics(struct kc_reader *r, int v, struct kafka_request *req)
{
	struct kreq_create_topics *m = &req->u.create_topics;
	m->n = kc_array(r, "topics", 16, false);
	m->topics = calloc(m->n > 0 ? (size_t)m->n : 1, sizeof(*m->topics));
	if (!m->topics)
		return kc_fail(r, out_of_memory);
	for (int32_t i = 0; i < m->n && !kc_failed(r); i++)
		create_topic(r, &m->topics[i]);
	m->timeout_ms = kc_i32(r, "timeout_ms");
	m->validate_only = v >= 1 ? kc_bool(r, "validate_only") : false;
	return kc_failed(r) ? -EPROTO : 0;
}

static void free_create_topics(struct kreq_create_topics *m)
{
	for (int32_t i = 0; m->topics && i < m->n; i++) {
		struct kreq_create_topic *t = &m->topics[i];
		for (int32_t j = 0; j < t->nconfigs; j++) {
			free(t->keys[j]);
			free(t->values[j]);
		}
		free(t->keys);
		free(t->values);
	}
	free(m->topics);
}

/* ---- the group APIs ------------------------------------------------------------------------- */

static void str(struct kc_reader *r, const char *what, bool nullable, struct kreq_str *s)
{
	kc_string(r, what, nullable, &s->s, &s->len);
}

static int parse_find_coordinator(struct kc_reader *r, int v, struct kafka_request *req)
{
	struct kreq_find_coordinator *m = &req->u.find_coordinator;
	str(r, "key", false, &m->key);
	m->key_type = v >= 1 ? kc_i8(r, "key_type") : 0;
	return kc_failed(r) ? -EPROTO : 0;
}

/* group_id, generation_id when the request has one, member_id, group_instance_id from
 * version instance_from on. */
static void member(struct kc_reader *r, int v, bool generation, int instance_from, struct kreq_member *m)
{
	str(r, "group_id", false, &m->group_id);
	m->generation_id = generation ? kc_i32(r, "generation_id") : -1;
	str(r, "member_id", false, &m->member_id);
	m->group_instance_id = (struct kreq_str){ NULL, -1 };
	if (v >= instance_from)
		str(r, "group_instance_id", true, &m->group_instance_id);
}

static int parse_join_group(struct kc_reader *r, int v, struct kafka_request *req)
{
	struct kreq_join_group *m = &req->u.join_group;
	str(r, "group_id", false, &m->m.group_id);
	m->m.generation_id = -1;
	m->session_timeout_ms = kc_i32(r, "session_timeout_ms");
	m->rebalance_timeout_ms = v >= 1 ? kc_i32(r, "rebalance_timeout_ms") : m->session_timeout_ms;
	str(r, "member_id", false, &m->m.member_id);
	m->m.group_instance_id = (struct kreq_str){ NULL, -1 };
	if (v >= 5)
		str(r, "group_instance_id", true, &m->m.group_instance_id);
	str(r, "protocol_type", false, &m->protocol_type);
	m->nprotocols = kc_array(r, "protocols", 6, false);
	if (!(m->protocols = calloc(m->nprotocols > 0 ? (size_t)m->nprotocols : 1, sizeof(*m->protocols))))
		return kc_fail(r, out_of_memory);
	for (int32_t i = 0; i < m->nprotocols && !kc_failed(r); i++) {
		str(r, "protocol name", false, &m->protocols[i].name);
		kc_bytes(r, "protocol metadata", false, &m->protocols[i].meta, &m->protocols[i].meta_len);
	}
	return kc_failed(r) ? -EPROTO : 0;
}

static int parse_sync_group(struct kc_reader *r, int v, struct kafka_request *req)
{
	struct kreq_sync_group *m = &req->u.sync_group;
	member(r, v, true, 3, &m->m);
	m->n = kc_array(r, "assignments", 6, false);
	if (!(m->assignments = calloc(m->n > 0 ? (size_t)m->n : 1, sizeof(*m->assignments))))
		return kc_fail(r, out_of_memory);
	for (int32_t i = 0; i < m->n && !kc_failed(r); i++) {
		str(r, "assignment member_id", false, &m->assignments[i].member_id);
		kc_bytes(r, "assignment", false, &m->assignments[i].bytes, &m->assignments[i].len);
	}
	return kc_failed(r) ? -EPROTO : 0;
}

static int parse_heartbeat(struct kc_reader *r, int v, struct kafka_request *req)
{
	member(r, v, true, 3, &req->u.member);
	return kc_failed(r) ? -EPROTO : 0;
}

static int parse_leave_group(struct kc_reader *r, int v, struct kafka_request *req)
{
	member(r, v, false, 3, &req->u.member); /* v3+ (a member array) is not advertised */
	return kc_failed(r) ? -EPROTO : 0;
}

static void offset_commit_part(struct kc_reader *r, void *slot, uint32_t topic)
{
	struct kreq_offset_commit_part *p = slot;
	*p = (struct kreq_offset_commit_part){ .topic = topic };
	p->partition = kc_i32(r, "partition_index");
	p->offset = kc_i64(r, "committed_offset");
	str(r, "committed_metadata", true, &p->metadata);
}

static int parse_offset_commit(struct kc_reader *r, int v, struct kafka_request *req)
{
	struct kreq_offset_commit *m = &req->u.offset_commit;
	member(r, v, true, 7, &m->m); /* group_instance_id from v7: beyond ours */
	m->retention_time_ms = v <= 4 ? kc_i64(r, "retention_time_ms") : -1;
	return kc_topics_parse(r, 14, sizeof(*m->parts), offset_commit_part, &m->topics, &m->ntopics,
			       (void **)&m->parts, &m->nparts);
}

static void offset_fetch_part(struct kc_reader *r, void *slot, uint32_t topic)
{
	struct kreq_offset_fetch_part *p = slot;
	*p = (struct kreq_offset_fetch_part){ .topic = topic };
	p->partition = kc_i32(r, "partition_index");
}

static int parse_offset_fetch(struct kc_reader *r, int v, struct kafka_request *req)
{
	struct kreq_offset_fetch *m = &req->u.offset_fetch;
	str(r, "group_id", false, &m->group_id);
	/* v2+: topics may be null (every partition); kc_topics_parse reads a plain array */
	const uint8_t *p = r->p;
	if (v >= 2 && kc_left(r) >= 4 && p[0] == 0xff && p[1] == 0xff && p[2] == 0xff && p[3] == 0xff) {
		kc_i32(r, "topics");
		m->all = true;
		return kc_failed(r) ? -EPROTO : 0;
	}
	return kc_topics_parse(r, 4, sizeof(*m->parts), offset_fetch_part, &m->topics, &m->ntopics,
			       (void **)&m->parts, &m->nparts);
}

static int parse_describe_groups(struct kc_reader *r, int v, struct kafka_request *req)
{
	(void)v;
	struct kreq_describe_groups *m = &req->u.describe_groups;
	m->n = kc_array(r, "groups", 2, false);
	m->groups = names(r, m->n, "group id");
	return kc_failed(r) ? -EPROTO : 0;
}

/* ---- the frame -------------------------------------------------------------------------------- */

/* ApiVersions v0-v2 and ListGroups v0-v2 have an empty body. */
static int parse_empty(struct kc_reader *r, int v, struct kafka_request *req)
{
	(void)r;
	(void)v;
	(void)req;
	return 0;
}

typedef int body_parser(struct kc_reader *r, int version, struct kafka_request *req);
static body_parser *const parsers[KAFKA_API_KEYS] = {
	[KAFKA_PRODUCE] = parse_produce,
	[KAFKA_FETCH] = parse_fetch,
	[KAFKA_LIST_OFFSETS] = parse_list_offsets,
	[KAFKA_METADATA] = parse_metadata,
	[KAFKA_OFFSET_COMMIT] = parse_offset_commit,
	[KAFKA_OFFSET_FETCH] = parse_offset_fetch,
	[KAFKA_FIND_COORDINATOR] = parse_find_coordinator,
	[KAFKA_JOIN_GROUP] = parse_join_group,
	[KAFKA_HEARTBEAT] = parse_heartbeat,
	[KAFKA_LEAVE_GROUP] = parse_leave_group,
	[KAFKA_SYNC_GROUP] = parse_sync_group,
	[KAFKA_DESCRIBE_GROUPS] = parse_describe_groups,
	[KAFKA_LIST_GROUPS] = parse_empty,
	[KAFKA_API_VERSIONS] = parse_empty,
	[KAFKA_CREATE_TOPICS] = parse_create_topics,
	[KAFKA_DELETE_TOPICS] = parse_delete_topics,
};

void kafka_request_free(struct kafka_request *req)
{
	switch (req->h.api_key) {
	case KAFKA_PRODUCE:
		kc_topics_free(req->u.produce.topics, req->u.produce.ntopics);
		free(req->u.produce.parts);
		break;
	case KAFKA_FETCH:
		kc_topics_free(req->u.fetch.topics, req->u.fetch.ntopics);
		free(req->u.fetch.parts);
		break;
	case KAFKA_LIST_OFFSETS:
		kc_topics_free(req->u.list_offsets.topics, req->u.list_offsets.ntopics);
		free(req->u.list_offsets.parts);
		break;
	case KAFKA_METADATA:
		free(req->u.metadata.topics);
		break;
	case KAFKA_CREATE_TOPICS:
		free_create_topics(&req->u.create_topics);
		break;
	case KAFKA_DELETE_TOPICS:
		free(req->u.delete_topics.names);
		break;
	case KAFKA_JOIN_GROUP:
		free(req->u.join_group.protocols);
		break;
	case KAFKA_SYNC_GROUP:
		free(req->u.sync_group.assignments);
		break;
	case KAFKA_OFFSET_COMMIT:
		kc_topics_free(req->u.offset_commit.topics, req->u.offset_commit.ntopics);
		free(req->u.offset_commit.parts);
		break;
	case KAFKA_OFFSET_FETCH:
		kc_topics_free(req->u.offset_fetch.topics, req->u.offset_fetch.ntopics);
		free(req->u.offset_fetch.parts);
		break;
	case KAFKA_DESCRIBE_GROUPS:
		free(req->u.describe_groups.groups);
		break;
	default:
		break;
	}
	memset(&req->u, 0, sizeof(req->u));
}

int kafka_request_parse(const uint8_t *frame, size_t len, struct kafka_request *req, const char **what)
{
	memset(req, 0, sizeof(*req));
	req->frame = frame;
	req->len = len;
	*what = NULL;
	if (kc_header_peek(frame, len, &req->h) < 0) {
		*what = "api_key, api_version and correlation_id";
		return KREQ_BAD_HEADER;
	}
	int16_t key = req->h.api_key;
	const struct kafka_api_info *api = key >= 0 && key < KAFKA_API_KEYS && kafka_apis[key].name ? &kafka_apis[key] : NULL;
	if (!api)
		return KREQ_UNKNOWN_API;
	struct kc_reader r;
	kc_reader_init(&r, frame, len);
	if (kc_header_parse(&r, req->h.api_version >= api->first_flexible, &req->h) < 0) {
		*what = r.what;
		return KREQ_BAD_HEADER;
	}
	if (key == KAFKA_API_VERSIONS && req->h.api_version > api->max)
		return KREQ_PROBE;
	if (req->h.api_version < api->min || req->h.api_version > api->max)
		return KREQ_BAD_VERSION;
	if (parsers[key](&r, req->h.api_version, req) == 0 && !kc_failed(&r))
		return 0;
	*what = r.what ? r.what : "?";
	kafka_request_free(req);
	return strcmp(*what, out_of_memory) ? KREQ_MALFORMED : -ENOMEM;
}

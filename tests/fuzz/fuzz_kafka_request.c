/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_kafka_request.c — the Kafka request parser (kafka_request_parse: the header and the
 * body of every supported API and version) on arbitrary frames. Invariants: one of the
 * documented results; a malformed frame names the field; a parsed request's strings,
 * byte fields (group metadata, assignments) and record ranges lie inside the frame, its topics cover its partitions in order without a
 * gap, no request holds more than KC_MAX_ELEMENTS array elements, and everything it
 * allocated is freed (LeakSanitizer).
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "kafka_request.h"

static void check_str(const uint8_t *data, size_t size, const struct kreq_str *s, bool nullable)
{
	if (!s->s) {
		FUZZ_CHECK(nullable && s->len == -1);
		return;
	}
	FUZZ_CHECK(s->len >= 0 && (const uint8_t *)s->s >= data && (size_t)s->len <= size &&
		   (const uint8_t *)s->s + s->len <= data + size);
}

/* Bytes of the frame (len -1: none, where the field is not nullable an empty one). */
static void check_bytes(const uint8_t *data, size_t size, const uint8_t *b, int32_t len)
{
	FUZZ_CHECK(len >= -1);
	if (len > 0)
		FUZZ_CHECK(b >= data && (size_t)len <= size && b + len <= data + size);
}

/* A group member's fields: group and member ids inside the frame, instance id nullable. */
static void check_member(const uint8_t *data, size_t size, const struct kreq_member *m)
{
	check_str(data, size, &m->group_id, false);
	check_str(data, size, &m->member_id, false);
	check_str(data, size, &m->group_instance_id, true);
}

/* Topics [first, first + n) tile the partitions in order; names are C strings. */
static void check_topics(const struct kc_topic *t, uint32_t nt, uint32_t np)
{
	uint32_t next = 0;
	for (uint32_t i = 0; i < nt; i++) {
		FUZZ_CHECK(t[i].name && t[i].first == next);
		FUZZ_CHECK(strlen(t[i].name) <= INT16_MAX);
		next += t[i].n;
	}
	FUZZ_CHECK(next == np && np <= KC_MAX_ELEMENTS && nt <= KC_MAX_ELEMENTS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kafka_request req;
	const char *what = NULL;
	int rc = kafka_request_parse(data, size, &req, &what);
	FUZZ_CHECK(rc == 0 || rc == KREQ_UNKNOWN_API || rc == KREQ_BAD_VERSION || rc == KREQ_PROBE ||
		   rc == KREQ_MALFORMED || rc == KREQ_BAD_HEADER || rc == -ENOMEM);
	if (rc == KREQ_MALFORMED || rc == KREQ_BAD_HEADER)
		FUZZ_CHECK(what && *what);
	if (rc != 0)
		return 0;
	const struct kafka_api_info *api = &kafka_apis[req.h.api_key];
	FUZZ_CHECK(api->name && req.h.api_version >= api->min && req.h.api_version <= api->max);
	check_str(data, size, &(struct kreq_str){ req.h.client_id, req.h.client_id_len }, true);
	switch (req.h.api_key) {
	case KAFKA_PRODUCE: {
		const struct kreq_produce *m = &req.u.produce;
		check_topics(m->topics, m->ntopics, m->nparts);
		check_str(data, size, &m->transactional_id, true);
		for (uint32_t i = 0; i < m->nparts; i++) {
			const struct kreq_produce_part *p = &m->parts[i];
			FUZZ_CHECK(p->topic < m->ntopics);
			FUZZ_CHECK(p->rec_len == -1 || (p->rec_len >= 0 && p->rec_off <= size &&
							(size_t)p->rec_len <= size - p->rec_off));
		}
		break;
	}
	case KAFKA_FETCH:
		check_topics(req.u.fetch.topics, req.u.fetch.ntopics, req.u.fetch.nparts);
		for (uint32_t i = 0; i < req.u.fetch.nparts; i++)
			FUZZ_CHECK(req.u.fetch.parts[i].topic < req.u.fetch.ntopics);
		break;
	case KAFKA_LIST_OFFSETS:
		check_topics(req.u.list_offsets.topics, req.u.list_offsets.ntopics, req.u.list_offsets.nparts);
		for (uint32_t i = 0; i < req.u.list_offsets.nparts; i++)
			FUZZ_CHECK(req.u.list_offsets.parts[i].topic < req.u.list_offsets.ntopics);
		break;
	case KAFKA_METADATA:
		FUZZ_CHECK(req.u.metadata.ntopics >= -1 && req.u.metadata.ntopics <= KC_MAX_ELEMENTS);
		FUZZ_CHECK(req.u.metadata.ntopics == -1 ? req.h.api_version >= 1 : 1);
		for (int32_t i = 0; i < req.u.metadata.ntopics; i++)
			check_str(data, size, &req.u.metadata.topics[i], false);
		break;
	case KAFKA_CREATE_TOPICS:
		FUZZ_CHECK(req.u.create_topics.n >= 0 && req.u.create_topics.n <= KC_MAX_ELEMENTS);
		for (int32_t i = 0; i < req.u.create_topics.n; i++) {
			const struct kreq_create_topic *t = &req.u.create_topics.topics[i];
			check_str(data, size, &t->name, false);
			FUZZ_CHECK(t->nassign >= 0 && t->nconfigs >= 0);
			for (int32_t j = 0; j < t->nconfigs; j++)
				FUZZ_CHECK(t->keys[j] && strlen(t->keys[j]) <= INT16_MAX);
		}
		break;
	case KAFKA_DELETE_TOPICS:
		FUZZ_CHECK(req.u.delete_topics.n >= 0 && req.u.delete_topics.n <= KC_MAX_ELEMENTS);
		for (int32_t i = 0; i < req.u.delete_topics.n; i++)
			check_str(data, size, &req.u.delete_topics.names[i], false);
		break;
	case KAFKA_FIND_COORDINATOR:
		check_str(data, size, &req.u.find_coordinator.key, false);
		break;
	case KAFKA_HEARTBEAT:
	case KAFKA_LEAVE_GROUP:
		check_member(data, size, &req.u.member);
		break;
	case KAFKA_JOIN_GROUP: {
		const struct kreq_join_group *m = &req.u.join_group;
		check_member(data, size, &m->m);
		check_str(data, size, &m->protocol_type, false);
		FUZZ_CHECK(m->nprotocols >= 0 && m->nprotocols <= KC_MAX_ELEMENTS);
		for (int32_t i = 0; i < m->nprotocols; i++) {
			check_str(data, size, &m->protocols[i].name, false);
			check_bytes(data, size, m->protocols[i].meta, m->protocols[i].meta_len);
		}
		break;
	}
	case KAFKA_SYNC_GROUP: {
		const struct kreq_sync_group *m = &req.u.sync_group;
		check_member(data, size, &m->m);
		FUZZ_CHECK(m->n >= 0 && m->n <= KC_MAX_ELEMENTS);
		for (int32_t i = 0; i < m->n; i++) {
			check_str(data, size, &m->assignments[i].member_id, false);
			check_bytes(data, size, m->assignments[i].bytes, m->assignments[i].len);
		}
		break;
	}
	case KAFKA_OFFSET_COMMIT: {
		const struct kreq_offset_commit *m = &req.u.offset_commit;
		check_member(data, size, &m->m);
		check_topics(m->topics, m->ntopics, m->nparts);
		for (uint32_t i = 0; i < m->nparts; i++) {
			FUZZ_CHECK(m->parts[i].topic < m->ntopics);
			check_str(data, size, &m->parts[i].metadata, true);
		}
		break;
	}
	case KAFKA_OFFSET_FETCH: {
		const struct kreq_offset_fetch *m = &req.u.offset_fetch;
		check_str(data, size, &m->group_id, false);
		FUZZ_CHECK(!m->all || (req.h.api_version >= 2 && !m->ntopics && !m->nparts));
		check_topics(m->topics, m->ntopics, m->nparts);
		for (uint32_t i = 0; i < m->nparts; i++)
			FUZZ_CHECK(m->parts[i].topic < m->ntopics);
		break;
	}
	case KAFKA_DESCRIBE_GROUPS:
		FUZZ_CHECK(req.u.describe_groups.n >= 0 && req.u.describe_groups.n <= KC_MAX_ELEMENTS);
		for (int32_t i = 0; i < req.u.describe_groups.n; i++)
			check_str(data, size, &req.u.describe_groups.groups[i], false);
		break;
	case KAFKA_API_VERSIONS:
	case KAFKA_LIST_GROUPS:
		break;
	default:
		FUZZ_CHECK(0);
	}
	kafka_request_free(&req);
	return 0;
}

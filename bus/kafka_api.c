/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_api.c — the request table and every handler but Fetch (kafka_fetch.c) and the
 * group APIs (kafka_group.c): ApiVersions (with the KIP-511 refusal of v3 probes),
 * Metadata (auto-creating topics), ListOffsets (earliest, latest, by timestamp through
 * the time index), CreateTopics, DeleteTopics and Produce, whose batches take the local
 * producers' path: writer_stage_batch validates them exactly like ring batches and
 * writer_add appends them, acked through the connection's ack sink. The handlers act on
 * requests kafka_request.c parsed.
 */
#include "kafka_api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_fetch.h"
#include "kafka_group.h"
#include "logging.h"
#include "pagebus.h"

#define CLUSTER_ID "pagebus"
#define NODE_ID 0

/* A handler may take the request's arrays (leaving NULL behind); the rest is freed. */
typedef int kafka_handler(struct kconn *c, struct kafka_request *req);

/* ---- shared helpers -------------------------------------------------------------------- */

/* The topic named by len bytes of the frame, or NULL (absent, or not a valid name). */
static struct topic *find_topic(struct broker *b, const char *s, int len)
{
	char name[TOPIC_NAME_MAX + 1];
	if (len <= 0 || len > TOPIC_NAME_MAX || memchr(s, 0, (size_t)len))
		return NULL;
	memcpy(name, s, (size_t)len);
	name[len] = '\0';
	return topics_find(&b->topics, name);
}

/* A frame string as a C string in name[TOPIC_NAME_MAX + 1]; 0, or -1 when it cannot be a
 * valid topic name. */
static int topic_name(const char *s, int len, char *name)
{
	if (len <= 0 || len > TOPIC_NAME_MAX || memchr(s, 0, (size_t)len))
		return -1;
	memcpy(name, s, (size_t)len);
	name[len] = '\0';
	return topics_name_valid(name) ? 0 : -1;
}

static void by_client(const struct kconn *c, char *buf, size_t len)
{
	snprintf(buf, len, "by " KCONN_FMT, KCONN_ARGS(c));
}

/* Kafka's code for a refused batch or a failed append. */
static int16_t kerr_from(int err)
{
	switch (err) {
	case -EMSGSIZE:
		return KERR_MESSAGE_TOO_LARGE;
	case -PAGEBUS_EBADCRC:
	case -PAGEBUS_ETRUNCATED:
	case -PAGEBUS_EBADLEN:
		return KERR_CORRUPT_MESSAGE;
	case -PAGEBUS_EBADMAGIC:
	case -PAGEBUS_EBADCOUNT:
	case -PAGEBUS_EVARINT:
	case -PAGEBUS_EBADRECORD:
	case -PAGEBUS_ECOMPRESSED:
		return KERR_INVALID_RECORD;
	case -ENOENT:
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	default:
		return KERR_UNKNOWN_SERVER_ERROR;
	}
}

/* ---- ApiVersions ------------------------------------------------------------------------- */

static int h_api_versions(struct kconn *c, struct kafka_request *req)
{
	const struct kc_header *h = &req->h;
	struct kresp *resp = kresp_new(c, h);
	if (!resp)
		return -ENOMEM;
	struct kc_writer *w = &resp->w;
	int32_t n = 0;
	for (size_t i = 0; i < KAFKA_API_KEYS; i++)
		n += kafka_apis[i].name != NULL;
	kc_w_i16(w, KERR_NONE);
	kc_w_i32(w, n);
	for (size_t i = 0; i < KAFKA_API_KEYS; i++) {
		if (!kafka_apis[i].name)
			continue;
		kc_w_i16(w, (int16_t)i);
		kc_w_i16(w, kafka_apis[i].min);
		kc_w_i16(w, kafka_apis[i].max);
	}
	if (h->api_version >= 1)
		kc_w_i32(w, 0); /* throttle_time_ms */
	kresp_ready(resp);
	return 0;
}

/*
 * KIP-511: an ApiVersions version above ours is answered without reading its body, with
 * a v0 body (response header v0 as always for ApiVersions): UNSUPPORTED_VERSION and our
 * own ApiVersions range, so the client retries with a version we speak.
 */
static int api_versions_refuse(struct kconn *c, const struct kc_header *h)
{
	struct kresp *resp = kresp_new(c, h);
	if (!resp)
		return -ENOMEM;
	const struct kafka_api_info *a = &kafka_apis[KAFKA_API_VERSIONS];
	kc_w_i16(&resp->w, KERR_UNSUPPORTED_VERSION);
	kc_w_i32(&resp->w, 1);
	kc_w_i16(&resp->w, KAFKA_API_VERSIONS);
	kc_w_i16(&resp->w, a->min);
	kc_w_i16(&resp->w, a->max);
	kresp_ready(resp);
	return 0;
}

/* ---- Metadata --------------------------------------------------------------------------- */

static void metadata_topic(struct kc_writer *w, int v, const char *name, int len, const struct topic *t,
			   int16_t err)
{
	kc_w_i16(w, err);
	kc_w_string(w, name, len);
	if (v >= 1)
		kc_w_i8(w, 0); /* is_internal */
	int32_t n = t && !err ? t->nparts : 0;
	kc_w_i32(w, n);
	for (int32_t i = 0; i < n; i++) {
		kc_w_i16(w, KERR_NONE);
		kc_w_i32(w, i);
		kc_w_i32(w, NODE_ID); /* leader */
		kc_w_i32(w, 1);       /* replicas: this broker */
		kc_w_i32(w, NODE_ID);
		kc_w_i32(w, 1); /* in-sync replicas: the same */
		kc_w_i32(w, NODE_ID);
	}
}

/* Looks up (and when allowed, creates) one requested topic for Metadata. */
static int16_t metadata_lookup(struct kconn *c, const struct kreq_str *n, bool allow_create, struct topic **out)
{
	struct broker *b = c->k->b;
	char name[TOPIC_NAME_MAX + 1], err[256], by[128];
	*out = NULL;
	if (topic_name(n->s, n->len, name) < 0)
		return KERR_INVALID_TOPIC_EXCEPTION;
	if ((*out = topics_find(&b->topics, name)))
		return KERR_NONE;
	if (!allow_create || !b->cfg->auto_create_topics)
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	by_client(c, by, sizeof(by));
	char auto_by[160];
	snprintf(auto_by, sizeof(auto_by), "automatically (Metadata %s)", by);
	int r = broker_topic_create(b, name, b->cfg->default_partitions, NULL, NULL, 0, auto_by, out, err,
				    sizeof(err));
	if (r < 0) {
		log_warn("cannot create topic %s for " KCONN_FMT ": %s", name, KCONN_ARGS(c), err);
		*out = NULL;
		return r == -EINVAL ? KERR_INVALID_TOPIC_EXCEPTION : KERR_UNKNOWN_SERVER_ERROR;
	}
	return KERR_NONE;
}

static int h_metadata(struct kconn *c, struct kafka_request *req)
{
	struct broker *b = c->k->b;
	const struct kc_header *h = &req->h;
	int v = h->api_version;
	int32_t n = req->u.metadata.ntopics;
	const struct kreq_str *names = req->u.metadata.topics;
	bool allow = req->u.metadata.allow_auto_topic_creation;
	/* v0: an empty array means all topics; v1+: null means all, empty means none */
	bool all = n < 0 || (v == 0 && n == 0);
	struct kresp *resp = kresp_new(c, h);
	if (!resp)
		return -ENOMEM;
	struct kc_writer *w = &resp->w;
	if (v >= 3)
		kc_w_i32(w, 0); /* throttle_time_ms */
	kc_w_i32(w, 1); /* brokers: this one */
	kc_w_i32(w, NODE_ID);
	kc_w_cstr(w, c->k->adv_host);
	kc_w_i32(w, c->k->adv_port);
	if (v >= 1)
		kc_w_string(w, NULL, -1); /* rack */
	if (v >= 2)
		kc_w_cstr(w, CLUSTER_ID);
	if (v >= 1)
		kc_w_i32(w, NODE_ID); /* controller */
	if (all) {
		kc_w_i32(w, (int32_t)b->topics.n);
		for (size_t i = 0; i < b->topics.n; i++) {
			const struct topic *t = b->topics.v[i];
			metadata_topic(w, v, t->name, (int)strlen(t->name), t, KERR_NONE);
		}
	} else {
		kc_w_i32(w, n < 0 ? 0 : n);
		for (int32_t i = 0; i < n; i++) {
			struct topic *t;
			int16_t err = metadata_lookup(c, &names[i], allow, &t);
			metadata_topic(w, v, names[i].s, names[i].len, t, err);
		}
	}
	kresp_ready(resp);
	return 0;
}

/* ---- ListOffsets --------------------------------------------------------------------------- */

static int h_list_offsets(struct kconn *c, struct kafka_request *req)
{
	struct broker *b = c->k->b;
	const struct kc_header *h = &req->h;
	const struct kreq_list_offsets *m = &req->u.list_offsets;
	int v = h->api_version;
	struct kresp *resp = kresp_new(c, h);
	if (!resp)
		return -ENOMEM;
	struct kc_writer *w = &resp->w;
	if (v >= 2)
		kc_w_i32(w, 0); /* throttle_time_ms */
	kc_w_i32(w, (int32_t)m->ntopics);
	for (uint32_t i = 0; i < m->ntopics; i++) {
		const struct kc_topic *tp = &m->topics[i];
		struct topic *t = find_topic(b, tp->name, (int)strlen(tp->name));
		kc_w_cstr(w, tp->name);
		kc_w_i32(w, (int32_t)tp->n);
		for (uint32_t j = tp->first; j < tp->first + tp->n; j++) {
			int32_t index = m->parts[j].partition;
			int64_t ts = m->parts[j].timestamp;
			struct bpart *bp = t ? broker_part(b, t->id, index) : NULL;
			int16_t err = KERR_NONE;
			int64_t off = -1, ts_out = -1;
			if (!bp)
				err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
			else if (ts == -2) /* earliest */
				off = bp->log->log_start;
			else if (ts == -1) /* latest: the high watermark */
				off = bp->log->hwm;
			else if (ts >= 0) {
				if (part_offset_for_time(bp->log, ts, &off, &ts_out) < 0)
					off = ts_out = -1; /* no record at or after ts */
			} else
				err = KERR_INVALID_REQUEST;
			kc_w_i32(w, index);
			kc_w_i16(w, err);
			kc_w_i64(w, ts_out);
			kc_w_i64(w, off);
		}
	}
	kresp_ready(resp);
	return 0;
}

/* ---- CreateTopics ----------------------------------------------------------------------- */

/* Checks one topic of CreateTopics; creates it unless only validating. */
static int16_t ct_one(struct kconn *c, const struct kreq_create_topic *t, bool validate_only, char *msg,
		      size_t msglen)
{
	struct broker *b = c->k->b;
	char name[TOPIC_NAME_MAX + 1], by[128];
	msg[0] = '\0';
	if (topic_name(t->name.s, t->name.len, name) < 0)
		return (int16_t)config_errf(msg, msglen, KERR_INVALID_TOPIC_EXCEPTION,
				   "topic names are 1..249 characters of [a-zA-Z0-9._-], not . or ..");
	if (topics_find(&b->topics, name))
		return config_errf(msg, msglen, KERR_TOPIC_ALREADY_EXISTS, "topic '%s' already exists", name);
	/* -1 = the broker's default (KIP-464 says from v4; kafkajs sends it at v3 too) */
	int32_t partitions = t->partitions == -1 ? b->cfg->default_partitions : t->partitions;
	if (partitions < 1 || partitions > CONFIG_PARTITIONS_MAX)
		return config_errf(msg, msglen, KERR_INVALID_PARTITIONS, "partitions must be 1..%d",
				   CONFIG_PARTITIONS_MAX);
	if (t->replication != 1 && t->replication != -1)
		return config_errf(msg, msglen, KERR_INVALID_REPLICATION_FACTOR,
				   "pagebus is one broker: the replication factor must be 1");
	if (t->nassign > 0)
		return config_errf(msg, msglen, KERR_INVALID_REQUEST, "manual partition assignment is not supported");
	struct log_config lc = b->cfg->log;
	for (int32_t j = 0; j < t->nconfigs; j++)
		if (!t->values[j] || config_topic_override(&lc, t->keys[j], t->values[j], msg, msglen) < 0) {
			if (!t->values[j])
				snprintf(msg, msglen, "config %s: a value is required", t->keys[j]);
			return KERR_INVALID_CONFIG;
		}
	if (validate_only)
		return KERR_NONE;
	struct topic *out;
	by_client(c, by, sizeof(by));
	int r = broker_topic_create(b, name, partitions, (const char *const *)t->keys,
				    (const char *const *)t->values, t->nconfigs, by, &out, msg, msglen);
	switch (r) {
	case 0:
		return KERR_NONE;
	case -EEXIST:
		return KERR_TOPIC_ALREADY_EXISTS;
	case -EINVAL:
		return KERR_INVALID_CONFIG;
	case -ENOSPC:
		return KERR_INVALID_PARTITIONS;
	default:
		return KERR_UNKNOWN_SERVER_ERROR;
	}
}

static int h_create_topics(struct kconn *c, struct kafka_request *req)
{
	const struct kc_header *h = &req->h;
	int v = h->api_version;
	int32_t n = req->u.create_topics.n;
	const struct kreq_create_topic *ts = req->u.create_topics.topics;
	bool validate_only = req->u.create_topics.validate_only;
	struct kresp *resp = kresp_new(c, h);
	if (!resp)
		return -ENOMEM;
	struct kc_writer *w = &resp->w;
	if (v >= 2)
		kc_w_i32(w, 0); /* throttle_time_ms */
	kc_w_i32(w, n);
	for (int32_t i = 0; i < n; i++) {
		char msg[256];
		bool dup = false; /* Kafka refuses a name given twice in one request */
		for (int32_t j = 0; j < i; j++)
			dup |= ts[j].name.len == ts[i].name.len &&
			       !memcmp(ts[j].name.s, ts[i].name.s, (size_t)ts[i].name.len);
		int16_t err = dup ? (int16_t)config_errf(msg, sizeof(msg), KERR_INVALID_REQUEST,
							 "topic given twice in one request")
				  : ct_one(c, &ts[i], validate_only, msg, sizeof(msg));
		kc_w_string(w, ts[i].name.s, ts[i].name.len);
		kc_w_i16(w, err);
		if (v >= 1)
			kc_w_cstr(w, err ? msg : NULL);
	}
	kresp_ready(resp);
	return 0;
}

/* ---- DeleteTopics ----------------------------------------------------------------------- */

static int h_delete_topics(struct kconn *c, struct kafka_request *req)
{
	struct broker *b = c->k->b;
	const struct kc_header *h = &req->h;
	int32_t n = req->u.delete_topics.n;
	const struct kreq_str *names = req->u.delete_topics.names;
	struct kresp *resp = kresp_new(c, h);
	if (!resp)
		return -ENOMEM;
	struct kc_writer *w = &resp->w;
	if (h->api_version >= 1)
		kc_w_i32(w, 0); /* throttle_time_ms */
	kc_w_i32(w, n);
	for (int32_t i = 0; i < n; i++) {
		char name[TOPIC_NAME_MAX + 1], msg[256], by[128];
		int16_t err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
		by_client(c, by, sizeof(by));
		if (topic_name(names[i].s, names[i].len, name) == 0) {
			int rc = broker_topic_delete(b, name, by, msg, sizeof(msg));
			err = rc == 0 ? KERR_NONE
			      : rc == -ENOENT ? KERR_UNKNOWN_TOPIC_OR_PARTITION
			      : rc == -EBUSY ? KERR_REQUEST_TIMED_OUT /* appends in flight: retriable */
					     : KERR_UNKNOWN_SERVER_ERROR;
			if (rc < 0 && rc != -ENOENT)
				log_warn("cannot delete topic %s for " KCONN_FMT ": %s", name, KCONN_ARGS(c), msg);
		}
		kc_w_string(w, names[i].s, names[i].len);
		kc_w_i16(w, err);
	}
	kresp_ready(resp);
	return 0;
}

/* ---- Produce ---------------------------------------------------------------------------- */

struct kproduce;

/* How one partition of the request ended (parts[i] of req.parts[i]). */
struct kp_part {
	struct kproduce *st;  /* the ack cookie leads back here */
	int16_t error;
	int64_t base_offset;
};

struct kproduce {
	struct kresp *r;
	struct kreq_produce req; /* taken from the parsed request: topics, where records are */
	uint32_t next;    /* first partition not yet handed to the writer */
	uint32_t owed;    /* acks the writer still owes */
	bool orphan;      /* the connection closed: freed once nothing is owed */
	struct kp_part *parts;
};

static void produce_free(struct kproduce *st)
{
	kc_topics_free(st->req.topics, st->req.ntopics);
	free(st->req.parts);
	free(st->parts);
	free(st);
}

static void produce_abort(struct kresp *r)
{
	struct kproduce *st = r->state;
	if (st->owed && !r->c->k->gone) {
		st->orphan = true; /* the writer still holds entries of it */
		return;
	}
	produce_free(st);
	r->state = NULL;
}

/* Every partition is appended or refused: the response (none for acks = 0). */
static void produce_finish(struct kproduce *st)
{
	struct kresp *r = st->r;
	struct kconn *c = r->c;
	if (st->orphan) {
		produce_free(st);
		kresp_release(r);
		return;
	}
	r->state = NULL;
	int16_t first_err = KERR_NONE;
	struct kc_writer *w = &r->w;
	kc_w_i32(w, (int32_t)st->req.ntopics);
	for (uint32_t t = 0; t < st->req.ntopics; t++) {
		const struct kc_topic *tp = &st->req.topics[t];
		kc_w_cstr(w, tp->name);
		kc_w_i32(w, (int32_t)tp->n);
		for (uint32_t i = tp->first; i < tp->first + tp->n; i++) {
			const struct kp_part *p = &st->parts[i];
			if (p->error && !first_err)
				first_err = p->error;
			kc_w_i32(w, st->req.parts[i].partition);
			kc_w_i16(w, p->error);
			kc_w_i64(w, p->error ? -1 : p->base_offset);
			kc_w_i64(w, -1); /* log_append_time_ms: CreateTime topics */
		}
	}
	kc_w_i32(w, 0); /* throttle_time_ms */
	int16_t acks = st->req.acks;
	produce_free(st);
	if (acks == 0 && first_err) {
		/* no response to carry the error: close, as Kafka does, so the client notices */
		kconn_close(c, LOG_WARN, "Produce with acks=0 failed with error %d", first_err);
		return;
	}
	kresp_ready(r);
}

/* One line a second at most per connection about refused batches. */
static void log_bad_batch(struct kconn *c, const char *topic, int32_t partition, int err)
{
	c->bad_batches++;
	uint32_t now = (uint32_t)(c->k->b->now_ms / 1000);
	if (now == c->last_bad_log && c->bad_batches > 1)
		return;
	c->last_bad_log = now;
	log_warn(KCONN_FMT ": batch for %s-%d refused: %s; %" PRIu64 " refused so far", KCONN_ARGS(c), topic,
		 partition, pagebus_strerror(err), c->bad_batches);
}

/* Hands the remaining partitions to the writer, in request order. */
static int produce_run(struct kproduce *st, const uint8_t *frame)
{
	struct kconn *c = st->r->c;
	struct kafka *k = c->k;
	/* acks 0 / 1 / -1: none / appended / durable (other values were refused already) */
	uint8_t acks = st->req.acks == 0 ? PB_ACKS_NONE : st->req.acks == 1 ? PB_ACKS_APPENDED : PB_ACKS_DURABLE;
	for (; st->next < st->req.nparts; st->next++) {
		struct kp_part *p = &st->parts[st->next];
		const struct kreq_produce_part *rp = &st->req.parts[st->next];
		if (p->error)
			continue;
		const char *name = st->req.topics[rp->topic].name;
		struct topic *t = topics_find(&k->b->topics, name);
		struct bpart *bp = t ? broker_part(k->b, t->id, rp->partition) : NULL;
		if (!bp) {
			p->error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
			continue;
		}
		int err = -PAGEBUS_EBADRECORD; /* v3+: exactly one batch, never none */
		struct rb_header hdr;
		if (rp->rec_len > 0)
			err = writer_stage_batch(bp, frame + rp->rec_off, (size_t)rp->rec_len, &hdr);
		if (!err)
			err = writer_add(bp, &hdr, (size_t)rp->rec_len, &c->sink, (uint64_t)(uintptr_t)p, acks);
		if (err == -EBUSY)
			return KAFKA_BLOCKED; /* the partition must finish a write first */
		if (err) {
			p->error = kerr_from(err);
			log_bad_batch(c, name, rp->partition, err);
			continue;
		}
		st->owed++;
		k->stats.produce_batches++;
		k->stats.produce_bytes += (uint64_t)rp->rec_len;
	}
	if (!st->owed)
		produce_finish(st);
	return 0;
}

static int h_produce(struct kconn *c, struct kafka_request *req)
{
	struct kproduce *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->req = req->u.produce; /* the state owns the request's arrays from here */
	memset(&req->u.produce, 0, sizeof(req->u.produce));
	st->parts = calloc(st->req.nparts ? st->req.nparts : 1, sizeof(*st->parts));
	struct kresp *resp = st->parts ? kresp_new(c, &req->h) : NULL;
	if (!resp) {
		produce_free(st);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < st->req.nparts; i++)
		st->parts[i] = (struct kp_part){ .st = st, .base_offset = -1 };
	st->r = resp;
	resp->state = st;
	resp->abort = produce_abort;
	resp->silent = st->req.acks == 0;
	if (st->req.acks < -1 || st->req.acks > 1) {
		resp->silent = false;
		for (uint32_t i = 0; i < st->req.nparts; i++)
			st->parts[i].error = KERR_INVALID_REQUIRED_ACKS;
	}
	return produce_run(st, req->frame); /* the records are read from the frame */
}

void kafka_api_produce_ack(uint64_t cookie, int64_t offset, int err)
{
	struct kp_part *p = (struct kp_part *)(uintptr_t)cookie;
	struct kproduce *st = p->st;
	if (err)
		p->error = kerr_from(err);
	else
		p->base_offset = offset;
	st->owed--;
	if (st->owed)
		return;
	if (st->next == st->req.nparts || st->orphan)
		produce_finish(st); /* an orphan that was still blocked is just freed */
}

int kafka_api_resume(struct kconn *c, const uint8_t *frame, size_t len)
{
	(void)len;
	/* only Produce blocks, and nothing after it was taken: it is the newest response */
	struct kresp *r = container_of(c->resps.prev, struct kresp, link);
	return produce_run(r->state, frame);
}

/* ---- the table ---------------------------------------------------------------------------- */

static kafka_handler *const handlers[KAFKA_API_KEYS] = {
	[KAFKA_PRODUCE] = h_produce,
	[KAFKA_FETCH] = kafka_fetch_request,
	[KAFKA_LIST_OFFSETS] = h_list_offsets,
	[KAFKA_METADATA] = h_metadata,
	[KAFKA_OFFSET_COMMIT] = kafka_offset_commit,
	[KAFKA_OFFSET_FETCH] = kafka_offset_fetch,
	[KAFKA_FIND_COORDINATOR] = kafka_find_coordinator,
	[KAFKA_JOIN_GROUP] = kafka_join_group,
	[KAFKA_HEARTBEAT] = kafka_heartbeat,
	[KAFKA_LEAVE_GROUP] = kafka_leave_group,
	[KAFKA_SYNC_GROUP] = kafka_sync_group,
	[KAFKA_DESCRIBE_GROUPS] = kafka_describe_groups,
	[KAFKA_LIST_GROUPS] = kafka_list_groups,
	[KAFKA_API_VERSIONS] = h_api_versions,
	[KAFKA_CREATE_TOPICS] = h_create_topics,
	[KAFKA_DELETE_TOPICS] = h_delete_topics,
};

int kafka_api_request(struct kconn *c, const uint8_t *frame, size_t len)
{
	struct kafka_request req;
	const char *what;
	int rc = kafka_request_parse(frame, len, &req, &what);
	const struct kc_header *h = &req.h;
	const struct kafka_api_info *api =
		h->api_key >= 0 && h->api_key < KAFKA_API_KEYS && kafka_apis[h->api_key].name ? &kafka_apis[h->api_key] : NULL;
	switch (rc) {
	case 0:
		break;
	case KREQ_UNKNOWN_API:
		kconn_close(c, LOG_WARN, "unknown API key %d (version %d): UNSUPPORTED_VERSION", h->api_key,
			    h->api_version);
		return -EPROTO;
	case KREQ_PROBE:
		log_debug(KCONN_FMT ": ApiVersions v%d refused (KIP-511): we speak %d..%d", KCONN_ARGS(c),
			  h->api_version, api->min, api->max);
		rc = api_versions_refuse(c, h);
		if (rc < 0)
			kconn_close(c, LOG_ERROR, "out of memory");
		return rc;
	case KREQ_BAD_VERSION:
		kconn_close(c, LOG_WARN, "%s version %d is not supported (versions %d..%d): UNSUPPORTED_VERSION",
			    api->name, h->api_version, api->min, api->max);
		return -EPROTO;
	case KREQ_BAD_HEADER:
		kconn_close(c, LOG_WARN, "malformed %s request header (%s)", api ? api->name : "?", what);
		return -EPROTO;
	case KREQ_MALFORMED:
		kconn_close(c, LOG_WARN, "malformed %s v%d request (%s)", api->name, h->api_version, what);
		return -EPROTO;
	default:
		kconn_close(c, LOG_ERROR, "%s v%d request failed: %s", api ? api->name : "?", h->api_version,
			    strerror(-rc));
		return rc;
	}
	rc = handlers[h->api_key](c, &req);
	kafka_request_free(&req);
	if (rc < 0)
		kconn_close(c, LOG_ERROR, "%s v%d request failed: %s", api->name, h->api_version, strerror(-rc));
	return rc;
}

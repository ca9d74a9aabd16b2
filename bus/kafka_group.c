/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_group.c — the Kafka endpoint's group APIs, on top of the coordinator (group.c)
 * and the offset store (offsets.c): FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup, OffsetCommit, OffsetFetch, ListGroups and DescribeGroups, every version in
 * the ranges kafka_request.c advertises, acting on the requests it parsed. JoinGroup and
 * SyncGroup queue their response at once (request order) and fill it when the coordinator
 * answers; a connection that closes first withdraws its waits. Strings from the frame are
 * copied bounded: a group id or member id that cannot be one is answered with the
 * protocol's error, never trusted.
 */
#include "kafka_group.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "kafka_api.h"
#include "logging.h"

#define NODE_ID 0
#define NAME_CAP 256 /* protocol names and types kept (longer ones are cut) */

/* len bytes of the frame as a C string in out[cap]: false (out = "") when they do not
 * fit or hold a NUL byte. */
static bool cstr(const char *s, int len, char *out, size_t cap)
{
	out[0] = '\0';
	if (!s || len < 0 || (size_t)len >= cap || (len && memchr(s, 0, (size_t)len)))
		return false;
	memcpy(out, s, (size_t)len);
	out[len] = '\0';
	return true;
}

/* A member id from the frame: one that cannot be ours becomes a byte no id holds, so it
 * matches nobody (an unknown member) instead of looking like a new one. */
static void member_id(const char *s, int len, char *out, size_t cap)
{
	if (!cstr(s, len, out, cap) && len > 0)
		snprintf(out, cap, "\x01");
}

/* A response queued in request order, throttle_time_ms (0) written first from version
 * throttle_from on. */
static struct kresp *resp_start(struct kconn *c, const struct kc_header *h, int throttle_from)
{
	struct kresp *resp = kresp_new(c, h);
	if (resp && h->api_version >= throttle_from)
		kc_w_i32(&resp->w, 0);
	return resp;
}

static void w_bytes(struct kc_writer *w, const void *p, size_t n)
{
	kc_w_i32(w, (int32_t)n);
	if (n)
		kc_w_raw(w, p, n);
}

/* Kafka names a member's host "/ip". */
static void client_host(const struct kconn *c, char *out, size_t cap)
{
	const char *p = c->peer, *colon = strrchr(p, ':');
	size_t n = colon ? (size_t)(colon - p) : strlen(p);
	if (*p == '[' && n >= 2) {
		p++;
		n -= 2;
	}
	snprintf(out, cap, "/%.*s", (int)n, p);
}

static void client_id(const struct kc_header *h, char *out, size_t cap)
{
	int n = h->client_id && h->client_id_len > 0 ? h->client_id_len : 0;
	if ((size_t)n >= cap)
		n = (int)cap - 1;
	memcpy(out, h->client_id ? h->client_id : "", (size_t)n);
	out[n] = '\0';
	for (int i = 0; i < n; i++)
		if (!out[i])
			out[i] = '_';
}

/* A member's request, copied bounded: group_id, generation_id, member_id. */
struct member_ref {
	char group[OFFSETS_NAME_MAX + 2];
	int32_t generation;
	char member[GROUP_MEMBER_ID_MAX + 1];
};

static void member_ref(const struct kreq_member *m, struct member_ref *ref)
{
	cstr(m->group_id.s, m->group_id.len, ref->group, sizeof(ref->group));
	ref->generation = m->generation_id;
	member_id(m->member_id.s, m->member_id.len, ref->member, sizeof(ref->member));
}

/* ---- FindCoordinator ----------------------------------------------------------------------- */

int kafka_find_coordinator(struct kconn *c, struct kafka_request *req)
{
	const struct kc_header *h = &req->h;
	const struct kreq_find_coordinator *m = &req->u.find_coordinator;
	int v = h->api_version;
	int8_t type = m->key_type;
	const char *key = m->key.s;
	int len = m->key.len;
	char group[OFFSETS_NAME_MAX + 2];
	int16_t err = KERR_NONE;
	const char *msg = NULL;
	if (type == 1) {
		err = KERR_COORDINATOR_NOT_AVAILABLE;
		msg = "pagebus has no transactions";
	} else if (type != 0) {
		err = KERR_INVALID_REQUEST;
		msg = "key_type must be 0 (group)";
	} else if (!cstr(key, len, group, sizeof(group)) || !group_id_valid(group)) {
		err = KERR_INVALID_GROUP_ID;
		msg = "group ids are 1..249 bytes without control characters";
	}
	struct kresp *resp = resp_start(c, h, 1);
	if (!resp)
		return -ENOMEM;
	struct kc_writer *w = &resp->w;
	kc_w_i16(w, err);
	if (v >= 1)
		kc_w_cstr(w, msg);
	kc_w_i32(w, err ? -1 : NODE_ID);
	kc_w_cstr(w, err ? "" : c->k->adv_host);
	kc_w_i32(w, err ? -1 : c->k->adv_port);
	kresp_ready(resp);
	return 0;
}

/* ---- answers that wait: JoinGroup, SyncGroup ----------------------------------------------------- */

struct kwait {
	struct group_wait w;
	struct kresp *r;
	char member_id[GROUP_MEMBER_ID_MAX + 1]; /* as asked: errors echo it */
};

static void wait_abort(struct kresp *r)
{
	struct kwait *kw = r->state;
	group_wait_cancel(&kw->w);
	free(kw);
	r->state = NULL;
}

static struct kwait *kwait_new(struct kconn *c, const struct kc_header *h, group_wait_fn *done)
{
	struct kwait *kw = calloc(1, sizeof(*kw));
	struct kresp *resp = kw ? kresp_new(c, h) : NULL;
	if (!resp) {
		free(kw);
		return NULL;
	}
	group_wait_init(&kw->w, done);
	kw->r = resp;
	resp->state = kw;
	resp->abort = wait_abort;
	return kw;
}

static void join_done(struct group_wait *gw)
{
	struct kwait *kw = container_of(gw, struct kwait, w);
	struct kresp *r = kw->r;
	struct kc_writer *w = &r->w;
	int v = r->api_version;
	r->state = NULL;
	if (v >= 2)
		kc_w_i32(w, 0); /* throttle_time_ms: the response was queued before the answer */
	kc_w_i16(w, gw->error);
	kc_w_i32(w, gw->error ? -1 : gw->generation);
	kc_w_cstr(w, gw->protocol ? gw->protocol : "");
	kc_w_cstr(w, gw->leader ? gw->leader : "");
	kc_w_cstr(w, gw->member_id ? gw->member_id : kw->member_id);
	kc_w_i32(w, (int32_t)gw->nmembers);
	for (uint32_t i = 0; i < gw->nmembers; i++) {
		kc_w_cstr(w, gw->members[i].id);
		if (v >= 5)
			kc_w_string(w, NULL, -1); /* group_instance_id: no static membership */
		w_bytes(w, gw->members[i].meta, gw->members[i].len);
	}
	group_wait_release(gw);
	free(kw);
	kresp_ready(r);
}

int kafka_join_group(struct kconn *c, struct kafka_request *req)
{
	const struct kc_header *h = &req->h;
	const struct kreq_join_group *m = &req->u.join_group;
	int32_t n = m->nprotocols > 0 ? m->nprotocols : 0;
	struct group_protocol *p = calloc(n ? (size_t)n : 1, sizeof(*p));
	char *names = calloc(n ? (size_t)n : 1, NAME_CAP);
	struct kwait *kw = p && names ? kwait_new(c, h, join_done) : NULL;
	if (!kw) {
		free(p);
		free(names);
		return -ENOMEM;
	}
	for (int32_t i = 0; i < n; i++) {
		char *name = names + (size_t)i * NAME_CAP;
		if (!cstr(m->protocols[i].name.s, m->protocols[i].name.len, name, NAME_CAP))
			snprintf(name, NAME_CAP, "\x01"); /* matches no real protocol */
		p[i] = (struct group_protocol){ name, m->protocols[i].meta,
						m->protocols[i].meta_len > 0 ? (size_t)m->protocols[i].meta_len : 0 };
	}
	char group[OFFSETS_NAME_MAX + 2], type[NAME_CAP], client[GROUP_CLIENT_ID_MAX + 1], host[80];
	cstr(m->m.group_id.s, m->m.group_id.len, group, sizeof(group));
	member_id(m->m.member_id.s, m->m.member_id.len, kw->member_id, sizeof(kw->member_id));
	cstr(m->protocol_type.s, m->protocol_type.len, type, sizeof(type));
	client_id(h, client, sizeof(client));
	client_host(c, host, sizeof(host));
	struct group_join gj = {
		.group = group,
		.member_id = kw->member_id,
		.client_id = client,
		.client_host = host,
		.session_timeout_ms = m->session_timeout_ms,
		.rebalance_timeout_ms = m->rebalance_timeout_ms > 0 ? m->rebalance_timeout_ms : m->session_timeout_ms,
		.protocol_type = type,
		.protocols = p,
		.nprotocols = (uint32_t)n,
		.require_known_id = h->api_version >= 4,
		.front = GROUP_FRONT_KAFKA,
	};
	group_join(c->k->b->groups, &gj, &kw->w);
	free(p);
	free(names);
	return 0;
}

static void sync_done(struct group_wait *gw)
{
	struct kwait *kw = container_of(gw, struct kwait, w);
	struct kresp *r = kw->r;
	struct kc_writer *w = &r->w;
	r->state = NULL;
	if (r->api_version >= 1)
		kc_w_i32(w, 0); /* throttle_time_ms */
	kc_w_i16(w, gw->error);
	w_bytes(w, gw->error ? NULL : gw->assignment, gw->error ? 0 : gw->assignment_len);
	group_wait_release(gw);
	free(kw);
	kresp_ready(r);
}

int kafka_sync_group(struct kconn *c, struct kafka_request *req)
{
	const struct kreq_sync_group *m = &req->u.sync_group;
	int32_t n = m->n > 0 ? m->n : 0;
	struct group_assignment *a = calloc(n ? (size_t)n : 1, sizeof(*a));
	char *ids = calloc(n ? (size_t)n : 1, GROUP_MEMBER_ID_MAX + 1);
	struct kwait *kw = a && ids ? kwait_new(c, &req->h, sync_done) : NULL;
	if (!kw) {
		free(a);
		free(ids);
		return -ENOMEM;
	}
	for (int32_t i = 0; i < n; i++) {
		const struct kreq_assignment *x = &m->assignments[i];
		char *slot = ids + (size_t)i * (GROUP_MEMBER_ID_MAX + 1);
		member_id(x->member_id.s, x->member_id.len, slot, GROUP_MEMBER_ID_MAX + 1);
		a[i] = (struct group_assignment){ slot, x->bytes, x->len > 0 ? (size_t)x->len : 0 };
	}
	struct member_ref ref;
	member_ref(&m->m, &ref);
	snprintf(kw->member_id, sizeof(kw->member_id), "%s", ref.member);
	group_sync(c->k->b->groups, ref.group, ref.generation, ref.member, a, (uint32_t)n, &kw->w);
	free(a);
	free(ids);
	return 0;
}

/* ---- Heartbeat, LeaveGroup ---------------------------------------------------------------------- */

/* A response of throttle_time_ms (v1+) and error_code only. */
static int answer_error_only(struct kconn *c, const struct kc_header *h, int16_t err)
{
	struct kresp *resp = resp_start(c, h, 1);
	if (!resp)
		return -ENOMEM;
	kc_w_i16(&resp->w, err);
	kresp_ready(resp);
	return 0;
}

int kafka_heartbeat(struct kconn *c, struct kafka_request *req)
{
	struct member_ref ref;
	member_ref(&req->u.member, &ref);
	return answer_error_only(c, &req->h, group_heartbeat(c->k->b->groups, ref.group, ref.generation, ref.member));
}

int kafka_leave_group(struct kconn *c, struct kafka_request *req)
{
	struct member_ref ref;
	member_ref(&req->u.member, &ref);
	return answer_error_only(c, &req->h, group_leave(c->k->b->groups, ref.group, ref.member));
}

/* ---- OffsetCommit ------------------------------------------------------------------------------- */

int kafka_offset_commit(struct kconn *c, struct kafka_request *req)
{
	struct broker *b = c->k->b;
	const struct kreq_offset_commit *m = &req->u.offset_commit;
	struct member_ref ref;
	member_ref(&m->m, &ref);
	int16_t check = group_commit_check(b->groups, ref.group, ref.generation, ref.member);
	int16_t *errs = calloc(m->nparts ? m->nparts : 1, sizeof(*errs));
	struct offset_update *u = calloc(m->nparts ? m->nparts : 1, sizeof(*u));
	struct kresp *resp = u && errs ? resp_start(c, &req->h, 3) : NULL;
	if (!resp) {
		free(u);
		free(errs);
		return -ENOMEM;
	}
	size_t nu = 0;
	for (uint32_t t = 0; t < m->ntopics; t++) {
		const struct topic *tp = topics_find(&b->topics, m->topics[t].name);
		for (uint32_t i = m->topics[t].first; i < m->topics[t].first + m->topics[t].n; i++) {
			const struct kreq_offset_commit_part *p = &m->parts[i];
			const char *meta = p->metadata.len > 0 ? p->metadata.s : NULL;
			if (check)
				errs[i] = check;
			else if (!tp || p->partition < 0 || p->partition >= tp->nparts)
				errs[i] = KERR_UNKNOWN_TOPIC_OR_PARTITION;
			else if (p->metadata.len > OFFSETS_METADATA_MAX)
				errs[i] = KERR_OFFSET_METADATA_TOO_LARGE;
			else if (meta && memchr(meta, 0, (size_t)p->metadata.len))
				errs[i] = KERR_INVALID_COMMIT_OFFSET_SIZE; /* the store keeps text */
			else
				u[nu++] = (struct offset_update){ tp->name, p->partition, p->offset, meta,
								  meta ? (size_t)p->metadata.len : 0 };
		}
	}
	int rc = nu ? offsets_commit_batch(&b->offsets, ref.group, u, nu) : 0;
	if (rc < 0)
		log_error("cannot store offsets of group %s for " KCONN_FMT ": %s", ref.group, KCONN_ARGS(c),
			  strerror(-rc));
	struct kc_writer *w = &resp->w;
	kc_w_i32(w, (int32_t)m->ntopics);
	for (uint32_t t = 0; t < m->ntopics; t++) {
		kc_w_cstr(w, m->topics[t].name);
		kc_w_i32(w, (int32_t)m->topics[t].n);
		for (uint32_t i = m->topics[t].first; i < m->topics[t].first + m->topics[t].n; i++) {
			kc_w_i32(w, m->parts[i].partition);
			kc_w_i16(w, errs[i] ? errs[i] : rc < 0 ? KERR_UNKNOWN_SERVER_ERROR : KERR_NONE);
		}
	}
	free(u);
	free(errs);
	kresp_ready(resp);
	return 0;
}

/* ---- OffsetFetch ---------------------------------------------------------------------------------- */

static void of_write(struct kc_writer *w, const struct offsets *o, const char *group, const char *topic,
		     int32_t partition, int16_t err)
{
	int64_t off = -1;
	const char *meta = NULL;
	if (!err)
		offsets_fetch_meta(o, group, topic, partition, &off, &meta);
	kc_w_i32(w, partition);
	kc_w_i64(w, off);
	kc_w_cstr(w, meta ? meta : "");
	kc_w_i16(w, err);
}

static int by_topic_partition(const void *a, const void *b)
{
	const struct offset_entry *x = *(const struct offset_entry *const *)a, *y = *(const struct offset_entry *const *)b;
	int c = strcmp(x->topic, y->topic);
	return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* v2+ with topics null: every partition the group committed, by topic. */
static int of_all(struct kc_writer *w, const struct offsets *o, const char *group)
{
	const struct offset_entry **v = calloc(o->n ? o->n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->v[i].name, group))
			v[n++] = &o->v[i];
	qsort(v, n, sizeof(*v), by_topic_partition);
	int32_t ntopics = 0;
	for (size_t i = 0; i < n; i++)
		ntopics += !i || strcmp(v[i - 1]->topic, v[i]->topic);
	kc_w_i32(w, ntopics);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && !strcmp(v[j]->topic, v[i]->topic))
			j++;
		kc_w_cstr(w, v[i]->topic);
		kc_w_i32(w, (int32_t)(j - i));
		for (; i < j; i++)
			of_write(w, o, group, v[i]->topic, v[i]->partition, KERR_NONE);
	}
	free(v);
	return 0;
}

int kafka_offset_fetch(struct kconn *c, struct kafka_request *req)
{
	struct broker *b = c->k->b;
	const struct kreq_offset_fetch *m = &req->u.offset_fetch;
	int v = req->h.api_version;
	char group[OFFSETS_NAME_MAX + 2];
	int16_t gerr = cstr(m->group_id.s, m->group_id.len, group, sizeof(group)) && group_id_valid(group)
			       ? KERR_NONE
			       : KERR_INVALID_GROUP_ID;
	struct kresp *resp = resp_start(c, &req->h, 3);
	if (!resp)
		return -ENOMEM;
	struct kc_writer *w = &resp->w;
	int rc = 0;
	if (m->all && !gerr) {
		rc = of_all(w, &b->offsets, group);
	} else {
		kc_w_i32(w, (int32_t)m->ntopics);
		for (uint32_t t = 0; t < m->ntopics; t++) {
			kc_w_cstr(w, m->topics[t].name);
			kc_w_i32(w, (int32_t)m->topics[t].n);
			for (uint32_t i = m->topics[t].first; i < m->topics[t].first + m->topics[t].n; i++)
				of_write(w, &b->offsets, group, m->topics[t].name, m->parts[i].partition, gerr);
		}
	}
	if (v >= 2)
		kc_w_i16(w, gerr);
	if (rc < 0) {
		kresp_release(resp);
		return rc;
	}
	kresp_ready(resp);
	return 0;
}

/* ---- ListGroups, DescribeGroups ------------------------------------------------------------------ */

int kafka_list_groups(struct kconn *c, struct kafka_request *req)
{
	const struct kc_header *h = &req->h;
	struct broker *b = c->k->b;
	const char **names;
	size_t n;
	struct kresp *resp = groups_names(b, &names, &n) < 0 ? NULL : resp_start(c, h, 1);
	if (!resp) {
		free(names);
		return -ENOMEM;
	}
	struct kc_writer *w = &resp->w;
	kc_w_i16(w, KERR_NONE);
	kc_w_i32(w, (int32_t)n);
	for (size_t i = 0; i < n; i++) {
		const struct group *g = group_find(b->groups, names[i]);
		kc_w_cstr(w, names[i]);
		kc_w_cstr(w, g && g->protocol_type ? g->protocol_type : "");
	}
	free(names);
	kresp_ready(resp);
	return 0;
}

/* Has the offset store anything for this name? */
static bool has_offsets(const struct offsets *o, const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->v[i].name, name))
			return true;
	return false;
}

static void describe_one(struct kc_writer *w, struct broker *b, const char *s, int len)
{
	char id[OFFSETS_NAME_MAX + 2];
	bool valid = cstr(s, len, id, sizeof(id)) && group_id_valid(id);
	const struct group *g = valid ? group_find(b->groups, id) : NULL;
	enum group_state st = g ? g->state : valid && has_offsets(&b->offsets, id) ? GROUP_EMPTY : GROUP_DEAD;
	kc_w_i16(w, valid ? KERR_NONE : KERR_INVALID_GROUP_ID);
	kc_w_string(w, s, len);
	kc_w_cstr(w, group_state_name(st));
	kc_w_cstr(w, g && g->protocol_type ? g->protocol_type : "");
	kc_w_cstr(w, g && g->protocol && g->state != GROUP_PREPARING_REBALANCE ? g->protocol : "");
	kc_w_i32(w, g ? (int32_t)g->nmembers : 0);
	for (const struct list *p = g ? g->members.next : NULL; p && p != &g->members; p = p->next) {
		const struct gmember *m = container_of(p, struct gmember, link);
		size_t len_meta;
		const uint8_t *meta = group_member_meta(m, &len_meta);
		kc_w_cstr(w, m->id);
		kc_w_cstr(w, m->client_id);
		kc_w_cstr(w, m->host);
		w_bytes(w, meta, len_meta);
		w_bytes(w, m->assignment, m->assignment_len);
	}
}

int kafka_describe_groups(struct kconn *c, struct kafka_request *req)
{
	const struct kreq_describe_groups *m = &req->u.describe_groups;
	struct kresp *resp = resp_start(c, &req->h, 1);
	if (!resp)
		return -ENOMEM;
	kc_w_i32(&resp->w, m->n);
	for (int32_t i = 0; i < m->n; i++)
		describe_one(&resp->w, c->k->b, m->groups[i].s, m->groups[i].len);
	kresp_ready(resp);
	return 0;
}

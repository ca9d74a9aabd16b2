/* SPDX-License-Identifier: Apache-2.0 */
/*
 * group.c — libpagebus group members: Kafka's classic group protocol over the local
 * socket (JOIN_GROUP, SYNC_GROUP, HEARTBEAT, GROUP_COMMIT, LEAVE_GROUP on a connection of
 * the member's own), the range and round-robin assignors run by the leader on Kafka's
 * "consumer" protocol bytes, and one zero-copy pagebus_consumer per assigned partition.
 * Everything runs on the thread that polls: no background thread.
 */
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "consumer_protocol.h"

#define DEFAULT_SESSION_MS 10000
#define DEFAULT_REBALANCE_MS 60000
#define HEARTBEAT_MAX_MS 3000	/* Kafka's heartbeat.interval.ms */
#define CALL_TIMEOUT_MS 10000	/* requests the broker answers at once */
#define RETRY_MS 500		/* reconnect, and rejoin after an error */
#define METADATA_CHECK_MS 5000	/* the leader looks for topics that grew or appeared */
#define COMMIT_CHUNK 1000	/* offsets per GROUP_COMMIT (one datagram) */
#define WAIT_MAX 128		/* futexes one futex_waitv watches (FUTEX_WAITV_MAX) */

enum gstate {
	G_DOWN,	   /* no group connection: connect, then join */
	G_JOIN,	   /* to send JOIN_GROUP */
	G_JOINING, /* JOIN_GROUP sent, its reply may take a rebalance */
	G_SYNCING, /* SYNC_GROUP sent, waiting for the leader's assignment */
	G_STABLE,  /* assigned: reading, heartbeating, committing */
};

struct gpart {
	int topic; /* index into g->topics */
	int32_t partition;
	struct pagebus_consumer *c;
	int64_t committed; /* the group's committed offset as this member knows it, -1: none */
};

struct pagebus_group_consumer {
	struct pagebus *pb;  /* the caller's: consumers, topic metadata */
	struct pagebus *gpb; /* ours: group requests; the member lives as long as it */
	struct pagebus_subscribe_opts opts;
	char group[PBP_NAME_MAX + 1];
	char client_id[PBP_NAME_MAX + 1];
	char member_id[PBP_NAME_MAX + 1];
	char protocol[PBP_NAME_MAX + 1];
	int32_t generation;
	bool leader;
	char **topics;
	int ntopics;
	uint8_t *subscription; /* our ConsumerProtocolSubscription */
	size_t sublen;
	enum gstate state;
	uint32_t pending; /* id of the JOIN_GROUP or SYNC_GROUP in flight */
	struct gpart *parts;
	struct pagebus_topic_partition *tps; /* the same, for callbacks and pagebus_group_assignment */
	int nparts;
	int next;	 /* the partition a poll reads first (fairness) */
	uint64_t hb_due, commit_due, meta_due, retry_due; /* pb_now_us() */
	char **lt_names; /* the leader's view of the group's topics, to notice changes */
	int32_t *lt_counts;
	int lt_n;
	uint8_t sbuf[PBP_MAX_MSG], rbuf[PBP_MAX_MSG];
};

static const char *assignor_name(int a)
{
	return a == PAGEBUS_ASSIGN_ROUNDROBIN ? "roundrobin" : "range";
}

static int heartbeat_ms(const struct pagebus_group_consumer *g)
{
	int ms = g->opts.session_timeout_ms / 3;
	return ms < HEARTBEAT_MAX_MS ? ms : HEARTBEAT_MAX_MS;
}

/* A group error's message where pagebus_last_error(pb) finds it. */
static void set_error(struct pagebus_group_consumer *g, const char *msg)
{
	pthread_mutex_lock(&g->pb->lock);
	snprintf(g->pb->last_error, sizeof(g->pb->last_error), "%s", msg);
	pthread_mutex_unlock(&g->pb->lock);
}

/* ---- the group connection --------------------------------------------------------------- */

/* Sends the request in g->sbuf (len bytes, or the encoder's error); its id in *id. */
static int gsend(struct pagebus_group_consumer *g, int len, uint32_t *id)
{
	if (len < 0)
		return len;
	if (!g->gpb || g->gpb->fd < 0)
		return -EPIPE;
	const uint8_t *q = g->sbuf;
	*id = (uint32_t)q[8] | (uint32_t)q[9] << 8 | (uint32_t)q[10] << 16 | (uint32_t)q[11] << 24;
	ssize_t n = pbp_send(g->gpb->fd, g->sbuf, (size_t)len, NULL, 0);
	if (n == -ECONNRESET || n == -ENOTCONN || n == -EPIPE)
		return -EPIPE;
	return n < 0 ? (int)n : 0;
}

/* The reply to id within timeout_ms: 1 with *r reading it (in g->rbuf), 0 when it has not
 * come, -EPIPE when the broker is gone. Anything else that arrives is dropped. */
static int grecv(struct pagebus_group_consumer *g, uint32_t id, int timeout_ms, struct pbp_rbuf *r)
{
	uint64_t deadline = pb_now_us() + (uint64_t)timeout_ms * 1000;
	for (;;) {
		int fds[PBP_MAX_FDS], nfds = 0;
		ssize_t n = pbp_recv(g->gpb->fd, g->rbuf, sizeof(g->rbuf), fds, PBP_MAX_FDS, &nfds, MSG_DONTWAIT);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (n == 0 || n == -ECONNRESET || n == -EPIPE || n == -ENOTCONN)
			return -EPIPE;
		if (n > 0) {
			struct pbp_hdr h;
			if (pbp_msg_parse(g->rbuf, (size_t)n, &h, r) == 0 && (h.flags & PBP_F_REPLY) && h.id == id)
				return 1;
			continue; /* a stale reply */
		}
		if (n != -EAGAIN)
			continue; /* a datagram that was not one of ours */
		uint64_t now = pb_now_us();
		if (now >= deadline)
			return 0;
		struct pollfd p = { .fd = g->gpb->fd, .events = POLLIN };
		poll(&p, 1, (int)((deadline - now) / 1000) + 1);
	}
}

/* A request answered at once whose reply has no fields: 0 or the broker's status. */
static int call_simple(struct pagebus_group_consumer *g, int len)
{
	uint32_t id;
	struct pbp_rbuf r;
	struct pbp_status st;
	int rc = gsend(g, len, &id);
	if (!rc)
		rc = grecv(g, id, CALL_TIMEOUT_MS, &r);
	if (rc == 0)
		return -ETIME;
	if (rc < 0)
		return rc;
	rc = pbp_parse_status_reply(&r, &st);
	if (!rc && st.status)
		set_error(g, st.message);
	return rc ? rc : st.status;
}

/* ---- partitions -------------------------------------------------------------------------------- */

/* pb lost its broker (a restart): connect it again before using it. */
static void revive_pb(struct pagebus_group_consumer *g)
{
	if (pb_check_alive(g->pb) != -EPIPE)
		return;
	pthread_mutex_lock(&g->pb->lock);
	pb_reconnect(g->pb, g->pb->epoch);
	pthread_mutex_unlock(&g->pb->lock);
}

static int commit_positions(struct pagebus_group_consumer *g)
{
	if (g->state != G_STABLE)
		return 0;
	struct pbp_group_offset *o = calloc(COMMIT_CHUNK, sizeof(*o));
	int *idx = calloc(COMMIT_CHUNK, sizeof(*idx));
	int rc = o && idx ? 0 : -ENOMEM;
	for (int start = 0; !rc && start < g->nparts;) {
		uint32_t n = 0;
		for (; start < g->nparts && n < COMMIT_CHUNK; start++) {
			struct gpart *p = &g->parts[start];
			int64_t pos = pagebus_position(p->c);
			if (pos < 0 || pos == p->committed)
				continue;
			snprintf(o[n].topic, sizeof(o[n].topic), "%s", g->topics[p->topic]);
			o[n].partition = p->partition;
			o[n].next_offset = pos;
			idx[n++] = start;
		}
		if (!n)
			continue;
		struct pbp_group_commit m = { .generation = g->generation, .n = n, .offsets = o };
		snprintf(m.group, sizeof(m.group), "%s", g->group);
		snprintf(m.member_id, sizeof(m.member_id), "%s", g->member_id);
		struct pbp_wbuf w;
		pbp_w_init(&w, g->sbuf, sizeof(g->sbuf));
		rc = call_simple(g, pbp_enc_group_commit(&w, pb_next_id(g->gpb), &m));
		for (uint32_t i = 0; !rc && i < n; i++)
			g->parts[idx[i]].committed = o[i].next_offset;
	}
	free(o);
	free(idx);
	return rc;
}

static void callback(struct pagebus_group_consumer *g, int event)
{
	if (g->opts.rebalance_cb && g->nparts)
		g->opts.rebalance_cb(g->opts.rebalance_ctx, event, g->tps, g->nparts);
}

/* The partitions go: committed first (auto commit), then the callback, then closed. */
static void revoke_parts(struct pagebus_group_consumer *g, bool commit)
{
	if (commit && g->opts.auto_commit_ms > 0)
		commit_positions(g);
	callback(g, PAGEBUS_REBALANCE_REVOKED);
	for (int i = 0; i < g->nparts; i++)
		pagebus_consumer_close(g->parts[i].c);
	free(g->parts);
	free(g->tps);
	g->parts = NULL;
	g->tps = NULL;
	g->nparts = 0;
	g->next = 0;
}

static int topic_index(const struct pagebus_group_consumer *g, const char *t, size_t len)
{
	for (int i = 0; i < g->ntopics; i++)
		if (strlen(g->topics[i]) == len && !memcmp(g->topics[i], t, len))
			return i;
	return -1;
}

/* One partition of our assignment: opened at the group's committed offset. */
static int assigned(void *ctx, const char *topic, size_t len, int32_t partition)
{
	struct pagebus_group_consumer *g = ctx;
	int t = topic_index(g, topic, len);
	if (t < 0 || partition < 0)
		return 0; /* not a topic we subscribed to: the leader's business, not ours */
	for (int i = 0; i < g->nparts; i++)
		if (g->parts[i].topic == t && g->parts[i].partition == partition)
			return 0;
	struct pagebus_consumer_opts co = PAGEBUS_OPTS(pagebus_consumer_opts, .verify_crc = 1,
						       .reset = g->opts.reset, .spin_us = 0);
	int64_t start = g->opts.reset == PAGEBUS_RESET_LATEST ? PAGEBUS_OFFSET_END : PAGEBUS_OFFSET_BEGINNING;
	struct pagebus_consumer *c;
	if (pagebus_consumer_open(g->pb, g->topics[t], partition, start, &co, &c) < 0)
		return 0; /* gone meanwhile (deleted): the next rebalance drops it */
	int64_t next = -1;
	if (pagebus_committed(c, g->group, &next) == 0)
		pagebus_seek(c, next);
	else
		next = -1;
	struct gpart *v = realloc(g->parts, (size_t)(g->nparts + 1) * sizeof(*v));
	if (!v) {
		pagebus_consumer_close(c);
		return -ENOMEM;
	}
	g->parts = v;
	g->parts[g->nparts++] = (struct gpart){ t, partition, c, next };
	return 0;
}

/* ---- the leader's assignment ------------------------------------------------------------------- */

struct lmember {
	const struct pbp_group_member *m;
	bool *subscribed; /* by topic of the union */
	int32_t *parts;	  /* assigned: pairs (topic index, partition) */
	int n, cap;
};

struct union_topics {
	char **names;
	int n;
	struct lmember *cur;
	bool oom;
};

static int collect_topic(void *ctx, const char *topic, size_t len)
{
	struct union_topics *u = ctx;
	if (len == 0 || len > 249)
		return 0;
	for (int i = 0; i < u->n; i++)
		if (strlen(u->names[i]) == len && !memcmp(u->names[i], topic, len))
			return 0;
	char **v = realloc(u->names, (size_t)(u->n + 1) * sizeof(*v));
	char *s = v ? strndup(topic, len) : NULL;
	if (v)
		u->names = v;
	if (!s) {
		u->oom = true;
		return -ENOMEM;
	}
	u->names[u->n++] = s;
	return 0;
}

static int mark_topic(void *ctx, const char *topic, size_t len)
{
	struct union_topics *u = ctx;
	for (int i = 0; i < u->n; i++)
		if (strlen(u->names[i]) == len && !memcmp(u->names[i], topic, len))
			u->cur->subscribed[i] = true;
	return 0;
}

static int give(struct lmember *m, int topic, int32_t partition)
{
	if (m->n + 2 > m->cap) {
		int cap = m->cap ? m->cap * 2 : 16;
		int32_t *v = realloc(m->parts, (size_t)cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->parts = v;
		m->cap = cap;
	}
	m->parts[m->n++] = topic;
	m->parts[m->n++] = partition;
	return 0;
}

static int by_member_id(const void *a, const void *b)
{
	return strcmp(((const struct lmember *)a)->m->member_id, ((const struct lmember *)b)->m->member_id);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Kafka's RangeAssignor: per topic, its members (by id) get contiguous ranges, the first
 * ones one partition more when it does not divide. */
static int assign_range(struct lmember *m, int nm, const int32_t *counts, int nt)
{
	for (int t = 0; t < nt; t++) {
		int k = 0, subs = 0;
		for (int i = 0; i < nm; i++)
			subs += m[i].subscribed[t];
		if (!subs)
			continue;
		int32_t per = counts[t] / subs, extra = counts[t] % subs;
		for (int i = 0; i < nm; i++) {
			if (!m[i].subscribed[t])
				continue;
			int32_t start = per * k + (k < extra ? k : extra), len = per + (k < extra);
			for (int32_t p = start; p < start + len; p++)
				if (give(&m[i], t, p) < 0)
					return -ENOMEM;
			k++;
		}
	}
	return 0;
}

/* Kafka's RoundRobinAssignor: every partition of every topic in order, dealt to the next
 * member (by id) that subscribes to its topic. */
static int assign_roundrobin(struct lmember *m, int nm, const int32_t *counts, int nt)
{
	int next = 0;
	for (int t = 0; t < nt; t++)
		for (int32_t p = 0; p < counts[t]; p++)
			for (int tries = 0; tries < nm; tries++) {
				struct lmember *x = &m[next];
				next = (next + 1) % nm;
				if (!x->subscribed[t])
					continue;
				if (give(x, t, p) < 0)
					return -ENOMEM;
				break;
			}
	return 0;
}

/* One member's assignment bytes, its partitions grouped by topic. */
static int encode_assignment(const struct lmember *m, char **names, int nt, uint8_t **out, size_t *len)
{
	struct cp_topic_parts *tp = calloc((size_t)nt + 1, sizeof(*tp));
	int32_t *parts = malloc(((size_t)m->n / 2 + 1) * sizeof(*parts));
	int ntp = 0, np = 0, rc = -ENOMEM;
	if (!tp || !parts)
		goto out;
	for (int t = 0; t < nt; t++) {
		int first = np;
		for (int i = 0; i < m->n; i += 2)
			if (m->parts[i] == t)
				parts[np++] = m->parts[i + 1];
		if (np > first)
			tp[ntp++] = (struct cp_topic_parts){ names[t], parts + first, np - first };
	}
	rc = cp_assignment_encode(tp, ntp, out, len);
out:
	free(tp);
	free(parts);
	return rc;
}

static void leader_view_free(struct pagebus_group_consumer *g)
{
	for (int i = 0; i < g->lt_n; i++)
		free(g->lt_names[i]);
	free(g->lt_names);
	free(g->lt_counts);
	g->lt_names = NULL;
	g->lt_counts = NULL;
	g->lt_n = 0;
}

static int32_t partitions_of(struct pagebus_group_consumer *g, const char *topic)
{
	int n = pagebus_topic_partitions(g->pb, topic);
	return n > 0 ? n : 0;
}

/*
 * The leader's work: every member's subscription decoded, the union of their topics
 * with partition counts, then the chosen assignor; sync->assignments filled (freed by the
 * caller with free_assignments).
 */
static int leader_assign(struct pagebus_group_consumer *g, const struct pbp_join_group_reply *rep,
			 struct pbp_sync_group *sync)
{
	int nm = (int)rep->nmembers, rc = -ENOMEM;
	struct union_topics u = { 0 };
	struct lmember *m = calloc((size_t)nm + 1, sizeof(*m));
	int32_t *counts = NULL;
	if (!m)
		return -ENOMEM;
	for (int i = 0; i < nm; i++)
		m[i].m = &rep->members[i];
	for (int i = 0; i < nm; i++) /* a member whose bytes do not decode subscribes to nothing */
		cp_subscription_topics(m[i].m->data, m[i].m->len, collect_topic, &u);
	if (u.oom)
		goto out;
	if (u.n)
		qsort(u.names, (size_t)u.n, sizeof(*u.names), by_name);
	if (!(counts = calloc((size_t)u.n + 1, sizeof(*counts))))
		goto out;
	revive_pb(g);
	for (int t = 0; t < u.n; t++)
		counts[t] = partitions_of(g, u.names[t]);
	for (int i = 0; i < nm; i++) {
		if (!(m[i].subscribed = calloc((size_t)u.n + 1, sizeof(bool))))
			goto out;
		u.cur = &m[i];
		cp_subscription_topics(m[i].m->data, m[i].m->len, mark_topic, &u);
	}
	qsort(m, (size_t)nm, sizeof(*m), by_member_id);
	rc = !strcmp(g->protocol, "roundrobin") ? assign_roundrobin(m, nm, counts, u.n)
						 : assign_range(m, nm, counts, u.n);
	if (rc)
		goto out;
	if (!(sync->assignments = calloc((size_t)nm + 1, sizeof(*sync->assignments)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < nm && !rc; i++) {
		struct pbp_group_member *a = &sync->assignments[sync->nassignments++];
		size_t len = 0;
		snprintf(a->member_id, sizeof(a->member_id), "%s", m[i].m->member_id);
		rc = encode_assignment(&m[i], u.names, u.n, &a->data, &len);
		a->len = (uint32_t)len;
	}
	if (rc)
		goto out;
	/* kept, to notice a topic that grows or appears */
	leader_view_free(g);
	g->lt_names = u.names;
	g->lt_counts = counts;
	g->lt_n = u.n;
	u.names = NULL;
	u.n = 0;
	counts = NULL;
out:
	for (int i = 0; i < nm; i++) {
		free(m[i].subscribed);
		free(m[i].parts);
	}
	free(m);
	for (int i = 0; i < u.n; i++)
		free(u.names[i]);
	free(u.names);
	free(counts);
	return rc;
}

static void free_assignments(struct pbp_sync_group *s)
{
	for (uint32_t i = 0; s->assignments && i < s->nassignments; i++)
		free(s->assignments[i].data);
	free(s->assignments);
	s->assignments = NULL;
	s->nassignments = 0;
}

/* Did a topic of the group grow or appear since the leader assigned? */
static bool metadata_changed(struct pagebus_group_consumer *g)
{
	for (int i = 0; i < g->lt_n; i++)
		if (partitions_of(g, g->lt_names[i]) != g->lt_counts[i])
			return true;
	return false;
}

/* ---- membership ------------------------------------------------------------------------------ */

static void go_down(struct pagebus_group_consumer *g)
{
	revoke_parts(g, false); /* the coordinator is gone with the broker: nothing to commit to */
	pagebus_close(g->gpb);
	g->gpb = NULL;
	g->state = G_DOWN;
	g->member_id[0] = '\0';
	g->retry_due = 0;
}

static int send_join(struct pagebus_group_consumer *g)
{
	struct pbp_group_protocol p = { .len = (uint32_t)g->sublen, .meta = g->subscription };
	snprintf(p.name, sizeof(p.name), "%s", assignor_name(g->opts.assignor));
	struct pbp_join_group m = { .session_timeout_ms = g->opts.session_timeout_ms,
				    .rebalance_timeout_ms = g->opts.rebalance_timeout_ms,
				    .nprotocols = 1,
				    .protocols = &p };
	snprintf(m.group, sizeof(m.group), "%s", g->group);
	snprintf(m.member_id, sizeof(m.member_id), "%s", g->member_id);
	snprintf(m.client_id, sizeof(m.client_id), "%s", g->client_id);
	snprintf(m.protocol_type, sizeof(m.protocol_type), "%s", CP_PROTOCOL_TYPE);
	struct pbp_wbuf w;
	pbp_w_init(&w, g->sbuf, sizeof(g->sbuf));
	int rc = gsend(g, pbp_enc_join_group(&w, pb_next_id(g->gpb), &m), &g->pending);
	if (!rc)
		g->state = G_JOINING;
	return rc;
}

/*
 * The coordinator refused the member: what to do next. Returns an error for the caller
 * of poll only when it is not about membership (a bad group, timeout or protocol).
 */
static int membership_error(struct pagebus_group_consumer *g, int err)
{
	switch (err) {
	case -EPIPE:
	case -ETIME: /* a broker that does not answer at once is as good as gone */
		go_down(g);
		return 0;
	case -PAGEBUS_EUNKNOWN_MEMBER:
		revoke_parts(g, false);
		g->member_id[0] = '\0';
		g->state = G_JOIN;
		return 0;
	case -PAGEBUS_EGENERATION:
		revoke_parts(g, false);
		g->state = G_JOIN;
		return 0;
	case -PAGEBUS_EREBALANCE:
		revoke_parts(g, true); /* still accepted while the group prepares to rebalance */
		g->state = G_JOIN;
		return 0;
	default:
		revoke_parts(g, false);
		g->state = G_JOIN;
		g->retry_due = pb_now_us() + RETRY_MS * 1000;
		return err;
	}
}

static int on_join(struct pagebus_group_consumer *g, struct pbp_rbuf *r)
{
	struct pbp_status st;
	struct pbp_join_group_reply rep;
	int rc = pbp_parse_join_group_reply(r, &st, &rep);
	if (rc < 0)
		return membership_error(g, rc);
	if (st.status) {
		if (st.message[0])
			set_error(g, st.message);
		return membership_error(g, st.status);
	}
	g->generation = rep.generation;
	snprintf(g->member_id, sizeof(g->member_id), "%s", rep.member_id);
	snprintf(g->protocol, sizeof(g->protocol), "%s", rep.protocol);
	g->leader = !strcmp(rep.leader, rep.member_id);
	struct pbp_sync_group sync = { .generation = g->generation };
	snprintf(sync.group, sizeof(sync.group), "%s", g->group);
	snprintf(sync.member_id, sizeof(sync.member_id), "%s", g->member_id);
	if (g->leader)
		rc = leader_assign(g, &rep, &sync);
	pbp_free_join_group_reply(&rep);
	if (!rc) {
		struct pbp_wbuf w;
		pbp_w_init(&w, g->sbuf, sizeof(g->sbuf));
		rc = gsend(g, pbp_enc_sync_group(&w, pb_next_id(g->gpb), &sync), &g->pending);
	}
	free_assignments(&sync);
	if (rc)
		return membership_error(g, rc);
	g->state = G_SYNCING;
	return 0;
}

static int on_sync(struct pagebus_group_consumer *g, struct pbp_rbuf *r)
{
	struct pbp_status st;
	struct pbp_sync_group_reply rep;
	int rc = pbp_parse_sync_group_reply(r, &st, &rep);
	if (rc < 0)
		return membership_error(g, rc);
	if (st.status)
		return membership_error(g, st.status);
	revive_pb(g);
	rc = cp_assignment_parts(rep.assignment, rep.len, assigned, g);
	pbp_free_sync_group_reply(&rep);
	if (!rc && g->nparts && !(g->tps = calloc((size_t)g->nparts, sizeof(*g->tps))))
		rc = -ENOMEM;
	if (rc) { /* undecodable or no memory: leave these partitions to the next generation */
		revoke_parts(g, false);
		g->state = G_JOIN;
		g->retry_due = pb_now_us() + RETRY_MS * 1000;
		return 0;
	}
	for (int i = 0; i < g->nparts; i++)
		g->tps[i] = (struct pagebus_topic_partition){ g->topics[g->parts[i].topic], g->parts[i].partition };
	g->state = G_STABLE;
	uint64_t now = pb_now_us();
	g->hb_due = now + (uint64_t)heartbeat_ms(g) * 1000;
	g->commit_due = now + (uint64_t)g->opts.auto_commit_ms * 1000;
	g->meta_due = now + METADATA_CHECK_MS * 1000ull;
	callback(g, PAGEBUS_REBALANCE_ASSIGNED);
	return 0;
}

/* One step of the membership: no wait beyond a request answered at once. */
static int maintain(struct pagebus_group_consumer *g)
{
	uint64_t now = pb_now_us();
	struct pbp_rbuf r;
	int rc;
	switch (g->state) {
	case G_DOWN:
		if (now < g->retry_due)
			return 0;
		if (pagebus_connect(g->pb->dir, &g->gpb) < 0) {
			g->retry_due = now + RETRY_MS * 1000;
			return 0;
		}
		g->state = G_JOIN;
		__attribute__((fallthrough));
	case G_JOIN:
		if (now < g->retry_due)
			return 0;
		return (rc = send_join(g)) ? membership_error(g, rc) : 0;
	case G_JOINING:
	case G_SYNCING:
		rc = grecv(g, g->pending, 0, &r);
		if (rc < 0)
			return membership_error(g, rc);
		if (rc == 0)
			return 0;
		return g->state == G_JOINING ? on_join(g, &r) : on_sync(g, &r);
	case G_STABLE:
		break;
	}
	if (now >= g->hb_due) {
		struct pbp_heartbeat m = { .generation = g->generation };
		snprintf(m.group, sizeof(m.group), "%s", g->group);
		snprintf(m.member_id, sizeof(m.member_id), "%s", g->member_id);
		struct pbp_wbuf w;
		pbp_w_init(&w, g->sbuf, sizeof(g->sbuf));
		if ((rc = call_simple(g, pbp_enc_heartbeat(&w, pb_next_id(g->gpb), &m))))
			return membership_error(g, rc);
		g->hb_due = now + (uint64_t)heartbeat_ms(g) * 1000;
	}
	if (g->opts.auto_commit_ms > 0 && now >= g->commit_due) {
		if ((rc = commit_positions(g)))
			return membership_error(g, rc);
		g->commit_due = now + (uint64_t)g->opts.auto_commit_ms * 1000;
	}
	if (g->leader && now >= g->meta_due) {
		g->meta_due = now + METADATA_CHECK_MS * 1000ull;
		if (metadata_changed(g)) { /* the leader rejoins: the coordinator rebalances */
			revoke_parts(g, true);
			g->state = G_JOIN;
		}
	}
	return 0;
}

/* ---- reading --------------------------------------------------------------------------------- */

/* A partition whose topic was deleted: dropped here; the leader notices and rebalances. */
static void drop_part(struct pagebus_group_consumer *g, int i)
{
	pagebus_consumer_close(g->parts[i].c);
	g->nparts--;
	memmove(&g->parts[i], &g->parts[i + 1], (size_t)(g->nparts - i) * sizeof(*g->parts));
	memmove(&g->tps[i], &g->tps[i + 1], (size_t)(g->nparts - i) * sizeof(*g->tps));
	g->next = 0;
}

/* Each assigned partition once, from a rotating start, into msgs. */
static int read_parts(struct pagebus_group_consumer *g, struct pagebus_msg *msgs, int max)
{
	int n = 0;
	for (int k = 0; k < g->nparts && n < max; k++) {
		int i = (g->next + k) % g->nparts;
		struct gpart *p = &g->parts[i];
		int got = pagebus_poll(p->c, msgs + n, max - n, 0);
		if (got == -ENOENT && !n) {
			drop_part(g, i);
			k = -1; /* start over: the indexes moved */
			continue;
		}
		if (got < 0)
			return n ? n : got;
		for (int j = 0; j < got; j++)
			msgs[n + j].topic_index = p->topic;
		n += got;
	}
	if (g->nparts)
		g->next = (g->next + 1) % g->nparts;
	return n;
}

/* Sleeps until one of the sampled partitions moves or ms pass. */
static void wait_parts(const uint32_t *const *words, const uint32_t *vals, int n, int ms)
{
	struct futex_waitv wv[WAIT_MAX];
	int k = 0;
	for (int i = 0; i < n && k < WAIT_MAX; i++)
		if (words[i])
			wv[k++] = (struct futex_waitv){ .val = vals[i], .uaddr = (uintptr_t)words[i], .flags = FUTEX_32 };
	if (n > WAIT_MAX && ms > 10)
		ms = 10; /* the others are looked at often enough */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (!k || syscall(SYS_futex_waitv, wv, k, 0, &ts, CLOCK_MONOTONIC) < 0) {
		if (k && errno != ENOSYS)
			return; /* woken (EAGAIN: moved already), timed out or interrupted */
		usleep((useconds_t)(k ? (ms < 5 ? ms : 5) : ms) * 1000); /* kernel before 5.16 */
	}
}

int pagebus_group_poll(struct pagebus_group_consumer *g, struct pagebus_msg *msgs, int max, int timeout_ms)
{
	if (!g || !msgs || max <= 0)
		return -EINVAL;
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : pb_now_us() + (uint64_t)timeout_ms * 1000;
	const uint32_t *words[WAIT_MAX];
	uint32_t vals[WAIT_MAX];
	for (;;) {
		int rc = maintain(g);
		if (rc < 0)
			return rc;
		if (g->state == G_JOINING || g->state == G_SYNCING) {
			rc = maintain(g); /* an answer that came at once (the group was ready) */
			if (rc < 0)
				return rc;
		}
		int nw = 0;
		if (g->state == G_STABLE) {
			for (int i = 0; i < g->nparts && i < WAIT_MAX; i++)
				words[nw++] = pb_consumer_futex(g->parts[i].c, &vals[i]);
			int n = read_parts(g, msgs, max);
			if (n)
				return n;
		}
		uint64_t now = pb_now_us();
		if (now >= deadline)
			return 0;
		uint64_t until = deadline;
		if (g->state == G_STABLE) {
			until = g->hb_due < until ? g->hb_due : until;
			if (g->opts.auto_commit_ms > 0 && g->commit_due < until)
				until = g->commit_due;
		} else if (g->state == G_DOWN || g->state == G_JOIN) {
			until = g->retry_due > now && g->retry_due < until ? g->retry_due : now + 1000;
		}
		int ms = until > now ? (int)((until - now + 999) / 1000) : 0;
		if (ms > 1000)
			ms = 1000; /* look at the group connection now and then */
		if (g->state == G_STABLE && g->nparts) {
			wait_parts(words, vals, g->nparts < WAIT_MAX ? nw : g->nparts, ms);
		} else if (g->gpb && (g->state == G_JOINING || g->state == G_SYNCING)) {
			struct pollfd p = { .fd = g->gpb->fd, .events = POLLIN };
			poll(&p, 1, ms);
		} else if (ms) {
			usleep((useconds_t)ms * 1000);
		}
	}
}

int pagebus_group_commit(struct pagebus_group_consumer *g)
{
	if (!g)
		return -EINVAL;
	int rc = commit_positions(g);
	if (rc == -EPIPE || rc == -PAGEBUS_EREBALANCE || rc == -PAGEBUS_EUNKNOWN_MEMBER || rc == -PAGEBUS_EGENERATION)
		membership_error(g, rc == -PAGEBUS_EREBALANCE ? -PAGEBUS_EGENERATION : rc); /* no second commit */
	return rc;
}

int pagebus_group_assignment(struct pagebus_group_consumer *g, struct pagebus_topic_partition *out, int max)
{
	if (!g || max < 0 || (max && !out))
		return -EINVAL;
	for (int i = 0; i < g->nparts && i < max; i++)
		out[i] = g->tps[i];
	return g->nparts;
}

const char *pagebus_group_member_id(struct pagebus_group_consumer *g)
{
	return g ? g->member_id : "";
}

/* ---- subscribe and close ---------------------------------------------------------------------- */

static bool group_name_ok(const char *s)
{
	size_t n = strnlen(s, 250);
	if (n == 0 || n > 249)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

void pagebus_group_close(struct pagebus_group_consumer *g)
{
	if (!g)
		return;
	revoke_parts(g, true);
	if (g->gpb && g->state != G_DOWN && g->member_id[0]) {
		struct pbp_leave_group m;
		snprintf(m.group, sizeof(m.group), "%s", g->group);
		snprintf(m.member_id, sizeof(m.member_id), "%s", g->member_id);
		struct pbp_wbuf w;
		pbp_w_init(&w, g->sbuf, sizeof(g->sbuf));
		call_simple(g, pbp_enc_leave_group(&w, pb_next_id(g->gpb), &m));
	}
	pagebus_close(g->gpb); /* and a member that never got an id leaves with the session */
	for (int i = 0; i < g->ntopics; i++)
		free(g->topics[i]);
	free(g->topics);
	free(g->subscription);
	leader_view_free(g);
	free(g);
}

int pagebus_consumer_subscribe(struct pagebus *pb, const char *group, const char *const *topics, int ntopics,
			       const struct pagebus_subscribe_opts *opts, struct pagebus_group_consumer **out)
{
	*out = NULL;
	if (!pb || !group || !group_name_ok(group) || !topics || ntopics <= 0 || ntopics > PBP_MAX_TOPICS)
		return -EINVAL;
	for (int i = 0; i < ntopics; i++)
		if (!topics[i] || !topics[i][0] || strlen(topics[i]) > 249)
			return -EINVAL;
	struct pagebus_subscribe_opts o = { .sz = sizeof(o), .auto_commit_ms = PAGEBUS_AUTO_COMMIT_DEFAULT_MS };
	if (opts) {
		if (opts->sz < sizeof(size_t) || opts->sz > sizeof(o))
			return -EINVAL;
		memset(&o, 0, sizeof(o));
		memcpy(&o, opts, opts->sz);
		o.sz = sizeof(o);
	}
	if (o.assignor < PAGEBUS_ASSIGN_RANGE || o.assignor > PAGEBUS_ASSIGN_ROUNDROBIN || o.auto_commit_ms < 0 ||
	    o.session_timeout_ms < 0 || o.rebalance_timeout_ms < 0 || o.reset < PAGEBUS_RESET_EARLIEST ||
	    o.reset > PAGEBUS_RESET_LATEST || (o.client_id && strlen(o.client_id) > PBP_NAME_MAX))
		return -EINVAL;
	if (!o.session_timeout_ms)
		o.session_timeout_ms = DEFAULT_SESSION_MS;
	if (!o.rebalance_timeout_ms)
		o.rebalance_timeout_ms = DEFAULT_REBALANCE_MS;
	struct pagebus_group_consumer *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->pb = pb;
	g->opts = o;
	g->opts.client_id = NULL; /* copied below: the caller's string need not live on */
	snprintf(g->group, sizeof(g->group), "%s", group);
	snprintf(g->client_id, sizeof(g->client_id), "%s", o.client_id ? o.client_id : "pagebus");
	int err = -ENOMEM;
	if (!(g->topics = calloc((size_t)ntopics, sizeof(*g->topics))))
		goto err;
	for (; g->ntopics < ntopics; g->ntopics++)
		if (!(g->topics[g->ntopics] = strdup(topics[g->ntopics])))
			goto err;
	if ((err = cp_subscription_encode(topics, ntopics, &g->subscription, &g->sublen)) < 0)
		goto err;
	if ((err = pagebus_connect(pb->dir, &g->gpb)) < 0)
		goto err;
	g->state = G_JOIN;
	if ((err = send_join(g)) < 0)
		goto err;
	*out = g;
	return 0;
err:
	pagebus_group_close(g);
	return err;
}

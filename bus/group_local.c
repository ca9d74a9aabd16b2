/* SPDX-License-Identifier: Apache-2.0 */
/*
 * group_local.c — the coordinator's local front end: JOIN_GROUP, SYNC_GROUP, HEARTBEAT,
 * LEAVE_GROUP, GROUP_COMMIT, GROUP_LIST and GROUP_DESCRIBE from libpagebus sessions.
 * Joins and syncs are answered later, with session_send(); a local member belongs to its
 * session and leaves its group the moment that session closes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "kafka_api.h"
#include "logging.h"
#include "pagebus.h"

/* A JOIN_GROUP or SYNC_GROUP whose reply is owed. */
struct lwait {
	struct group_wait w;
	struct list link; /* groups.local */
	struct session *s;
	uint32_t id;
	uint16_t type;
	char group[PBP_NAME_MAX + 1];
};

/* The coordinator's error as a reply status, with a sentence for the message. */
static int status_of(int16_t kerr, const char *group, char *err, size_t errlen)
{
	switch (kerr) {
	case KERR_NONE:
		return 0;
	case KERR_REBALANCE_IN_PROGRESS:
		snprintf(err, errlen, "group %s is rebalancing: join again", group);
		return -PAGEBUS_EREBALANCE;
	case KERR_UNKNOWN_MEMBER_ID:
		snprintf(err, errlen, "group %s has no such member (it expired or left): join again", group);
		return -PAGEBUS_EUNKNOWN_MEMBER;
	case KERR_ILLEGAL_GENERATION:
		snprintf(err, errlen, "group %s has moved to a newer generation: join again", group);
		return -PAGEBUS_EGENERATION;
	case KERR_INCONSISTENT_GROUP_PROTOCOL:
		snprintf(err, errlen, "group %s: no protocol in common with its members (or none offered)", group);
		return -PAGEBUS_EGROUP_PROTOCOL;
	case KERR_INVALID_GROUP_ID:
		snprintf(err, errlen, "group names are 1..249 bytes without control characters");
		return -EINVAL;
	case KERR_INVALID_SESSION_TIMEOUT:
		snprintf(err, errlen, "the session timeout is outside group.min/max.session.timeout.ms");
		return -EINVAL;
	case KERR_GROUP_MAX_SIZE_REACHED:
		snprintf(err, errlen, "group %s is full", group);
		return -ENOSPC;
	case KERR_COORDINATOR_NOT_AVAILABLE:
		snprintf(err, errlen, "the broker has too many groups");
		return -ENOSPC;
	default:
		snprintf(err, errlen, "group %s: the coordinator failed (error %d)", group, kerr);
		return -EIO;
	}
}

/* ---- answers that come later ------------------------------------------------------------- */

static uint8_t obuf[PBP_MAX_MSG]; /* one loop: one reply at a time */

static int enc_join(struct pbp_wbuf *w, const struct lwait *lw)
{
	const struct group_wait *gw = &lw->w;
	struct pbp_join_group_reply out = { .generation = gw->generation, .nmembers = gw->nmembers };
	snprintf(out.protocol, sizeof(out.protocol), "%s", gw->protocol ? gw->protocol : "");
	snprintf(out.leader, sizeof(out.leader), "%s", gw->leader ? gw->leader : "");
	snprintf(out.member_id, sizeof(out.member_id), "%s", gw->member_id ? gw->member_id : "");
	if (gw->nmembers > PBP_MAX_MEMBERS)
		return -EMSGSIZE;
	if (gw->nmembers && !(out.members = calloc(gw->nmembers, sizeof(*out.members))))
		return -ENOMEM;
	int rc = 0;
	for (uint32_t i = 0; i < gw->nmembers; i++) {
		if (gw->members[i].len > PBP_MAX_GROUP_BYTES)
			rc = -EMSGSIZE;
		snprintf(out.members[i].member_id, sizeof(out.members[i].member_id), "%s", gw->members[i].id);
		out.members[i].len = (uint32_t)gw->members[i].len;
		out.members[i].data = gw->members[i].meta;
	}
	if (!rc)
		rc = pbp_enc_join_group_reply(w, lw->id, &out);
	free(out.members);
	return rc;
}

static void local_done(struct group_wait *gw)
{
	struct lwait *lw = container_of(gw, struct lwait, w);
	list_del(&lw->link);
	struct pbp_wbuf w;
	pbp_w_init(&w, obuf, sizeof(obuf));
	char err[256] = "";
	int rc = status_of(gw->error, lw->group, err, sizeof(err));
	if (!rc && lw->type == PBP_JOIN_GROUP) {
		rc = enc_join(&w, lw);
	} else if (!rc) {
		struct pbp_sync_group_reply out = { (uint32_t)gw->assignment_len, gw->assignment };
		rc = gw->assignment_len > PBP_MAX_GROUP_BYTES ? -EMSGSIZE : pbp_enc_sync_group_reply(&w, lw->id, &out);
	}
	if (rc == -EMSGSIZE)
		snprintf(err, sizeof(err), "the %s reply does not fit in one message (members or their bytes)",
			 lw->type == PBP_JOIN_GROUP ? "JOIN_GROUP" : "SYNC_GROUP");
	if (rc < 0)
		rc = pbp_enc_error_reply(&w, lw->type, lw->id, rc, err[0] ? err : pagebus_strerror(rc));
	if (rc > 0)
		session_send(lw->s, obuf, (size_t)rc);
	group_wait_release(gw);
	free(lw);
}

static struct lwait *lwait_new(struct session *s, uint16_t type, uint32_t id, const char *group)
{
	struct lwait *lw = calloc(1, sizeof(*lw));
	if (!lw)
		return NULL;
	group_wait_init(&lw->w, local_done);
	lw->s = s;
	lw->id = id;
	lw->type = type;
	snprintf(lw->group, sizeof(lw->group), "%s", group);
	list_add_tail(&s->b->groups->local, &lw->link);
	return lw;
}

void group_local_session_closed(struct session *s)
{
	struct groups *gs = s->b->groups;
	if (!gs)
		return;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &gs->local) {
		struct lwait *lw = container_of(pos, struct lwait, link);
		if (lw->s != s)
			continue;
		list_del(&lw->link);
		group_wait_cancel(&lw->w);
		free(lw);
	}
	group_owner_gone(gs, s);
}

/* ---- requests ------------------------------------------------------------------------------ */

static int join_group(struct session *s, struct pbp_rbuf *r, uint32_t id, char *err, size_t errlen)
{
	struct pbp_join_group m;
	int rc = pbp_parse_join_group(r, &m);
	if (rc)
		return rc;
	struct group_protocol *p = calloc(m.nprotocols ? m.nprotocols : 1, sizeof(*p));
	struct lwait *lw = p ? lwait_new(s, PBP_JOIN_GROUP, id, m.group) : NULL;
	if (!lw) {
		free(p);
		pbp_free_join_group(&m);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m.nprotocols; i++)
		p[i] = (struct group_protocol){ m.protocols[i].name, m.protocols[i].meta, m.protocols[i].len };
	char host[32];
	snprintf(host, sizeof(host), "pid %d", (int)s->pid);
	struct group_join req = {
		.group = m.group,
		.member_id = m.member_id,
		.client_id = m.client_id[0] ? m.client_id : "pagebus",
		.client_host = host,
		.session_timeout_ms = m.session_timeout_ms,
		.rebalance_timeout_ms = m.rebalance_timeout_ms > 0 ? m.rebalance_timeout_ms : m.session_timeout_ms,
		.protocol_type = m.protocol_type,
		.protocols = p,
		.nprotocols = m.nprotocols,
		.front = GROUP_FRONT_LOCAL,
		.owner = s,
	};
	group_join(s->b->groups, &req, &lw->w);
	free(p);
	pbp_free_join_group(&m);
	return 0;
}

static int sync_group(struct session *s, struct pbp_rbuf *r, uint32_t id, char *err, size_t errlen)
{
	struct pbp_sync_group m;
	int rc = pbp_parse_sync_group(r, &m);
	if (rc)
		return rc;
	struct group_assignment *a = calloc(m.nassignments ? m.nassignments : 1, sizeof(*a));
	struct lwait *lw = a ? lwait_new(s, PBP_SYNC_GROUP, id, m.group) : NULL;
	if (!lw) {
		free(a);
		pbp_free_sync_group(&m);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m.nassignments; i++)
		a[i] = (struct group_assignment){ m.assignments[i].member_id, m.assignments[i].data,
						  m.assignments[i].len };
	group_sync(s->b->groups, m.group, m.generation, m.member_id, a, m.nassignments, &lw->w);
	free(a);
	pbp_free_sync_group(&m);
	return 0;
}

static int group_commit(struct session *s, struct pbp_rbuf *r, uint32_t id, struct pbp_wbuf *w, char *err,
			size_t errlen)
{
	struct broker *b = s->b;
	struct pbp_group_commit m;
	int rc = pbp_parse_group_commit(r, &m);
	if (rc)
		return rc;
	rc = status_of(group_commit_check(b->groups, m.group, m.generation, m.member_id), m.group, err, errlen);
	struct offset_update *u = rc ? NULL : calloc(m.n ? m.n : 1, sizeof(*u));
	if (!rc && !u) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
	}
	for (uint32_t i = 0; !rc && i < m.n; i++) {
		const struct pbp_group_offset *o = &m.offsets[i];
		struct topic *t = topics_find(&b->topics, o->topic);
		if (!t || o->partition < 0 || o->partition >= t->nparts) {
			snprintf(err, errlen, "unknown topic or partition '%s' %d", o->topic, o->partition);
			rc = -ENOENT;
		} else if (o->next_offset < 0) {
			snprintf(err, errlen, "offsets are >= 0 (got %lld for '%s' %d)", (long long)o->next_offset,
				 o->topic, o->partition);
			rc = -EINVAL;
		}
		u[i] = (struct offset_update){ o->topic, o->partition, o->next_offset, NULL, 0 };
	}
	if (!rc && (rc = offsets_commit_batch(&b->offsets, m.group, u, m.n)) < 0)
		snprintf(err, errlen, "cannot persist the offsets: %s", strerror(-rc));
	free(u);
	pbp_free_group_commit(&m);
	return rc ? rc : pbp_enc_ok_reply(w, PBP_GROUP_COMMIT, id);
}

static int group_list(struct session *s, struct pbp_rbuf *r, uint32_t id, struct pbp_wbuf *w, char *err,
		      size_t errlen)
{
	int rc = pbp_parse_group_list(r);
	if (rc)
		return rc;
	const char **names;
	size_t n;
	struct pbp_group_list_reply out = { 0, NULL };
	if (groups_names(s->b, &names, &n) < 0 || !(out.groups = calloc(n ? n : 1, sizeof(*out.groups)))) {
		free(names);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && i < PBP_MAX_GROUPS; i++, out.n++) {
		struct pbp_group_info *gi = &out.groups[i];
		const struct group *g = group_find(s->b->groups, names[i]);
		snprintf(gi->name, sizeof(gi->name), "%s", names[i]);
		snprintf(gi->state, sizeof(gi->state), "%s", group_state_name(g ? g->state : GROUP_EMPTY));
		snprintf(gi->protocol_type, sizeof(gi->protocol_type), "%s",
			 g && g->protocol_type ? g->protocol_type : "");
		snprintf(gi->protocol, sizeof(gi->protocol), "%s", g && g->protocol ? g->protocol : "");
		gi->generation = g ? g->generation : 0;
		gi->members = g ? g->nmembers : 0;
	}
	rc = pbp_enc_group_list_reply(w, id, &out);
	free(out.groups);
	free(names);
	if (rc == -EMSGSIZE)
		snprintf(err, errlen, "too many groups for one reply");
	return rc;
}

struct describe {
	struct pbp_group_describe_reply *out;
	const struct group *g;
	size_t cap;
	bool oom;
};

static int member_index(const struct group *g, const struct gmember *m)
{
	int i = 0;
	for (const struct list *p = g ? g->members.next : NULL; p && p != &g->members; p = p->next, i++)
		if (container_of(p, struct gmember, link) == m)
			return i;
	return -1;
}

static void describe_row(void *ctx, const struct group_lag *row)
{
	struct describe *d = ctx;
	struct pbp_group_describe_reply *out = d->out;
	if (out->nparts >= PBP_MAX_PARTITIONS || d->oom)
		return;
	if (out->nparts == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct pbp_group_partition *v = realloc(out->parts, cap * sizeof(*v));
		if (!v) {
			d->oom = true;
			return;
		}
		out->parts = v;
		d->cap = cap;
	}
	struct pbp_group_partition *p = &out->parts[out->nparts++];
	snprintf(p->topic, sizeof(p->topic), "%s", row->topic);
	p->partition = row->partition;
	p->member = row->owner ? member_index(d->g, row->owner) : -1;
	p->committed = row->committed;
	p->log_start = row->log_start;
	p->hwm = row->hwm;
}

static int group_describe(struct session *s, struct pbp_rbuf *r, uint32_t id, struct pbp_wbuf *w, char *err,
			  size_t errlen)
{
	struct pbp_group_describe m;
	int rc = pbp_parse_group_describe(r, &m);
	if (rc)
		return rc;
	const struct group *g = group_find(s->b->groups, m.group);
	struct pbp_group_describe_reply out = { .generation = g ? g->generation : 0 };
	struct describe d = { &out, g, 0, false };
	snprintf(out.state, sizeof(out.state), "%s", group_state_name(g ? g->state : GROUP_EMPTY));
	snprintf(out.protocol_type, sizeof(out.protocol_type), "%s", g && g->protocol_type ? g->protocol_type : "");
	snprintf(out.protocol, sizeof(out.protocol), "%s", g && g->protocol ? g->protocol : "");
	snprintf(out.leader, sizeof(out.leader), "%s", g && g->leader ? g->leader->id : "");
	if (g && g->nmembers && !(out.members = calloc(g->nmembers, sizeof(*out.members))))
		d.oom = true;
	for (const struct list *p = g && out.members ? g->members.next : NULL; p && p != &g->members; p = p->next) {
		const struct gmember *gm = container_of(p, struct gmember, link);
		struct pbp_group_member_info *mi = &out.members[out.nmembers++];
		snprintf(mi->member_id, sizeof(mi->member_id), "%s", gm->id);
		snprintf(mi->client_id, sizeof(mi->client_id), "%s", gm->client_id);
		snprintf(mi->host, sizeof(mi->host), "%s", gm->host);
		mi->kafka = gm->front == GROUP_FRONT_KAFKA;
	}
	if (out.nmembers > PBP_MAX_MEMBERS)
		out.nmembers = PBP_MAX_MEMBERS;
	if (!d.oom && groups_for_each_lag(s->b, m.group, describe_row, &d) < 0)
		d.oom = true;
	if (d.oom) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
	} else if (!g && !out.nparts) {
		snprintf(err, errlen, "unknown group '%s': no members and no committed offsets", m.group);
		rc = -ENOENT;
	} else if ((rc = pbp_enc_group_describe_reply(w, id, &out)) == -EMSGSIZE) {
		snprintf(err, errlen, "group '%s' has too many members or partitions for one reply", m.group);
	}
	free(out.members);
	free(out.parts);
	return rc;
}

int group_local_request(struct session *s, uint16_t type, struct pbp_rbuf *r, uint32_t id, struct pbp_wbuf *w,
			char *err, size_t errlen)
{
	struct groups *gs = s->b->groups;
	int rc;
	switch (type) {
	case PBP_JOIN_GROUP:
		return join_group(s, r, id, err, errlen);
	case PBP_SYNC_GROUP:
		return sync_group(s, r, id, err, errlen);
	case PBP_HEARTBEAT: {
		struct pbp_heartbeat m;
		if ((rc = pbp_parse_heartbeat(r, &m)))
			return rc;
		rc = status_of(group_heartbeat(gs, m.group, m.generation, m.member_id), m.group, err, errlen);
		return rc ? rc : pbp_enc_ok_reply(w, type, id);
	}
	case PBP_LEAVE_GROUP: {
		struct pbp_leave_group m;
		if ((rc = pbp_parse_leave_group(r, &m)))
			return rc;
		rc = status_of(group_leave(gs, m.group, m.member_id), m.group, err, errlen);
		return rc ? rc : pbp_enc_ok_reply(w, type, id);
	}
	case PBP_GROUP_COMMIT:
		return group_commit(s, r, id, w, err, errlen);
	case PBP_GROUP_LIST:
		return group_list(s, r, id, w, err, errlen);
	case PBP_GROUP_DESCRIBE:
		return group_describe(s, r, id, w, err, errlen);
	default:
		snprintf(err, errlen, "unknown request type %u", type);
		return -EPROTO;
	}
}

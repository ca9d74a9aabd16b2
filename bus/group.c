/* SPDX-License-Identifier: Apache-2.0 */
/*
 * group.c — the group coordinator: Kafka's classic rebalance protocol on the broker's
 * loop for Kafka and local members alike. Join phases, generations, protocol choice by
 * vote, the leader's assignment handed out through SyncGroup, session and rebalance
 * timeouts checked by one tick timer while any group is active; answers that wait are
 * queued and delivered from groups_turn(). Membership lives in memory only (a broker
 * restart starts every group over); committed offsets live in the offset store.
 */
#include "group.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "consumer_protocol.h"
#include "kafka_api.h"
#include "logging.h"

/* Bounds against clients that make up members: per group, groups in all, metadata. */
#define GROUP_MAX_MEMBERS 1000
#define GROUPS_MAX 10000
#define GROUP_META_MAX (256u << 10)

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *group_state_name(enum group_state s)
{
	static const char *const names[] = { "Empty", "PreparingRebalance", "CompletingRebalance", "Stable",
					     "Dead" };
	return s <= GROUP_DEAD ? names[s] : "Dead";
}

bool group_id_valid(const char *id)
{
	return offsets_name_valid(id);
}

/* ---- waits ------------------------------------------------------------------------------ */

void group_wait_init(struct group_wait *w, group_wait_fn *done)
{
	memset(w, 0, sizeof(*w));
	w->done = done;
	list_init(&w->link);
	w->generation = -1;
}

static void free_answer(struct group_wait *w)
{
	free(w->protocol);
	free(w->leader);
	free(w->member_id);
	for (uint32_t i = 0; i < w->nmembers; i++) {
		free(w->members[i].id);
		free(w->members[i].meta);
	}
	free(w->members);
	free(w->assignment);
	w->protocol = w->leader = w->member_id = NULL;
	w->members = NULL;
	w->nmembers = 0;
	w->assignment = NULL;
	w->assignment_len = 0;
}

void group_wait_release(struct group_wait *w)
{
	free_answer(w);
}

static void detach(struct group_wait *w)
{
	struct gmember *m = w->m;
	if (!m)
		return;
	if (m->join_wait == w)
		m->join_wait = NULL;
	if (m->sync_wait == w)
		m->sync_wait = NULL;
	w->m = NULL;
}

void group_wait_cancel(struct group_wait *w)
{
	detach(w);
	if (w->queued) {
		list_del(&w->link);
		w->queued = false;
	}
	free_answer(w);
}

/* The answer is in w: deliver it next turn. */
static void deliver(struct groups *gs, struct group_wait *w)
{
	detach(w);
	if (!w->queued) {
		list_add_tail(&gs->ready, &w->link);
		w->queued = true;
	}
}

static void answer_error(struct groups *gs, struct group_wait *w, int16_t err)
{
	free_answer(w);
	w->error = err;
	w->generation = -1;
	deliver(gs, w);
}

bool groups_turn(struct broker *b)
{
	struct groups *gs = b->groups;
	bool work = false;
	while (gs && !list_empty(&gs->ready)) {
		struct group_wait *w = container_of(gs->ready.next, struct group_wait, link);
		list_del(&w->link);
		w->queued = false;
		w->done(w); /* may cancel other queued waits: they leave the list */
		work = true;
	}
	return work;
}

/* ---- members ------------------------------------------------------------------------------- */

static void free_protocols(struct group_protocol *p, uint32_t n)
{
	for (uint32_t i = 0; p && i < n; i++) {
		free((char *)p[i].name);
		free((uint8_t *)p[i].meta);
	}
	free(p);
}

/* Copies of a request's protocols; NULL on ENOMEM. */
static struct group_protocol *copy_protocols(const struct group_join *req)
{
	struct group_protocol *p = calloc(req->nprotocols, sizeof(*p));
	for (uint32_t i = 0; p && i < req->nprotocols; i++) {
		size_t len = req->protocols[i].len;
		uint8_t *meta = malloc(len ? len : 1);
		p[i].name = strdup(req->protocols[i].name);
		p[i].meta = meta;
		p[i].len = len;
		if (!meta || !p[i].name) {
			free_protocols(p, i + 1);
			return NULL;
		}
		if (len)
			memcpy(meta, req->protocols[i].meta, len);
	}
	return p;
}

static void member_free(struct gmember *m)
{
	free(m->id);
	free(m->client_id);
	free(m->host);
	free_protocols(m->protocols, m->nprotocols);
	free(m->assignment);
	free(m);
}

static struct gmember *member_find(const struct group *g, const char *id)
{
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, (struct list *)&g->members) {
		struct gmember *m = container_of(pos, struct gmember, link);
		if (!strcmp(m->id, id))
			return m;
	}
	return NULL;
}

static struct gmember *first_member(const struct group *g)
{
	return g->nmembers ? container_of(g->members.next, struct gmember, link) : NULL;
}

static struct gmember *member_add(struct group *g, const char *id, const struct group_join *req, int64_t now)
{
	struct gmember *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->g = g;
	m->id = strdup(id);
	m->client_id = strdup(req->client_id ? req->client_id : "");
	m->host = strdup(req->client_host ? req->client_host : "");
	m->protocols = copy_protocols(req);
	if (!m->id || !m->client_id || !m->host || !m->protocols) {
		member_free(m);
		return NULL;
	}
	if (!g->protocol_type && !(g->protocol_type = strdup(req->protocol_type))) {
		member_free(m);
		return NULL;
	}
	m->nprotocols = req->nprotocols;
	m->front = req->front;
	m->owner = req->owner;
	m->session_timeout_ms = req->session_timeout_ms;
	m->rebalance_timeout_ms = req->rebalance_timeout_ms;
	m->last_seen_ms = now;
	list_add_tail(&g->members, &m->link);
	g->nmembers++;
	return m;
}

/* Removes m; a join or sync it waited on is answered with err. */
static void member_remove(struct group *g, struct gmember *m, int16_t err)
{
	if (m->join_wait)
		answer_error(g->gs, m->join_wait, err);
	if (m->sync_wait)
		answer_error(g->gs, m->sync_wait, err);
	if (g->leader == m)
		g->leader = NULL;
	list_del(&m->link);
	g->nmembers--;
	member_free(m);
}

static bool lists_protocol(const struct gmember *m, const char *name)
{
	for (uint32_t i = 0; i < m->nprotocols; i++)
		if (!strcmp(m->protocols[i].name, name))
			return true;
	return false;
}

/* Does every member list protocol name? */
static bool all_list(const struct group *g, const char *name)
{
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, (struct list *)&g->members) {
		if (!lists_protocol(container_of(pos, struct gmember, link), name))
			return false;
	}
	return true;
}

/*
 * May req join (or rejoin, as `self`)? The first member sets the protocol type; the others
 * must share it and at least one protocol with every member already there.
 */
static bool compatible(const struct group *g, const struct gmember *self, const struct group_join *req)
{
	if (g->nmembers == 0 || (g->nmembers == 1 && self))
		return true;
	if (g->protocol_type && strcmp(g->protocol_type, req->protocol_type))
		return false;
	for (uint32_t i = 0; i < req->nprotocols; i++) {
		bool ok = true;
		struct list *pos, *tmp;
		list_for_each_safe(pos, tmp, (struct list *)&g->members) {
			const struct gmember *m = container_of(pos, struct gmember, link);
			if (m != self && !lists_protocol(m, req->protocols[i].name)) {
				ok = false;
				break;
			}
		}
		if (ok)
			return true;
	}
	return false;
}

/* Kafka's choice: among the protocols every member lists, each member votes for the
 * first of its own; most votes wins (ties: the first member's order). */
static const char *select_protocol(const struct group *g)
{
	const struct gmember *first = first_member(g);
	const char *best = NULL;
	uint32_t best_votes = 0;
	for (uint32_t i = 0; first && i < first->nprotocols; i++) {
		const char *p = first->protocols[i].name;
		if (!all_list(g, p))
			continue;
		uint32_t votes = 0;
		struct list *pos, *tmp;
		list_for_each_safe(pos, tmp, (struct list *)&g->members) {
			const struct gmember *m = container_of(pos, struct gmember, link);
			for (uint32_t k = 0; k < m->nprotocols; k++)
				if (all_list(g, m->protocols[k].name)) {
					votes += !strcmp(m->protocols[k].name, p);
					break;
				}
		}
		if (!best || votes > best_votes) {
			best = p;
			best_votes = votes;
		}
	}
	return best;
}

const uint8_t *group_member_meta(const struct gmember *m, size_t *len)
{
	*len = 0;
	for (uint32_t i = 0; m->g->protocol && i < m->nprotocols; i++)
		if (!strcmp(m->protocols[i].name, m->g->protocol)) {
			*len = m->protocols[i].len;
			return m->protocols[i].meta;
		}
	return NULL;
}

/* `<client id>-<uuid>` as Kafka makes them; control characters of the client id become _. */
static void make_member_id(const char *client_id, char *out, size_t cap)
{
	uint8_t r[16];
	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		static uint64_t seq;
		uint64_t v = (uint64_t)mono_ms() ^ (++seq << 32);
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (uint8_t)(v >> (8 * (i % 8))) ^ (uint8_t)(i * 37);
	}
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40); /* a version-4 UUID */
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
	char prefix[GROUP_CLIENT_ID_MAX + 1];
	size_t n = 0;
	for (; client_id && client_id[n] && n < GROUP_CLIENT_ID_MAX; n++) {
		unsigned char c = (unsigned char)client_id[n];
		prefix[n] = c < 0x20 || c == 0x7f || c == ' ' ? '_' : (char)c;
	}
	prefix[n] = '\0';
	snprintf(out, cap,
		 "%s-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", prefix, r[0], r[1],
		 r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

/* ---- groups ---------------------------------------------------------------------------------- */

struct group *group_find(struct groups *gs, const char *id)
{
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &gs->list) {
		struct group *g = container_of(pos, struct group, link);
		if (!strcmp(g->id, id))
			return g;
	}
	return NULL;
}

static size_t ngroups(const struct groups *gs)
{
	size_t n = 0;
	for (const struct list *p = gs->list.next; p != &gs->list; p = p->next)
		n++;
	return n;
}

static struct group *group_new(struct groups *gs, const char *id)
{
	if (ngroups(gs) >= GROUPS_MAX)
		return NULL;
	struct group *g = calloc(1, sizeof(*g));
	if (!g || !(g->id = strdup(id))) {
		free(g);
		return NULL;
	}
	g->gs = gs;
	g->state = GROUP_EMPTY;
	list_init(&g->members);
	list_add_tail(&gs->list, &g->link);
	return g;
}

static void pending_remove(struct group *g, size_t i)
{
	free(g->pending[i].id);
	g->pending[i] = g->pending[--g->npending];
}

/* Frees a group with nothing left to coordinate (its offsets stay in the store). */
static void group_maybe_free(struct group *g)
{
	if (g->nmembers || g->npending || g->state != GROUP_EMPTY)
		return;
	list_del(&g->link);
	free(g->pending);
	free(g->protocol_type);
	free(g->protocol);
	free(g->id);
	free(g);
}

static void arm_tick(struct groups *gs);

/* Into PreparingRebalance: every member must (re)join. */
static void prepare_rebalance(struct group *g, int64_t now, const char *why)
{
	const struct broker_config *cfg = g->gs->b->cfg;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &g->members) {
		struct gmember *m = container_of(pos, struct gmember, link);
		if (m->sync_wait) /* the leader's assignment did not come: start over */
			answer_error(g->gs, m->sync_wait, KERR_REBALANCE_IN_PROGRESS);
		free(m->assignment); /* eager protocol: nobody owns anything until the next sync */
		m->assignment = NULL;
		m->assignment_len = 0;
	}
	int32_t max_rt = 0;
	list_for_each_safe(pos, tmp, &g->members) {
		struct gmember *m = container_of(pos, struct gmember, link);
		if (m->rebalance_timeout_ms > max_rt)
			max_rt = m->rebalance_timeout_ms;
	}
	g->initial = g->state == GROUP_EMPTY;
	g->state = GROUP_PREPARING_REBALANCE;
	g->join_deadline_ms = now + max_rt;
	g->join_not_before_ms = 0;
	if (g->initial) {
		int64_t delay = cfg->group_initial_rebalance_delay_ms < max_rt ? cfg->group_initial_rebalance_delay_ms
									     : max_rt;
		g->join_not_before_ms = now + delay;
	}
	g->gs->rebalances++;
	log_info("group %s: rebalancing (%s): generation %" PRId32 ", %u member(s)", g->id, why, g->generation,
		 g->nmembers);
	arm_tick(g->gs);
}

/* The join answer of the current generation; the leader's lists every member with its
 * metadata for the chosen protocol. */
static void answer_join(struct group *g, struct gmember *m, struct group_wait *w)
{
	free_answer(w);
	w->error = KERR_NONE;
	w->generation = g->generation;
	w->protocol = strdup(g->protocol ? g->protocol : "");
	w->leader = strdup(g->leader ? g->leader->id : "");
	w->member_id = strdup(m->id);
	if (m == g->leader && (w->members = calloc(g->nmembers, sizeof(*w->members)))) {
		struct list *pos, *tmp;
		list_for_each_safe(pos, tmp, &g->members) {
			const struct gmember *o = container_of(pos, struct gmember, link);
			struct group_wait_member *wm = &w->members[w->nmembers++];
			const uint8_t *meta = group_member_meta(o, &wm->len);
			wm->id = strdup(o->id);
			wm->meta = malloc(wm->len ? wm->len : 1);
			if (wm->meta && wm->len)
				memcpy(wm->meta, meta, wm->len);
			if (!wm->id || !wm->meta)
				w->error = KERR_UNKNOWN_SERVER_ERROR;
		}
	}
	if (!w->protocol || !w->leader || !w->member_id || (m == g->leader && !w->members))
		w->error = KERR_UNKNOWN_SERVER_ERROR; /* the member retries its join */
	deliver(g->gs, w);
}

/* The join phase is over: a new generation for the members that joined. */
static void complete_join(struct group *g, int64_t now)
{
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &g->members) {
		struct gmember *m = container_of(pos, struct gmember, link);
		if (m->join_wait)
			continue;
		log_info("group %s: member %s did not rejoin within the rebalance timeout: removed", g->id, m->id);
		g->gs->expired++;
		member_remove(g, m, KERR_UNKNOWN_MEMBER_ID);
	}
	g->generation++;
	const char *p = g->nmembers ? select_protocol(g) : NULL;
	free(g->protocol);
	g->protocol = p ? strdup(p) : NULL;
	if (!g->protocol) { /* no member, or (out of memory) no protocol to name */
		list_for_each_safe(pos, tmp, &g->members)
			member_remove(g, container_of(pos, struct gmember, link),
				      g->nmembers ? KERR_UNKNOWN_SERVER_ERROR : KERR_NONE);
		free(g->protocol_type);
		g->protocol_type = NULL;
		g->leader = NULL;
		g->state = GROUP_EMPTY;
		log_info("group %s: generation %" PRId32 " is empty", g->id, g->generation);
		return;
	}
	if (!g->leader)
		g->leader = first_member(g);
	g->state = GROUP_COMPLETING_REBALANCE;
	list_for_each_safe(pos, tmp, &g->members) {
		struct gmember *m = container_of(pos, struct gmember, link);
		struct group_wait *w = m->join_wait;
		m->join_wait = NULL;
		m->last_seen_ms = now;
		answer_join(g, m, w);
	}
	log_info("group %s: generation %" PRId32 ": %u member(s), protocol %s, leader %s", g->id, g->generation,
		 g->nmembers, g->protocol, g->leader->id);
}

/* Ends the join phase when everyone rejoined (after the initial delay) or time is up. */
static void try_complete_join(struct group *g, int64_t now)
{
	if (g->state != GROUP_PREPARING_REBALANCE)
		return;
	bool all = true;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &g->members) {
		if (!container_of(pos, struct gmember, link)->join_wait)
			all = false;
	}
	if ((all && now >= g->join_not_before_ms) || now >= g->join_deadline_ms)
		complete_join(g, now);
}

/* After a member left (or expired): the others must rebalance. */
static void member_gone(struct group *g, int64_t now, const char *why)
{
	switch (g->state) {
	case GROUP_STABLE:
	case GROUP_COMPLETING_REBALANCE:
		prepare_rebalance(g, now, why);
		__attribute__((fallthrough)); /* with no member left the phase ends at once */
	case GROUP_PREPARING_REBALANCE:
		try_complete_join(g, now);
		break;
	default:
		break;
	}
}

/* m waits in the join phase with w (a join it waited with before is superseded). */
static void attach_join(struct gmember *m, struct group_wait *w)
{
	if (m->join_wait && m->join_wait != w)
		answer_error(m->g->gs, m->join_wait, KERR_REBALANCE_IN_PROGRESS);
	m->join_wait = w;
	w->m = m;
}

static void join_new_member(struct group *g, struct gmember *m, struct group_wait *w, int64_t now)
{
	attach_join(m, w);
	log_info("group %s: member %s joined (client %s, %s, %s)", g->id, m->id, m->client_id, m->host,
		 m->front == GROUP_FRONT_KAFKA ? "kafka" : "local");
	if (g->state == GROUP_PREPARING_REBALANCE) {
		if (g->initial) { /* more members may be on their way: wait for them a little */
			int64_t nb = now + g->gs->b->cfg->group_initial_rebalance_delay_ms;
			g->join_not_before_ms = nb < g->join_deadline_ms ? nb : g->join_deadline_ms;
		}
		if (now + m->rebalance_timeout_ms > g->join_deadline_ms && g->initial)
			g->join_deadline_ms = now + m->rebalance_timeout_ms;
	} else {
		prepare_rebalance(g, now, "a member joined");
	}
	try_complete_join(g, now);
}

static bool same_protocols(const struct gmember *m, const struct group_join *req)
{
	if (m->nprotocols != req->nprotocols)
		return false;
	for (uint32_t i = 0; i < m->nprotocols; i++)
		if (strcmp(m->protocols[i].name, req->protocols[i].name) || m->protocols[i].len != req->protocols[i].len ||
		    (m->protocols[i].len && memcmp(m->protocols[i].meta, req->protocols[i].meta, m->protocols[i].len)))
			return false;
	return true;
}

void group_join(struct groups *gs, const struct group_join *req, struct group_wait *w)
{
	const struct broker_config *cfg = gs->b->cfg;
	int64_t now = mono_ms();
	size_t meta = 0;
	for (uint32_t i = 0; i < req->nprotocols; i++)
		meta += req->protocols[i].len + strlen(req->protocols[i].name);
	int16_t err = KERR_NONE;
	if (!group_id_valid(req->group))
		err = KERR_INVALID_GROUP_ID;
	else if (req->session_timeout_ms < cfg->group_min_session_timeout_ms ||
		 req->session_timeout_ms > cfg->group_max_session_timeout_ms)
		err = KERR_INVALID_SESSION_TIMEOUT;
	else if (!req->protocol_type[0] || !req->nprotocols || meta > GROUP_META_MAX)
		err = KERR_INCONSISTENT_GROUP_PROTOCOL;
	struct group *g = err ? NULL : group_find(gs, req->group);
	if (!err && !g)
		err = req->member_id[0]			    ? KERR_UNKNOWN_MEMBER_ID
		      : !(g = group_new(gs, req->group)) ? KERR_COORDINATOR_NOT_AVAILABLE
							 : KERR_NONE;
	if (err) {
		answer_error(gs, w, err);
		return;
	}
	struct gmember *m = req->member_id[0] ? member_find(g, req->member_id) : NULL;
	if (m) { /* a member rejoins */
		if (!compatible(g, m, req)) {
			answer_error(gs, w, KERR_INCONSISTENT_GROUP_PROTOCOL);
			goto out;
		}
		bool changed = !same_protocols(m, req);
		struct group_protocol *p = changed ? copy_protocols(req) : NULL;
		if (changed && !p) {
			answer_error(gs, w, KERR_UNKNOWN_SERVER_ERROR);
			goto out;
		}
		if (changed) {
			free_protocols(m->protocols, m->nprotocols);
			m->protocols = p;
			m->nprotocols = req->nprotocols;
			if (g->nmembers == 1 && strcmp(g->protocol_type, req->protocol_type)) {
				char *t = strdup(req->protocol_type);
				if (t) {
					free(g->protocol_type);
					g->protocol_type = t;
				}
			}
		}
		m->session_timeout_ms = req->session_timeout_ms;
		m->rebalance_timeout_ms = req->rebalance_timeout_ms;
		m->last_seen_ms = now;
		switch (g->state) {
		case GROUP_PREPARING_REBALANCE:
			attach_join(m, w);
			try_complete_join(g, now);
			break;
		case GROUP_COMPLETING_REBALANCE:
		case GROUP_STABLE:
			if (!changed && (g->state == GROUP_COMPLETING_REBALANCE || m != g->leader)) {
				answer_join(g, m, w); /* rejoined unchanged (a lost answer?) */
				break;
			}
			attach_join(m, w);
			prepare_rebalance(g, now, changed ? "a member changed its protocols" : "the leader rejoined");
			try_complete_join(g, now);
			break;
		default:
			answer_error(gs, w, KERR_UNKNOWN_MEMBER_ID);
		}
		goto out;
	}
	/* a new member: the id it was given with MEMBER_ID_REQUIRED, or none yet */
	size_t pi = 0;
	while (req->member_id[0] && pi < g->npending && strcmp(g->pending[pi].id, req->member_id))
		pi++;
	if (req->member_id[0] && pi == g->npending) {
		answer_error(gs, w, KERR_UNKNOWN_MEMBER_ID);
		goto out;
	}
	if (!compatible(g, NULL, req)) {
		answer_error(gs, w, KERR_INCONSISTENT_GROUP_PROTOCOL);
		goto out;
	}
	if (g->nmembers + g->npending >= GROUP_MAX_MEMBERS + (req->member_id[0] ? 1 : 0)) {
		answer_error(gs, w, KERR_GROUP_MAX_SIZE_REACHED);
		goto out;
	}
	char id[GROUP_MEMBER_ID_MAX + 1];
	if (req->member_id[0]) {
		snprintf(id, sizeof(id), "%s", req->member_id);
		pending_remove(g, pi);
	} else {
		make_member_id(req->client_id, id, sizeof(id));
	}
	if (!req->member_id[0] && req->require_known_id) {
		struct gpending *v = realloc(g->pending, (g->npending + 1) * sizeof(*v));
		char *copy = strdup(id);
		if (!v || !copy) {
			if (v)
				g->pending = v;
			free(copy);
			answer_error(gs, w, KERR_UNKNOWN_SERVER_ERROR);
			goto out;
		}
		g->pending = v;
		g->pending[g->npending++] = (struct gpending){ copy, now + req->session_timeout_ms };
		answer_error(gs, w, KERR_MEMBER_ID_REQUIRED);
		w->member_id = strdup(id); /* the id to join with (NULL on ENOMEM: it asks again) */
		arm_tick(gs);
		goto out;
	}
	if (!(m = member_add(g, id, req, now))) {
		answer_error(gs, w, KERR_UNKNOWN_SERVER_ERROR);
		goto out;
	}
	join_new_member(g, m, w, now);
out:
	arm_tick(gs);
	group_maybe_free(g);
}

void group_sync(struct groups *gs, const char *group, int32_t generation, const char *member_id,
		const struct group_assignment *a, uint32_t n, struct group_wait *w)
{
	int64_t now = mono_ms();
	struct group *g = group_id_valid(group) ? group_find(gs, group) : NULL;
	struct gmember *m = g ? member_find(g, member_id) : NULL;
	int16_t err = !group_id_valid(group)		 ? KERR_INVALID_GROUP_ID
		      : !m				 ? KERR_UNKNOWN_MEMBER_ID
		      : generation != g->generation	 ? KERR_ILLEGAL_GENERATION
		      : g->state == GROUP_PREPARING_REBALANCE ? KERR_REBALANCE_IN_PROGRESS
							 : KERR_NONE;
	if (m && !err)
		m->last_seen_ms = now;
	if (err) {
		answer_error(gs, w, err);
		return;
	}
	if (g->state == GROUP_COMPLETING_REBALANCE) {
		if (m->sync_wait && m->sync_wait != w)
			answer_error(gs, m->sync_wait, KERR_REBALANCE_IN_PROGRESS);
		m->sync_wait = w;
		w->m = m;
		if (m != g->leader)
			return; /* answered when the leader's assignment comes */
		for (uint32_t i = 0; i < n; i++) {
			struct gmember *o = member_find(g, a[i].member_id);
			uint8_t *copy = o ? malloc(a[i].len ? a[i].len : 1) : NULL;
			if (!copy)
				continue; /* not a member (or no memory): nothing for it */
			if (a[i].len)
				memcpy(copy, a[i].bytes, a[i].len);
			free(o->assignment);
			o->assignment = copy;
			o->assignment_len = a[i].len;
		}
		g->state = GROUP_STABLE;
		log_info("group %s: generation %" PRId32 " is stable", g->id, g->generation);
	}
	/* Stable: every waiting member gets its assignment */
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &g->members) {
		struct gmember *o = container_of(pos, struct gmember, link);
		struct group_wait *sw = o == m ? w : o->sync_wait;
		if (!sw)
			continue;
		free_answer(sw);
		sw->error = KERR_NONE;
		sw->generation = g->generation;
		if (o->assignment_len && (sw->assignment = malloc(o->assignment_len))) {
			memcpy(sw->assignment, o->assignment, o->assignment_len);
			sw->assignment_len = o->assignment_len;
		} else if (o->assignment_len) {
			sw->error = KERR_UNKNOWN_SERVER_ERROR;
		}
		o->last_seen_ms = now;
		deliver(gs, sw);
	}
}

int16_t group_heartbeat(struct groups *gs, const char *group, int32_t generation, const char *member_id)
{
	if (!group_id_valid(group))
		return KERR_INVALID_GROUP_ID;
	struct group *g = group_find(gs, group);
	struct gmember *m = g ? member_find(g, member_id) : NULL;
	if (!m)
		return KERR_UNKNOWN_MEMBER_ID;
	if (generation != g->generation)
		return KERR_ILLEGAL_GENERATION;
	m->last_seen_ms = mono_ms();
	return g->state == GROUP_PREPARING_REBALANCE ? KERR_REBALANCE_IN_PROGRESS : KERR_NONE;
}

int16_t group_leave(struct groups *gs, const char *group, const char *member_id)
{
	if (!group_id_valid(group))
		return KERR_INVALID_GROUP_ID;
	struct group *g = group_find(gs, group);
	if (!g)
		return KERR_UNKNOWN_MEMBER_ID;
	struct gmember *m = member_find(g, member_id);
	if (!m) {
		for (size_t i = 0; i < g->npending; i++)
			if (!strcmp(g->pending[i].id, member_id)) {
				pending_remove(g, i);
				group_maybe_free(g);
				return KERR_NONE;
			}
		return KERR_UNKNOWN_MEMBER_ID;
	}
	log_info("group %s: member %s left", g->id, m->id);
	member_remove(g, m, KERR_UNKNOWN_MEMBER_ID);
	member_gone(g, mono_ms(), "a member left");
	group_maybe_free(g);
	return KERR_NONE;
}

int16_t group_commit_check(struct groups *gs, const char *group, int32_t generation, const char *member_id)
{
	if (!group_id_valid(group))
		return KERR_INVALID_GROUP_ID;
	struct group *g = group_find(gs, group);
	if (!g) /* not managed by the coordinator: only commits from outside it */
		return generation < 0 ? KERR_NONE : KERR_ILLEGAL_GENERATION;
	if (generation < 0 && g->state == GROUP_EMPTY)
		return KERR_NONE;
	if (g->state == GROUP_COMPLETING_REBALANCE)
		return KERR_REBALANCE_IN_PROGRESS;
	struct gmember *m = member_find(g, member_id);
	if (!m)
		return KERR_UNKNOWN_MEMBER_ID;
	if (generation != g->generation)
		return KERR_ILLEGAL_GENERATION;
	m->last_seen_ms = mono_ms();
	return KERR_NONE;
}

void group_owner_gone(struct groups *gs, const void *owner)
{
	int64_t now = mono_ms();
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &gs->list) {
		struct group *g = container_of(pos, struct group, link);
		bool again = true;
		while (again) { /* a removal may end a join phase: walk the list afresh */
			again = false;
			struct list *q, *qt;
			list_for_each_safe(q, qt, &g->members) {
				struct gmember *m = container_of(q, struct gmember, link);
				if (m->owner != owner)
					continue;
				log_info("group %s: member %s left (its session closed)", g->id, m->id);
				member_remove(g, m, KERR_UNKNOWN_MEMBER_ID);
				member_gone(g, now, "a member's session closed");
				again = true;
				break;
			}
		}
		group_maybe_free(g);
	}
}

/* ---- timers -------------------------------------------------------------------------------------- */

/* Deadlines of one group: pending ids, silent members, the join phase. */
static void group_tick(struct group *g, int64_t now)
{
	for (size_t i = 0; i < g->npending;)
		if (g->pending[i].expires_ms <= now)
			pending_remove(g, i);
		else
			i++;
	bool again = true;
	while (again) {
		again = false;
		struct list *pos, *tmp;
		list_for_each_safe(pos, tmp, &g->members) {
			struct gmember *m = container_of(pos, struct gmember, link);
			/* a member waiting for an answer is alive: the join phase has its own limit */
			if (m->join_wait || m->sync_wait || now - m->last_seen_ms <= m->session_timeout_ms)
				continue;
			log_info("group %s: member %s (client %s) sent no heartbeat for %" PRId32 " ms: removed", g->id,
				 m->id, m->client_id, m->session_timeout_ms);
			g->gs->expired++;
			member_remove(g, m, KERR_UNKNOWN_MEMBER_ID);
			member_gone(g, now, "a member's session expired");
			again = true;
			break;
		}
	}
	try_complete_join(g, now);
	group_maybe_free(g);
}

static void tick_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)res;
	(void)flags;
	struct groups *gs = op->ctx;
	gs->tick_armed = false;
	if (gs->closed)
		return;
	int64_t now = mono_ms();
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &gs->list)
		group_tick(container_of(pos, struct group, link), now);
	arm_tick(gs);
}

/* The tick runs while any group exists (a group without members or pending ids is gone). */
static void arm_tick(struct groups *gs)
{
	if (gs->tick_armed || gs->closed || list_empty(&gs->list))
		return;
	gs->op_tick = (struct uloop_op){ .cb = tick_done, .ctx = gs };
	if (uloop_timeout(&gs->b->loop, &gs->op_tick, (uint64_t)GROUP_TICK_MS * 1000000ull) == 0)
		gs->tick_armed = true;
}

/* ---- open and close ----------------------------------------------------------------------------- */

int groups_open(struct broker *b)
{
	struct groups *gs = calloc(1, sizeof(*gs));
	if (!gs)
		return -ENOMEM;
	gs->b = b;
	list_init(&gs->list);
	list_init(&gs->ready);
	list_init(&gs->local);
	b->groups = gs;
	return 0;
}

void groups_close(struct broker *b)
{
	struct groups *gs = b->groups;
	if (!gs)
		return;
	gs->closed = true;
	/* every front end is gone: their waits were cancelled */
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &gs->list) {
		struct group *g = container_of(pos, struct group, link);
		struct list *q, *qt;
		list_for_each_safe(q, qt, &g->members)
			member_remove(g, container_of(q, struct gmember, link), KERR_UNKNOWN_MEMBER_ID);
		while (g->npending)
			pending_remove(g, 0);
		g->state = GROUP_EMPTY;
		group_maybe_free(g);
	}
	free(gs);
	b->groups = NULL;
}

/* ---- lag, lists, describe ------------------------------------------------------------------------ */

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int groups_names(struct broker *b, const char ***out, size_t *n)
{
	struct groups *gs = b->groups;
	size_t cap = ngroups(gs) + b->offsets.n, k = 0;
	const char **v = malloc((cap ? cap : 1) * sizeof(*v));
	*out = NULL;
	*n = 0;
	if (!v)
		return -ENOMEM;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &gs->list)
		v[k++] = container_of(pos, struct group, link)->id;
	for (size_t i = 0; i < b->offsets.n; i++)
		v[k++] = b->offsets.v[i].name;
	qsort(v, k, sizeof(*v), by_name);
	size_t j = 0;
	for (size_t i = 0; i < k; i++)
		if (!j || strcmp(v[j - 1], v[i]))
			v[j++] = v[i];
	*out = v;
	*n = j;
	return 0;
}

struct rows {
	struct broker *b;
	struct group_lag *v;
	size_t n, cap, start;
	const struct gmember *owner; /* whose assignment is being read */
	bool oom;
};

static struct group_lag *row_add(struct rows *r)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 32;
		struct group_lag *v = realloc(r->v, cap * sizeof(*v));
		if (!v) {
			r->oom = true;
			return NULL;
		}
		r->v = v;
		r->cap = cap;
	}
	return &r->v[r->n++];
}

/* One partition of a member's assignment: owned by it (a row, committed or not). */
static int owned(void *ctx, const char *topic, size_t len, int32_t partition)
{
	struct rows *r = ctx;
	char name[TOPIC_NAME_MAX + 1];
	if (len > TOPIC_NAME_MAX || memchr(topic, 0, len))
		return 0;
	memcpy(name, topic, len);
	name[len] = '\0';
	const struct topic *t = topics_find(&r->b->topics, name);
	if (!t)
		return 0; /* the leader assigned a topic that is gone */
	for (size_t i = r->start; i < r->n; i++)
		if (r->v[i].partition == partition && !strcmp(r->v[i].topic, t->name)) {
			r->v[i].owner = r->owner;
			return 0;
		}
	struct group_lag *row = row_add(r);
	if (row)
		*row = (struct group_lag){ r->owner->g->id, t->name, partition, -1, -1, -1, -1, r->owner };
	return 0;
}

static int by_topic(const void *a, const void *b)
{
	const struct group_lag *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);
	return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* The rows of one group: its committed offsets, then what its members own. */
static void group_rows(struct rows *r, const char *name)
{
	struct broker *b = r->b;
	r->start = r->n;
	for (size_t i = 0; i < b->offsets.n; i++) {
		const struct offset_entry *e = &b->offsets.v[i];
		struct group_lag *row = strcmp(e->name, name) ? NULL : row_add(r);
		if (row)
			*row = (struct group_lag){ e->name, e->topic, e->partition, e->offset, -1, -1, -1, NULL };
	}
	const struct group *g = group_find(b->groups, name);
	if (g && g->protocol_type && !strcmp(g->protocol_type, CP_PROTOCOL_TYPE)) {
		struct list *pos, *tmp;
		list_for_each_safe(pos, tmp, (struct list *)&g->members) {
			const struct gmember *m = container_of(pos, struct gmember, link);
			r->owner = m;
			if (m->assignment_len)
				cp_assignment_parts(m->assignment, m->assignment_len, owned, r);
		}
	}
	if (r->n > r->start)
		qsort(r->v + r->start, r->n - r->start, sizeof(*r->v), by_topic);
	for (size_t i = r->start; i < r->n; i++) {
		struct group_lag *row = &r->v[i];
		const struct topic *t = topics_find(&b->topics, row->topic);
		const struct bpart *bp = t ? broker_part(b, t->id, row->partition) : NULL;
		if (!bp)
			continue;
		row->hwm = bp->log->hwm;
		row->log_start = bp->log->log_start;
		if (row->committed >= 0)
			row->lag = row->hwm > row->committed ? row->hwm - row->committed : 0;
	}
}

int groups_for_each_lag(struct broker *b, const char *group, group_lag_fn *fn, void *ctx)
{
	struct rows r = { .b = b };
	const char **names = NULL;
	size_t n = 0;
	if (group) {
		group_rows(&r, group);
	} else {
		if (groups_names(b, &names, &n) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			group_rows(&r, names[i]);
	}
	int err = r.oom ? -ENOMEM : 0;
	for (size_t i = 0; !err && i < r.n; i++)
		fn(ctx, &r.v[i]);
	free(names);
	free(r.v);
	return err;
}

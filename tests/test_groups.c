/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_groups.c — consumer groups end to end: local members split a 4-partition topic and
 * the survivor takes all of it, with every message consumed; a member that dies leaves at
 * once; committed offsets across a broker restart (old offset files too); the group
 * requests of a raw local session, with their errors and malformed messages; the CLI.
 * Waits are bounded ("eventually, within a generous bound"); nothing asserts on time.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kafka_client.h"
#include "pagebus.h"
#include "protocol.h"
#include "testutil.h"

#define WAIT_S 20	   /* a raw client's socket reads */
#define EVENTUALLY_S 60	   /* the bound on anything a group must reach */
#define MAX_OFFSETS 4096   /* per partition, in the consumed-set bitmaps */
#define NPARTS 4

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a broker with its Kafka endpoint --------------------------------------------------- */

struct gb {
	struct tu_fixture *f;
	int port;
	struct pagebus *pb;
};

static const char *const *broker_args(const char *delay_ms)
{
	static const char *args[8];
	args[0] = "--kafka.listen";
	args[1] = "127.0.0.1:0";
	args[2] = "--group.initial.rebalance.delay.ms";
	args[3] = delay_ms;
	args[4] = NULL;
	return args;
}

static struct gb *gb_start(const char *tag, const char *delay_ms)
{
	struct gb *g = calloc(1, sizeof(*g));
	assert_non_null(g);
	g->f = tu_fixture_start(tag, broker_args(delay_ms));
	assert_non_null(g->f);
	g->port = kx_log_port(g->f->log);
	assert_true(g->port > 0);
	assert_int_equal(pagebus_connect(g->f->dir, &g->pb), 0);
	return g;
}

/* Stops the broker (it must exit cleanly) and frees everything. */
static void gb_stop(struct gb *g)
{
	pagebus_close(g->pb);
	assert_int_equal(tu_fixture_stop(g->f), 0);
	free(g);
}

/* Restarts the broker on the same data dir (a clean stop first). */
static void gb_restart(struct gb *g, const char *delay_ms)
{
	pagebus_close(g->pb);
	assert_int_equal(tu_broker_stop_clean(g->f->broker, g->f->log), 0);
	g->f->broker = tu_broker_start(g->f->dir, g->f->log, broker_args(delay_ms), NULL);
	assert_true(g->f->broker > 0);
	g->port = kx_log_port(g->f->log);
	assert_true(g->port > 0);
	assert_int_equal(pagebus_connect(g->f->dir, &g->pb), 0);
}

/* n messages "<tag>-<i>", message i to partition i % nparts. */
static void produce(struct gb *g, const char *topic, const char *tag, int n, int nparts)
{
	struct pagebus_producer *p;
	assert_int_equal(pagebus_producer_open(g->pb, topic, NULL, &p), 0);
	for (int i = 0; i < n; i++) {
		char v[64];
		int len = snprintf(v, sizeof(v), "%s-%d", tag, i);
		assert_int_equal(pagebus_send(p, i % nparts, NULL, 0, v, (size_t)len), 0);
	}
	assert_int_equal(pagebus_flush(p, 30000), 0);
	pagebus_producer_close(p);
}

/* ---- what was consumed: a bitmap of (partition, offset) ----------------------------------- */

struct seen {
	uint8_t bits[NPARTS][MAX_OFFSETS / 8];
};

static void seen_add(struct seen *s, int32_t p, int64_t o)
{
	assert_true(p >= 0 && p < NPARTS && o >= 0 && o < MAX_OFFSETS);
	s->bits[p][o / 8] |= (uint8_t)(1u << (o % 8));
}

/* Every offset below hwm[p] of every partition was seen. */
static bool seen_all(const struct seen *s, const int64_t *hwm, int nparts)
{
	for (int p = 0; p < nparts; p++)
		for (int64_t o = 0; o < hwm[p]; o++)
			if (!(s->bits[p][o / 8] & (1u << (o % 8))))
				return false;
	return true;
}

static void hwms(struct gb *g, const char *topic, int64_t *hwm, int nparts)
{
	struct pagebus_topic_desc *d;
	assert_int_equal(pagebus_topic_describe(g->pb, topic, &d), 0);
	assert_int_equal(d->partitions, nparts);
	for (int p = 0; p < nparts; p++)
		hwm[p] = d->parts[p].hwm;
	pagebus_topic_desc_free(d);
}

/* ---- the group as the broker describes it ------------------------------------------------- */

/* Members, and per partition of topic a mask of owned partitions by member index; state. */
struct view {
	int members;
	char state[32];
	unsigned owned[8]; /* by member index */
	int64_t committed[NPARTS];
	char ids[8][256];
};

static bool describe(struct gb *g, const char *group, struct view *v)
{
	struct pagebus_group_desc *d;
	memset(v, 0, sizeof(*v));
	for (int p = 0; p < NPARTS; p++)
		v->committed[p] = -1;
	if (pagebus_group_describe(g->pb, group, &d) < 0)
		return false;
	v->members = d->nmembers;
	snprintf(v->state, sizeof(v->state), "%s", d->state);
	for (int i = 0; i < d->nmembers && i < 8; i++)
		snprintf(v->ids[i], sizeof(v->ids[i]), "%s", d->members[i].member_id);
	for (int i = 0; i < d->npartitions; i++) {
		const struct pagebus_group_partition_desc *p = &d->partitions[i];
		if (p->partition < 0 || p->partition >= NPARTS)
			continue;
		if (p->member >= 0 && p->member < 8)
			v->owned[p->member] |= 1u << p->partition;
		v->committed[p->partition] = p->committed;
	}
	pagebus_group_desc_free(d);
	return true;
}

/* Stable with n members whose assignments are disjoint and cover all NPARTS partitions. */
static bool split_among(const struct view *v, int n)
{
	unsigned all = 0;
	if (v->members != n || strcmp(v->state, "Stable"))
		return false;
	for (int i = 0; i < n; i++) {
		if (all & v->owned[i])
			return false;
		all |= v->owned[i];
	}
	return all == (1u << NPARTS) - 1;
}

/* ---- cases --------------------------------------------------------------------------------- */

struct cb_log {
	int assigned, revoked;
	unsigned mask; /* partitions held after the last callback */
};

static void on_rebalance(void *ctx, int event, const struct pagebus_topic_partition *parts, int n)
{
	struct cb_log *l = ctx;
	unsigned m = 0;
	for (int i = 0; i < n; i++)
		m |= 1u << parts[i].partition;
	if (event == PAGEBUS_REBALANCE_ASSIGNED) {
		l->assigned++;
		l->mask = m;
	} else {
		l->revoked++;
		l->mask = 0;
	}
}

static struct pagebus_group_consumer *subscribe(struct gb *g, const char *group, const char *topic,
						struct cb_log *log, int assignor)
{
	const char *topics[] = { topic };
	struct pagebus_subscribe_opts o =
		PAGEBUS_OPTS(pagebus_subscribe_opts, .assignor = assignor, .auto_commit_ms = 200,
			     .client_id = "test-groups", .rebalance_cb = on_rebalance, .rebalance_ctx = log);
	struct pagebus_group_consumer *m;
	assert_int_equal(pagebus_consumer_subscribe(g->pb, group, topics, 1, &o, &m), 0);
	return m;
}

/* Polls m once (up to ms) into seen; the count. */
static int poll_into(struct pagebus_group_consumer *m, struct seen *s, int ms)
{
	struct pagebus_msg msgs[64];
	int n = pagebus_group_poll(m, msgs, 64, ms);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		assert_int_equal(msgs[i].topic_index, 0);
		seen_add(s, msgs[i].partition, msgs[i].offset);
	}
	return n;
}

/* Two local members (round-robin) split the topic and read all of it; when one closes the
 * other takes everything and reads what comes next from where the group committed. */
static void test_groups_two_local_members_share_and_take_over(void **state)
{
	(void)state;
	struct gb *g = gb_start("grp-local", "500");
	assert_int_equal(pagebus_topic_create(g->pb, "local", NPARTS), 0);
	produce(g, "local", "x", 100, NPARTS);
	struct cb_log la = { 0 }, lb = { 0 };
	struct pagebus_group_consumer *a = subscribe(g, "g3", "local", &la, PAGEBUS_ASSIGN_ROUNDROBIN);
	struct pagebus_group_consumer *b = subscribe(g, "g3", "local", &lb, PAGEBUS_ASSIGN_ROUNDROBIN);
	struct seen *seen = calloc(1, sizeof(*seen));
	assert_non_null(seen);
	int64_t hwm[NPARTS];
	hwms(g, "local", hwm, NPARTS);
	struct view v;
	bool split = false;
	int64_t end = mono_ms() + EVENTUALLY_S * 1000;
	while (mono_ms() < end) {
		poll_into(a, seen, 20);
		poll_into(b, seen, 20);
		split = describe(g, "g3", &v) && split_among(&v, 2) && la.mask && lb.mask && !(la.mask & lb.mask) &&
			(la.mask | lb.mask) == 0xf;
		if (split && seen_all(seen, hwm, NPARTS))
			break;
	}
	assert_true(split);
	assert_true(seen_all(seen, hwm, NPARTS));
	/* round-robin over 4 partitions and 2 members: two each */
	assert_int_equal(__builtin_popcount(la.mask), 2);
	assert_true(!strncmp(pagebus_group_member_id(a), "test-groups-", 12));
	assert_int_equal(pagebus_group_commit(a), 0);
	pagebus_group_close(b);
	produce(g, "local", "y", 100, NPARTS);
	hwms(g, "local", hwm, NPARTS);
	end = mono_ms() + EVENTUALLY_S * 1000;
	while (mono_ms() < end) {
		poll_into(a, seen, 50);
		if (la.mask == 0xf && seen_all(seen, hwm, NPARTS) && describe(g, "g3", &v) && split_among(&v, 1))
			break;
	}
	assert_int_equal(la.mask, 0xf);
	assert_true(seen_all(seen, hwm, NPARTS));
	assert_int_equal(pagebus_group_commit(a), 0);
	assert_true(describe(g, "g3", &v));
	for (int p = 0; p < NPARTS; p++)
		assert_int_equal(v.committed[p], hwm[p]);
	pagebus_group_close(a);
	assert_true(describe(g, "g3", &v));
	assert_string_equal(v.state, "Empty");
	free(seen);
	gb_stop(g);
}

/* A local member leaves its group the moment its process dies, long before its session
 * timeout (30 s here). */
static void test_groups_local_member_that_dies_leaves_at_once(void **state)
{
	(void)state;
	struct gb *g = gb_start("grp-death", "0");
	assert_int_equal(pagebus_topic_create(g->pb, "d", 2), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct pagebus *pb;
		struct pagebus_group_consumer *m;
		const char *topics[] = { "d" };
		struct pagebus_subscribe_opts o =
			PAGEBUS_OPTS(pagebus_subscribe_opts, .session_timeout_ms = 30000, .auto_commit_ms = 0);
		if (pagebus_connect(g->f->dir, &pb) || pagebus_consumer_subscribe(pb, "g4", topics, 1, &o, &m))
			_exit(1);
		struct pagebus_msg msgs[8];
		for (;;)
			pagebus_group_poll(m, msgs, 8, 1000);
	}
	struct view v;
	int64_t end = mono_ms() + EVENTUALLY_S * 1000;
	while (mono_ms() < end && !(describe(g, "g4", &v) && v.members == 1 && !strcmp(v.state, "Stable")))
		usleep(50000);
	assert_string_equal(v.state, "Stable");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	int64_t killed = mono_ms();
	while (mono_ms() < end && describe(g, "g4", &v))
		usleep(20000);
	assert_false(describe(g, "g4", &v)); /* no member, no offsets: the group is gone */
	assert_true(mono_ms() - killed < 30000);
	gb_stop(g);
}


/* ---- raw local requests ------------------------------------------------------------------------ */

static uint8_t lbuf[PBP_MAX_MSG];
static uint32_t g_lid = 1;

/* A local session on dir, past HELLO. */
static int lconnect(const char *dir)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = WAIT_S };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/%s", dir, PBP_SOCKET_NAME);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct pbp_wbuf w;
	struct pbp_hello hello = { 1, 1, "test_groups" };
	pbp_w_init(&w, lbuf, sizeof(lbuf));
	int len = pbp_enc_hello(&w, g_lid++, &hello);
	assert_true(len > 0);
	assert_int_equal(pbp_send(fd, lbuf, (size_t)len, NULL, 0), len);
	int fds[4], nfds;
	assert_true(pbp_recv(fd, lbuf, sizeof(lbuf), fds, 4, &nfds, 0) > 0);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return fd;
}

/* Sends the request in lbuf (len bytes) and reads the reply to it into lbuf: *r at its
 * payload. Pushes and other replies are skipped. */
static void lcall(int fd, int len, struct pbp_rbuf *r)
{
	assert_true(len > 0);
	uint32_t id = (uint32_t)lbuf[8] | (uint32_t)lbuf[9] << 8 | (uint32_t)lbuf[10] << 16 | (uint32_t)lbuf[11] << 24;
	assert_int_equal(pbp_send(fd, lbuf, (size_t)len, NULL, 0), len);
	for (;;) {
		int fds[4], nfds;
		ssize_t n = pbp_recv(fd, lbuf, sizeof(lbuf), fds, 4, &nfds, 0);
		assert_true(n > 0);
		struct pbp_hdr h;
		assert_int_equal(pbp_msg_parse(lbuf, (size_t)n, &h, r), 0);
		if (h.flags == PBP_F_REPLY && h.id == id)
			return;
	}
}

/* A request whose reply has no fields: its status. */
static int lstatus(int fd, int len)
{
	struct pbp_rbuf r;
	struct pbp_status st;
	lcall(fd, len, &r);
	assert_int_equal(pbp_parse_status_reply(&r, &st), 0);
	return st.status;
}

static int ljoin_send(const char *group, const char *member, int32_t session, const char *type, int nproto)
{
	struct pbp_group_protocol p = { "range", 4, (uint8_t *)"meta" };
	struct pbp_join_group m = { .session_timeout_ms = session, .rebalance_timeout_ms = 10000,
				    .nprotocols = (uint32_t)nproto, .protocols = nproto ? &p : NULL };
	snprintf(m.group, sizeof(m.group), "%s", group);
	snprintf(m.member_id, sizeof(m.member_id), "%s", member);
	snprintf(m.client_id, sizeof(m.client_id), "raw");
	snprintf(m.protocol_type, sizeof(m.protocol_type), "%s", type);
	struct pbp_wbuf w;
	pbp_w_init(&w, lbuf, sizeof(lbuf));
	int len = pbp_enc_join_group(&w, g_lid++, &m);
	assert_true(len > 0);
	return len;
}

/* JOIN_GROUP: the status, and on success the reply in *out (free it). */
static int ljoin(int fd, const char *group, const char *member, int32_t session, const char *type, int nproto,
		 struct pbp_join_group_reply *out)
{
	struct pbp_rbuf r;
	struct pbp_status st;
	lcall(fd, ljoin_send(group, member, session, type, nproto), &r);
	assert_int_equal(pbp_parse_join_group_reply(&r, &st, out), 0);
	return st.status;
}

static int lsync(int fd, const char *group, int32_t gen, const char *member, const char *assign, char *got,
		 size_t cap)
{
	struct pbp_group_member a = { .len = assign ? (uint32_t)strlen(assign) : 0, .data = (uint8_t *)assign };
	struct pbp_sync_group m = { .generation = gen, .nassignments = assign ? 1 : 0, .assignments = &a };
	snprintf(m.group, sizeof(m.group), "%s", group);
	snprintf(m.member_id, sizeof(m.member_id), "%s", member);
	snprintf(a.member_id, sizeof(a.member_id), "%s", member);
	struct pbp_wbuf w;
	pbp_w_init(&w, lbuf, sizeof(lbuf));
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_sync_group_reply rep;
	lcall(fd, pbp_enc_sync_group(&w, g_lid++, &m), &r);
	assert_int_equal(pbp_parse_sync_group_reply(&r, &st, &rep), 0);
	snprintf(got, cap, "%.*s", (int)rep.len, rep.assignment ? (const char *)rep.assignment : "");
	pbp_free_sync_group_reply(&rep);
	return st.status;
}

static int lheartbeat(int fd, const char *group, int32_t gen, const char *member)
{
	struct pbp_heartbeat m = { .generation = gen };
	snprintf(m.group, sizeof(m.group), "%s", group);
	snprintf(m.member_id, sizeof(m.member_id), "%s", member);
	struct pbp_wbuf w;
	pbp_w_init(&w, lbuf, sizeof(lbuf));
	return lstatus(fd, pbp_enc_heartbeat(&w, g_lid++, &m));
}

static int lcommit(int fd, const char *group, int32_t gen, const char *member, const char *topic, int64_t off)
{
	struct pbp_group_offset o = { .partition = 0, .next_offset = off };
	struct pbp_group_commit m = { .generation = gen, .n = 1, .offsets = &o };
	snprintf(o.topic, sizeof(o.topic), "%s", topic);
	snprintf(m.group, sizeof(m.group), "%s", group);
	snprintf(m.member_id, sizeof(m.member_id), "%s", member);
	struct pbp_wbuf w;
	pbp_w_init(&w, lbuf, sizeof(lbuf));
	return lstatus(fd, pbp_enc_group_commit(&w, g_lid++, &m));
}

/*
 * The group requests of a raw local session: each error the coordinator answers, the
 * leader's assignment through SYNC_GROUP, commits checked against the generation, a
 * session that closes while its JOIN_GROUP waits (its member leaves; the other learns of
 * the rebalance from its heartbeat), malformed requests answered -EPROTO.
 */
static void test_groups_local_requests_get_their_errors(void **state)
{
	(void)state;
	struct gb *g = gb_start("grp-lraw", "0");
	assert_int_equal(pagebus_topic_create(g->pb, "lr", 1), 0);
	int fd = lconnect(g->f->dir);
	struct pbp_join_group_reply j;
	assert_int_equal(ljoin(fd, "bad\x01name", "", 10000, "consumer", 1, &j), -EINVAL);
	assert_int_equal(ljoin(fd, "lg", "", 100, "consumer", 1, &j), -EINVAL);
	assert_int_equal(ljoin(fd, "lg", "", 10000, "consumer", 0, &j), -PAGEBUS_EGROUP_PROTOCOL);
	assert_int_equal(ljoin(fd, "lg", "nobody", 10000, "consumer", 1, &j), -PAGEBUS_EUNKNOWN_MEMBER);
	assert_int_equal(lheartbeat(fd, "lg", 1, "nobody"), -PAGEBUS_EUNKNOWN_MEMBER);
	assert_int_equal(ljoin(fd, "lg", "", 10000, "consumer", 1, &j), 0);
	assert_int_equal(j.generation, 1);
	assert_string_equal(j.protocol, "range");
	assert_string_equal(j.leader, j.member_id);
	assert_true(!strncmp(j.member_id, "raw-", 4));
	assert_int_equal(j.nmembers, 1);
	assert_int_equal(j.members[0].len, 4);
	assert_memory_equal(j.members[0].data, "meta", 4);
	char me[256], got[64];
	snprintf(me, sizeof(me), "%s", j.member_id);
	pbp_free_join_group_reply(&j);

	assert_int_equal(lcommit(fd, "lg", 1, me, "lr", 1), -PAGEBUS_EREBALANCE); /* before the sync */
	assert_int_equal(lsync(fd, "lg", 5, me, "xyz", got, sizeof(got)), -PAGEBUS_EGENERATION);
	assert_int_equal(lsync(fd, "lg", 1, "nobody", "xyz", got, sizeof(got)), -PAGEBUS_EUNKNOWN_MEMBER);
	assert_int_equal(lsync(fd, "lg", 1, me, "xyz", got, sizeof(got)), 0);
	assert_string_equal(got, "xyz");
	assert_int_equal(lheartbeat(fd, "lg", 1, me), 0);
	assert_int_equal(lheartbeat(fd, "lg", 0, me), -PAGEBUS_EGENERATION);
	assert_int_equal(lcommit(fd, "lg", 1, me, "nosuch", 1), -ENOENT);
	assert_int_equal(lcommit(fd, "lg", 1, me, "lr", -3), -EINVAL);
	assert_int_equal(lcommit(fd, "lg", 2, me, "lr", 1), -PAGEBUS_EGENERATION);
	assert_int_equal(lcommit(fd, "lg", -1, "", "lr", 1), -PAGEBUS_EUNKNOWN_MEMBER);
	assert_int_equal(lcommit(fd, "lg", 1, me, "lr", 1), 0);
	struct pagebus_group_desc *d;
	assert_int_equal(pagebus_group_describe(g->pb, "nosuch", &d), -ENOENT);
	assert_int_equal(pagebus_group_describe(g->pb, "lg", &d), 0);
	assert_string_equal(d->state, "Stable");
	assert_int_equal(d->nmembers, 1);
	assert_int_equal(d->members[0].kafka, 0);
	assert_true(!strncmp(d->members[0].host, "pid ", 4));
	assert_int_equal(d->npartitions, 1);
	assert_int_equal(d->partitions[0].committed, 1);
	pagebus_group_desc_free(d);

	/* a second session: another protocol type cannot join; one that can waits, and
	 * leaves the moment its session closes */
	int fd2 = lconnect(g->f->dir);
	assert_int_equal(ljoin(fd2, "lg", "", 10000, "other", 1, &j), -PAGEBUS_EGROUP_PROTOCOL);
	int len = ljoin_send("lg", "", 10000, "consumer", 1);
	assert_int_equal(pbp_send(fd2, lbuf, (size_t)len, NULL, 0), len);
	int64_t end = mono_ms() + EVENTUALLY_S * 1000;
	int hb = 0;
	while (mono_ms() < end && (hb = lheartbeat(fd, "lg", 1, me)) == 0)
		usleep(20000);
	assert_int_equal(hb, -PAGEBUS_EREBALANCE);
	close(fd2);
	struct view v;
	while (mono_ms() < end && !(describe(g, "lg", &v) && v.members == 1))
		usleep(20000);
	assert_int_equal(v.members, 1);
	assert_int_equal(ljoin(fd, "lg", me, 10000, "consumer", 1, &j), 0);
	assert_int_equal(j.generation, 2);
	assert_int_equal(j.nmembers, 1);
	pbp_free_join_group_reply(&j);

	/* malformed: answered -EPROTO, the session stays */
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_wbuf w;
	pbp_w_init(&w, lbuf, sizeof(lbuf));
	pbp_msg_begin(&w, PBP_JOIN_GROUP, 0, g_lid++);
	pbp_w_str(&w, "lg");
	pbp_w_u32(&w, 0xffffffff);
	lcall(fd, pbp_msg_end(&w), &r);
	assert_int_equal(pbp_parse_status_reply(&r, &st), 0);
	assert_int_equal(st.status, -EPROTO);
	pbp_w_init(&w, lbuf, sizeof(lbuf));
	pbp_msg_begin(&w, PBP_GROUP_COMMIT, 0, g_lid++);
	pbp_w_str(&w, "lg");
	pbp_w_i32(&w, 2);
	pbp_w_str(&w, me);
	pbp_w_u32(&w, 100000); /* more offsets than PBP_MAX_PARTITIONS */
	lcall(fd, pbp_msg_end(&w), &r);
	assert_int_equal(pbp_parse_status_reply(&r, &st), 0);
	assert_int_equal(st.status, -EPROTO);
	struct pbp_leave_group lm;
	snprintf(lm.group, sizeof(lm.group), "lg");
	snprintf(lm.member_id, sizeof(lm.member_id), "%s", me);
	pbp_w_init(&w, lbuf, sizeof(lbuf));
	assert_int_equal(lstatus(fd, pbp_enc_leave_group(&w, g_lid++, &lm)), 0);
	pbp_w_init(&w, lbuf, sizeof(lbuf));
	assert_int_equal(lstatus(fd, pbp_enc_leave_group(&w, g_lid++, &lm)), -PAGEBUS_EUNKNOWN_MEMBER);
	close(fd);
	gb_stop(g);
}


/* Committed offsets (a member's commits, and an offset file of the format before
 * metadata) come back exactly after a broker restart. */
static void test_groups_committed_offsets_survive_restart(void **state)
{
	(void)state;
	char *root = tu_tmpdir("grp-restart-old");
	char dir[700], path[800], log_path[800];
	snprintf(dir, sizeof(dir), "%s/data", root);
	snprintf(log_path, sizeof(log_path), "%s/pagebusd.log", root);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/consumer-offsets", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "legacy r 0 3\nlegacy r 1 4\n"); /* written before metadata existed */
	fclose(f);
	pid_t broker = tu_broker_start(dir, log_path, broker_args("0"), NULL);
	assert_true(broker > 0);
	struct pagebus *pb;
	assert_int_equal(pagebus_connect(dir, &pb), 0);
	struct pagebus_group_desc *d;
	assert_int_equal(pagebus_group_describe(pb, "legacy", &d), 0);
	assert_int_equal(d->npartitions, 2);
	assert_int_equal(d->partitions[0].committed, 3);
	assert_int_equal(d->partitions[1].committed, 4);
	pagebus_group_desc_free(d);
	pagebus_close(pb);
	assert_int_equal(tu_broker_stop_clean(broker, log_path), 0);
	tu_rmrf(root);
	free(root);

	struct gb *g = gb_start("grp-restart", "0");
	assert_int_equal(pagebus_topic_create(g->pb, "r", 2), 0);
	produce(g, "r", "r", 10, 2);
	/* a local member reads some and commits its positions */
	struct cb_log log = { 0 };
	struct pagebus_group_consumer *m = subscribe(g, "g5", "r", &log, PAGEBUS_ASSIGN_RANGE);
	struct seen *seen = calloc(1, sizeof(*seen));
	assert_non_null(seen);
	int64_t end = mono_ms() + EVENTUALLY_S * 1000;
	int got = 0;
	while (mono_ms() < end && got < 10)
		got += poll_into(m, seen, 50);
	assert_int_equal(got, 10);
	assert_int_equal(pagebus_group_commit(m), 0);
	pagebus_group_close(m);
	gb_restart(g, "0");
	struct view v;
	assert_true(describe(g, "g5", &v));
	assert_int_equal(v.committed[0], 5);
	assert_int_equal(v.committed[1], 5);
	/* a member of g5 after the restart resumes there: nothing left to read */
	m = subscribe(g, "g5", "r", &log, PAGEBUS_ASSIGN_RANGE);
	memset(seen, 0, sizeof(*seen));
	end = mono_ms() + 3000;
	got = 0;
	while (mono_ms() < end)
		got += poll_into(m, seen, 50);
	assert_int_equal(log.mask, 0x3);
	assert_int_equal(got, 0);
	pagebus_group_close(m);
	free(seen);
	gb_stop(g);
}

/* ---- the CLI ------------------------------------------------------------------------------------ */

static char *cli(struct gb *g, const char *args)
{
	char cmd[2048], out[800];
	snprintf(out, sizeof(out), "%s/cli.out", g->f->root);
	const char *build = getenv("BUILD");
	snprintf(cmd, sizeof(cmd), "timeout 60 %s/pagebus --dir %s %s > %s 2>&1", build && *build ? build : "build",
		 g->f->dir, args, out);
	int rc = tu_sh("%s", cmd);
	size_t len;
	char *s = (char *)tu_read_file(out, &len);
	assert_non_null(s);
	s[len] = '\0';
	if (rc != 0)
		fail_msg("pagebus %s: exit %d: %s", args, rc, s);
	return s;
}

static int count_lines(const char *s, const char *prefix)
{
	int n = 0;
	for (const char *l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		n += !strncmp(l, prefix, strlen(prefix));
	return n;
}

/* `consume -G ... -e` reads everything once and commits it; a second run reads nothing;
 * `groups list`, `groups describe` and `stat` show the group with lag 0. */
static void test_groups_cli_consume_list_describe_stat(void **state)
{
	(void)state;
	struct gb *g = gb_start("grp-cli", "0");
	assert_int_equal(pagebus_topic_create(g->pb, "c", NPARTS), 0);
	produce(g, "c", "c", 40, NPARTS);
	char *out = cli(g, "consume -G cg c -e -f 'msg %t %p %o %s\\n'");
	assert_int_equal(count_lines(out, "msg c "), 40);
	assert_non_null(strstr(out, "pagebus: assigned: c[0] c[1] c[2] c[3]"));
	free(out);
	out = cli(g, "consume -G cg c -e -f 'msg %t %p %o %s\\n'");
	assert_int_equal(count_lines(out, "msg "), 0);
	free(out);
	out = cli(g, "groups list");
	assert_non_null(strstr(out, "\ncg "));
	assert_non_null(strstr(out, "Empty"));
	free(out);
	out = cli(g, "groups describe cg");
	assert_non_null(strstr(out, "state       Empty"));
	assert_int_equal(count_lines(out, "c "), NPARTS);
	free(out);
	out = cli(g, "stat");
	char *rows = strstr(out, "\nconsumer ");
	assert_non_null(rows);
	assert_int_equal(count_lines(rows + 1, "cg "), NPARTS);
	free(out);
	gb_stop(g);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups_local_requests_get_their_errors),
		cmocka_unit_test(test_groups_committed_offsets_survive_restart),
		cmocka_unit_test(test_groups_two_local_members_share_and_take_over),
		cmocka_unit_test(test_groups_local_member_that_dies_leaves_at_once),
		cmocka_unit_test(test_groups_cli_consume_list_describe_stat),
	};
	return cmocka_run_group_tests_name("groups", tests, NULL, NULL);
}

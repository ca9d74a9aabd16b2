/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_groups.c — consumer groups end to end: the group requests of a raw local session,
 * with the coordinator's errors and malformed messages.
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/stat.h>
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

/* ---- cases --------------------------------------------------------------------------------- */


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


int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups_local_requests_get_their_errors),
	};
	return cmocka_run_group_tests_name("groups", tests, NULL, NULL);
}

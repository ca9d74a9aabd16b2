/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_groups.c — consumer groups end to end: two `kcat -G` members split a 4-partition
 * topic and the survivor of a SIGKILL takes all of it, with every message consumed; a
 * local member and kcat in one group; local members alone (and one that dies); committed
 * offsets and metadata across a broker restart (old offset files too); the group APIs
 * byte by byte from a raw client, with their errors and malformed frames; the CLI.
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

static bool have_kcat(void)
{
	return tu_sh("command -v kcat >/dev/null 2>&1") == 0;
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

/* Lines "<partition> <offset> ..." of a file into s. */
static void seen_file(struct seen *s, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[256];
	while (f && fgets(line, sizeof(line), f)) {
		int32_t p;
		int64_t o;
		if (strchr(line, '\n') && sscanf(line, "%" SCNd32 " %" SCNd64, &p, &o) == 2)
			seen_add(s, p, o);
	}
	if (f)
		fclose(f);
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

/* ---- kcat -G members ------------------------------------------------------------------- */

struct kcat {
	pid_t pid;
	char out[700], err[700];
};

/* kcat -G group topic, printing "%p %o %s" unbuffered to k->out, its log to k->err. */
static void kcat_start(struct kcat *k, struct gb *g, const char *name, const char *group, const char *topic)
{
	snprintf(k->out, sizeof(k->out), "%s/%s.out", g->f->root, name);
	snprintf(k->err, sizeof(k->err), "%s/%s.err", g->f->root, name);
	char broker[64];
	snprintf(broker, sizeof(broker), "127.0.0.1:%d", g->port);
	pid_t parent = getpid();
	k->pid = fork();
	assert_true(k->pid >= 0);
	if (k->pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		if (!freopen(k->out, "w", stdout) || !freopen(k->err, "w", stderr))
			_exit(127);
		execlp("kcat", "kcat", "-b", broker, "-G", group, "-u", "-X", "session.timeout.ms=6000", "-X",
		       "auto.commit.interval.ms=500", "-X", "auto.offset.reset=earliest", "-f", "%p %o %s\n", topic,
		       (char *)NULL);
		_exit(127);
	}
}

static void kcat_kill(struct kcat *k, int sig)
{
	if (k->pid <= 0)
		return;
	kill(k->pid, sig);
	waitpid(k->pid, NULL, 0);
	k->pid = -1;
}

/* The partitions of kcat's last "assigned:" line as a bit mask (0 before the first). */
static unsigned kcat_assigned(const struct kcat *k)
{
	size_t len;
	char *log = (char *)tu_read_file(k->err, &len);
	unsigned mask = 0;
	if (!log)
		return 0;
	log[len] = '\0';
	char *last = NULL;
	for (char *at = strstr(log, "assigned:"); at; at = strstr(at + 1, "assigned:"))
		last = at;
	for (char *p = last; p && *p && *p != '\n'; p++)
		if (*p == '[')
			mask |= 1u << atoi(p + 1);
	free(log);
	return mask;
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

/*
 * Two kcat -G members on a 4-partition topic get disjoint partitions covering all four;
 * after a SIGKILL of one, the other owns all four (the coordinator's session timeout
 * removes the dead member), and every message produced before and after is consumed by
 * one of them; committed offsets reach the high watermarks.
 */
static void test_groups_two_kcat_members_split_and_survivor_takes_all(void **state)
{
	(void)state;
	if (!have_kcat())
		skip();
	struct gb *g = gb_start("grp-kcat", "3000");
	assert_int_equal(pagebus_topic_create(g->pb, "orders", NPARTS), 0);
	produce(g, "orders", "a", 200, NPARTS);
	struct kcat a, b;
	kcat_start(&a, g, "a", "g1", "orders");
	kcat_start(&b, g, "b", "g1", "orders");
	struct view v;
	int64_t end = mono_ms() + EVENTUALLY_S * 1000;
	unsigned ma = 0, mb = 0;
	while (mono_ms() < end) {
		ma = kcat_assigned(&a);
		mb = kcat_assigned(&b);
		if (describe(g, "g1", &v) && split_among(&v, 2) && ma && mb && (ma | mb) == 0xf && !(ma & mb))
			break;
		usleep(100000);
	}
	assert_true(split_among(&v, 2));
	assert_int_equal(ma & mb, 0);
	assert_int_equal(ma | mb, 0xf);
	for (int i = 0; i < 2; i++) /* each side holds what the coordinator says it holds */
		assert_true(v.owned[i] == ma || v.owned[i] == mb);

	int64_t hwm[NPARTS];
	struct seen *seen = calloc(1, sizeof(*seen));
	assert_non_null(seen);
	hwms(g, "orders", hwm, NPARTS);
	while (mono_ms() < end) {
		seen_file(seen, a.out);
		seen_file(seen, b.out);
		if (seen_all(seen, hwm, NPARTS))
			break;
		usleep(100000);
	}
	assert_true(seen_all(seen, hwm, NPARTS));

	kcat_kill(&b, SIGKILL);
	produce(g, "orders", "b", 200, NPARTS);
	hwms(g, "orders", hwm, NPARTS);
	end = mono_ms() + EVENTUALLY_S * 1000;
	while (mono_ms() < end) {
		if (describe(g, "g1", &v) && split_among(&v, 1) && kcat_assigned(&a) == 0xf)
			break;
		usleep(200000);
	}
	assert_true(split_among(&v, 1));
	assert_int_equal(kcat_assigned(&a), 0xf);
	while (mono_ms() < end) {
		seen_file(seen, a.out);
		if (seen_all(seen, hwm, NPARTS))
			break;
		usleep(100000);
	}
	assert_true(seen_all(seen, hwm, NPARTS)); /* nothing skipped */
	/* kcat commits what it printed (auto commit every 500 ms) */
	while (mono_ms() < end) {
		bool done = describe(g, "g1", &v);
		for (int p = 0; done && p < NPARTS; p++)
			done = v.committed[p] == hwm[p];
		if (done)
			break;
		usleep(100000);
	}
	for (int p = 0; p < NPARTS; p++)
		assert_int_equal(v.committed[p], hwm[p]);
	kcat_kill(&a, SIGTERM);
	free(seen);
	gb_stop(g);
}

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

/* A local member and a kcat member in one group: disjoint partitions covering the topic,
 * everything consumed between them; when the local one leaves, kcat gets all four. */
static void test_groups_local_member_and_kcat_share_a_group(void **state)
{
	(void)state;
	if (!have_kcat())
		skip();
	struct gb *g = gb_start("grp-mixed", "3000");
	assert_int_equal(pagebus_topic_create(g->pb, "mixed", NPARTS), 0);
	produce(g, "mixed", "m", 120, NPARTS);
	struct kcat k;
	kcat_start(&k, g, "k", "g2", "mixed");
	struct cb_log log = { 0 };
	struct pagebus_group_consumer *m = subscribe(g, "g2", "mixed", &log, PAGEBUS_ASSIGN_RANGE);
	struct seen *seen = calloc(1, sizeof(*seen));
	assert_non_null(seen);
	int64_t hwm[NPARTS];
	hwms(g, "mixed", hwm, NPARTS);
	struct view v;
	bool split = false;
	int64_t end = mono_ms() + EVENTUALLY_S * 1000;
	while (mono_ms() < end) {
		poll_into(m, seen, 100);
		unsigned km = kcat_assigned(&k);
		split = describe(g, "g2", &v) && split_among(&v, 2) && log.mask && km &&
			(log.mask | km) == 0xf && !(log.mask & km);
		seen_file(seen, k.out);
		if (split && seen_all(seen, hwm, NPARTS))
			break;
	}
	assert_true(split);
	assert_true(seen_all(seen, hwm, NPARTS));
	struct pagebus_topic_partition tp[NPARTS];
	int n = pagebus_group_assignment(m, tp, NPARTS);
	assert_true(n >= 1 && n <= 3);
	for (int i = 0; i < n; i++) {
		assert_string_equal(tp[i].topic, "mixed");
		assert_true(log.mask & (1u << tp[i].partition));
	}
	pagebus_group_close(m);
	assert_int_equal(log.revoked, 1);
	end = mono_ms() + EVENTUALLY_S * 1000;
	while (mono_ms() < end && !(describe(g, "g2", &v) && split_among(&v, 1) && kcat_assigned(&k) == 0xf))
		usleep(100000);
	assert_int_equal(kcat_assigned(&k), 0xf);
	kcat_kill(&k, SIGTERM);
	free(seen);
	gb_stop(g);
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

/* ---- raw Kafka requests ------------------------------------------------------------------------ */

static int32_t g_corr = 100;

/* Sends w on fd and reads its response: the frame (free it) with *r at the body. */
static uint8_t *roundtrip(int fd, struct kc_writer *w, struct kc_reader *r)
{
	int32_t corr = g_corr - 1, got;
	assert_int_equal(kx_send(fd, w), 0);
	uint8_t *b = kx_recv(fd, &got, r);
	assert_non_null(b);
	assert_int_equal(got, corr);
	return b;
}

static void start(struct kc_writer *w, int16_t key, int16_t version)
{
	assert_int_equal(kx_start(w, key, version, g_corr++, "test-groups"), 0);
}

static void w_bytes(struct kc_writer *w, const void *p, size_t n)
{
	kc_w_i32(w, (int32_t)n);
	kc_w_raw(w, p, n);
}

/* A JoinGroup request (not read back): "consumer" with one protocol "range" = meta. */
static void join_send(int fd, int16_t version, const char *group, const char *member, int32_t session,
		      const char *ptype, const char *meta)
{
	struct kc_writer w;
	start(&w, 11, version);
	kc_w_cstr(&w, group);
	kc_w_i32(&w, session);
	if (version >= 1)
		kc_w_i32(&w, 10000);
	kc_w_cstr(&w, member);
	if (version >= 5)
		kc_w_string(&w, NULL, -1);
	kc_w_cstr(&w, ptype);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "range");
	w_bytes(&w, meta, strlen(meta));
	assert_int_equal(kx_send(fd, &w), 0);
}

struct join_answer {
	int16_t error;
	int32_t generation;
	char protocol[64], leader[256], member[256];
	int32_t members;
	char meta0[64];
};

static void join_read(int fd, int16_t version, struct join_answer *a)
{
	struct kc_reader r;
	int32_t corr;
	uint8_t *b = kx_recv(fd, &corr, &r);
	assert_non_null(b);
	const char *s;
	int len;
	memset(a, 0, sizeof(*a));
	if (version >= 2)
		kc_i32(&r, "throttle");
	a->error = kc_i16(&r, "error");
	a->generation = kc_i32(&r, "generation");
	kc_string(&r, "protocol", false, &s, &len);
	snprintf(a->protocol, sizeof(a->protocol), "%.*s", len, s);
	kc_string(&r, "leader", false, &s, &len);
	snprintf(a->leader, sizeof(a->leader), "%.*s", len, s);
	kc_string(&r, "member", false, &s, &len);
	snprintf(a->member, sizeof(a->member), "%.*s", len, s);
	a->members = kc_i32(&r, "members");
	for (int32_t i = 0; i < a->members; i++) {
		const uint8_t *m;
		int32_t ml;
		kc_string(&r, "member id", false, &s, &len);
		if (version >= 5)
			kc_string(&r, "instance", true, &s, &len);
		kc_bytes(&r, "metadata", false, &m, &ml);
		if (i == 0 && ml > 0)
			snprintf(a->meta0, sizeof(a->meta0), "%.*s", ml, (const char *)m);
	}
	assert_false(kc_failed(&r));
	assert_int_equal(kc_left(&r), 0);
	free(b);
}

static int16_t error_only(int fd, int16_t key, int16_t version, const char *group, int32_t generation,
			  const char *member)
{
	struct kc_writer w;
	struct kc_reader r;
	start(&w, key, version);
	kc_w_cstr(&w, group);
	if (key != 13)
		kc_w_i32(&w, generation);
	kc_w_cstr(&w, member);
	if (key == 12 && version >= 3)
		kc_w_string(&w, NULL, -1);
	uint8_t *b = roundtrip(fd, &w, &r);
	if (version >= 1)
		kc_i32(&r, "throttle");
	int16_t err = kc_i16(&r, "error");
	assert_false(kc_failed(&r));
	free(b);
	return err;
}

#define HEARTBEAT(fd, group, gen, member) error_only(fd, 12, 3, group, gen, member)
#define LEAVE(fd, group, member) error_only(fd, 13, 1, group, 0, member)

/* SyncGroup v3 with (member, bytes) for the leader, or no assignments: error and bytes. */
static int16_t sync_call(int fd, const char *group, int32_t gen, const char *member, const char *assign,
			 char *got, size_t cap)
{
	struct kc_writer w;
	struct kc_reader r;
	start(&w, 14, 3);
	kc_w_cstr(&w, group);
	kc_w_i32(&w, gen);
	kc_w_cstr(&w, member);
	kc_w_string(&w, NULL, -1);
	kc_w_i32(&w, assign ? 1 : 0);
	if (assign) {
		kc_w_cstr(&w, member);
		w_bytes(&w, assign, strlen(assign));
	}
	uint8_t *b = roundtrip(fd, &w, &r);
	kc_i32(&r, "throttle");
	int16_t err = kc_i16(&r, "error");
	const uint8_t *a;
	int32_t len;
	kc_bytes(&r, "assignment", false, &a, &len);
	assert_false(kc_failed(&r));
	snprintf(got, cap, "%.*s", len, (const char *)a);
	free(b);
	return err;
}

/* OffsetCommit v5 of one partition of topic: its error. */
static int16_t commit_one(int fd, const char *group, int32_t gen, const char *member, const char *topic,
			  int32_t part, int64_t off, const char *meta, int meta_len)
{
	struct kc_writer w;
	struct kc_reader r;
	start(&w, 8, 5);
	kc_w_cstr(&w, group);
	kc_w_i32(&w, gen);
	kc_w_cstr(&w, member);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, topic);
	kc_w_i32(&w, 1);
	kc_w_i32(&w, part);
	kc_w_i64(&w, off);
	kc_w_string(&w, meta, meta_len);
	uint8_t *b = roundtrip(fd, &w, &r);
	kc_i32(&r, "throttle");
	assert_int_equal(kc_i32(&r, "topics"), 1);
	const char *s;
	int len;
	kc_string(&r, "name", false, &s, &len);
	assert_int_equal(kc_i32(&r, "partitions"), 1);
	assert_int_equal(kc_i32(&r, "index"), part);
	int16_t err = kc_i16(&r, "error");
	assert_false(kc_failed(&r));
	assert_int_equal(kc_left(&r), 0);
	free(b);
	return err;
}

/* OffsetFetch v4 of (topic, part): committed offset and metadata (into meta). */
static int64_t fetch_one(int fd, const char *group, const char *topic, int32_t part, char *meta, size_t cap)
{
	struct kc_writer w;
	struct kc_reader r;
	start(&w, 9, 4);
	kc_w_cstr(&w, group);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, topic);
	kc_w_i32(&w, 1);
	kc_w_i32(&w, part);
	uint8_t *b = roundtrip(fd, &w, &r);
	kc_i32(&r, "throttle");
	assert_int_equal(kc_i32(&r, "topics"), 1);
	const char *s;
	int len;
	kc_string(&r, "name", false, &s, &len);
	assert_int_equal(kc_i32(&r, "partitions"), 1);
	assert_int_equal(kc_i32(&r, "index"), part);
	int64_t off = kc_i64(&r, "offset");
	kc_string(&r, "metadata", true, &s, &len);
	snprintf(meta, cap, "%.*s", len > 0 ? len : 0, s ? s : "");
	assert_int_equal(kc_i16(&r, "error"), 0);
	assert_int_equal(kc_i16(&r, "top error"), 0);
	assert_false(kc_failed(&r));
	free(b);
	return off;
}

/* ApiVersions advertises the group APIs at the fact sheet's ranges. */
static void check_api_versions(int fd)
{
	static const int16_t want[][3] = { { 8, 2, 5 },	 { 9, 1, 4 },  { 10, 0, 2 }, { 11, 0, 5 }, { 12, 0, 3 },
					   { 13, 0, 1 }, { 14, 0, 3 }, { 15, 0, 2 }, { 16, 0, 2 } };
	struct kc_writer w;
	struct kc_reader r;
	start(&w, 18, 0);
	uint8_t *b = roundtrip(fd, &w, &r);
	assert_int_equal(kc_i16(&r, "error"), 0);
	int32_t n = kc_i32(&r, "n");
	int found = 0;
	for (int32_t i = 0; i < n; i++) {
		int16_t key = kc_i16(&r, "key"), min = kc_i16(&r, "min"), max = kc_i16(&r, "max");
		for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
			if (key == want[k][0]) {
				assert_int_equal(min, want[k][1]);
				assert_int_equal(max, want[k][2]);
				found++;
			}
	}
	assert_int_equal(found, 9);
	free(b);
}

/* FindCoordinator v2: error, and node/host/port into the out parameters. */
static int16_t find_coordinator(int fd, const char *key, int8_t type, int32_t *node, int32_t *port)
{
	struct kc_writer w;
	struct kc_reader r;
	start(&w, 10, 2);
	kc_w_cstr(&w, key);
	kc_w_i8(&w, type);
	uint8_t *b = roundtrip(fd, &w, &r);
	kc_i32(&r, "throttle");
	int16_t err = kc_i16(&r, "error");
	const char *s;
	int len;
	kc_string(&r, "message", true, &s, &len);
	*node = kc_i32(&r, "node");
	kc_string(&r, "host", false, &s, &len);
	*port = kc_i32(&r, "port");
	assert_false(kc_failed(&r));
	free(b);
	return err;
}

/*
 * The group APIs from a raw client: versions, FindCoordinator, the MEMBER_ID_REQUIRED
 * handshake, each error the coordinator answers (23, 25, 22, 27, 26, 24, 3, 12), the
 * leader's assignment through SyncGroup, commits checked against the generation, a
 * rebalance signalled by Heartbeat, LeaveGroup, DescribeGroups, ListGroups; malformed
 * group requests close their connection and the broker keeps serving.
 */
static void test_groups_raw_protocol_and_errors(void **state)
{
	(void)state;
	struct gb *g = gb_start("grp-raw", "0");
	assert_int_equal(pagebus_topic_create(g->pb, "raw", 2), 0);
	int fd = kx_connect(g->port, WAIT_S);
	assert_true(fd >= 0);
	check_api_versions(fd);
	int32_t node, port;
	assert_int_equal(find_coordinator(fd, "gx", 0, &node, &port), 0);
	assert_int_equal(node, 0);
	assert_int_equal(port, g->port);
	assert_int_equal(find_coordinator(fd, "", 0, &node, &port), 24);
	assert_int_equal(find_coordinator(fd, "gx", 1, &node, &port), 15);

	/* v4+: a new member first gets its id with MEMBER_ID_REQUIRED */
	struct join_answer a;
	join_send(fd, 5, "gx", "", 10000, "consumer", "meta-1");
	join_read(fd, 5, &a);
	assert_int_equal(a.error, 79);
	assert_true(!strncmp(a.member, "test-groups-", 12));
	char m1[256];
	snprintf(m1, sizeof(m1), "%s", a.member);
	join_send(fd, 5, "gx", "bogus", 10000, "consumer", "meta-1");
	join_read(fd, 5, &a);
	assert_int_equal(a.error, 25);
	join_send(fd, 5, "gx", m1, 1000, "consumer", "meta-1"); /* below group.min.session.timeout.ms */
	join_read(fd, 5, &a);
	assert_int_equal(a.error, 26);
	join_send(fd, 5, "", "", 10000, "consumer", "meta-1");
	join_read(fd, 5, &a);
	assert_int_equal(a.error, 24);
	join_send(fd, 5, "gx", m1, 10000, "consumer", "meta-1");
	join_read(fd, 5, &a);
	assert_int_equal(a.error, 0);
	assert_int_equal(a.generation, 1);
	assert_string_equal(a.protocol, "range");
	assert_string_equal(a.leader, m1);
	assert_string_equal(a.member, m1);
	assert_int_equal(a.members, 1);
	assert_string_equal(a.meta0, "meta-1");

	/* CompletingRebalance: commits wait for the leader's assignment */
	assert_int_equal(commit_one(fd, "gx", 1, m1, "raw", 0, 5, "", 0), 27);
	char got[64];
	assert_int_equal(sync_call(fd, "gx", 2, m1, "A1", got, sizeof(got)), 22);
	assert_int_equal(sync_call(fd, "gx", 1, "nobody", "A1", got, sizeof(got)), 25);
	assert_int_equal(sync_call(fd, "gx", 1, m1, "A1", got, sizeof(got)), 0);
	assert_string_equal(got, "A1");
	assert_int_equal(sync_call(fd, "gx", 1, m1, NULL, got, sizeof(got)), 0); /* Stable: again */
	assert_string_equal(got, "A1");
	assert_int_equal(HEARTBEAT(fd, "gx", 1, m1), 0);
	assert_int_equal(HEARTBEAT(fd, "gx", 0, m1), 22);
	assert_int_equal(HEARTBEAT(fd, "gx", 1, "nobody"), 25);
	assert_int_equal(HEARTBEAT(fd, "nogroup", 1, m1), 25);

	/* commits: checked against member and generation, then per partition */
	assert_int_equal(commit_one(fd, "gx", 1, m1, "raw", 0, 5, "", 0), 0);
	assert_int_equal(commit_one(fd, "gx", 7, m1, "raw", 0, 6, "", 0), 22);
	assert_int_equal(commit_one(fd, "gx", 1, "nobody", "raw", 0, 6, "", 0), 25);
	assert_int_equal(commit_one(fd, "gx", -1, "", "raw", 0, 6, "", 0), 25); /* not a member, group active */
	assert_int_equal(commit_one(fd, "gx", 1, m1, "nosuch", 0, 6, "", 0), 3);
	assert_int_equal(commit_one(fd, "gx", 1, m1, "raw", 9, 6, "", 0), 3);
	static char big[5000];
	memset(big, 'm', sizeof(big));
	assert_int_equal(commit_one(fd, "gx", 1, m1, "raw", 1, 6, big, (int)sizeof(big)), 12);
	char meta[64];
	assert_int_equal(fetch_one(fd, "gx", "raw", 0, meta, sizeof(meta)), 5);
	assert_string_equal(meta, "");
	assert_int_equal(fetch_one(fd, "gx", "raw", 1, meta, sizeof(meta)), -1);

	/* a second member with another protocol type cannot join; one that can starts a
	 * rebalance, which the first learns from its heartbeat */
	int fd2 = kx_connect(g->port, WAIT_S);
	assert_true(fd2 >= 0);
	join_send(fd2, 0, "gx", "", 10000, "other", "meta-2");
	join_read(fd2, 0, &a);
	assert_int_equal(a.error, 23);
	join_send(fd2, 0, "gx", "", 10000, "consumer", "meta-2"); /* v0: no MEMBER_ID_REQUIRED */
	int64_t end = mono_ms() + EVENTUALLY_S * 1000;
	int16_t hb = 0;
	while (mono_ms() < end && (hb = HEARTBEAT(fd, "gx", 1, m1)) == 0)
		usleep(20000);
	assert_int_equal(hb, 27);
	assert_int_equal(commit_one(fd, "gx", 1, m1, "raw", 0, 7, "", 0), 0); /* still accepted */
	join_send(fd, 5, "gx", m1, 10000, "consumer", "meta-1");
	struct join_answer a2;
	join_read(fd, 5, &a);
	join_read(fd2, 0, &a2);
	assert_int_equal(a.error, 0);
	assert_int_equal(a2.error, 0);
	assert_int_equal(a.generation, 2);
	assert_int_equal(a2.generation, 2);
	assert_string_equal(a.leader, m1); /* the leader stays */
	assert_int_equal(a.members, 2);
	assert_int_equal(a2.members, 0); /* only the leader sees the members */
	assert_string_equal(a2.leader, m1);

	/* DescribeGroups v0: the rebalance in progress, two members; ListGroups names it */
	struct kc_writer w;
	struct kc_reader r;
	start(&w, 15, 0);
	kc_w_i32(&w, 2);
	kc_w_cstr(&w, "gx");
	kc_w_cstr(&w, "unknown-group");
	uint8_t *b = roundtrip(fd, &w, &r);
	assert_int_equal(kc_i32(&r, "groups"), 2);
	const char *s;
	int len;
	assert_int_equal(kc_i16(&r, "error"), 0);
	kc_string(&r, "group", false, &s, &len);
	kc_string(&r, "state", false, &s, &len);
	assert_int_equal(len, (int)strlen("CompletingRebalance"));
	assert_memory_equal(s, "CompletingRebalance", (size_t)len);
	kc_string(&r, "protocol_type", false, &s, &len);
	assert_memory_equal(s, "consumer", (size_t)len);
	kc_string(&r, "protocol", false, &s, &len);
	assert_int_equal(kc_i32(&r, "members"), 2);
	free(b);
	start(&w, 16, 1);
	b = roundtrip(fd, &w, &r);
	kc_i32(&r, "throttle");
	assert_int_equal(kc_i16(&r, "error"), 0);
	int32_t ng = kc_i32(&r, "groups");
	bool listed = false;
	for (int32_t i = 0; i < ng; i++) {
		kc_string(&r, "group", false, &s, &len);
		listed |= len == 2 && !memcmp(s, "gx", 2);
		kc_string(&r, "protocol_type", false, &s, &len);
	}
	assert_false(kc_failed(&r));
	assert_true(listed);
	free(b);

	assert_int_equal(LEAVE(fd, "gx", "nobody"), 25);
	assert_int_equal(LEAVE(fd, "gx", m1), 0);
	close(fd2); /* its member stays until its session expires: Kafka members outlive connections */
	/* a join held for that member's rejoin, on a connection that closes meanwhile: the
	 * coordinator drops the wait */
	int fd3 = kx_connect(g->port, WAIT_S);
	assert_true(fd3 >= 0);
	join_send(fd3, 0, "gx", "", 10000, "consumer", "meta-3");
	usleep(100000);
	close(fd3);

	/* malformed group requests close the connection; the broker keeps serving */
	start(&w, 11, 5);
	kc_w_cstr(&w, "gx");
	kc_w_i32(&w, 10000); /* and nothing more */
	assert_int_equal(kx_send(fd, &w), 0);
	assert_true(kx_closed(fd));
	close(fd);
	fd = kx_connect(g->port, WAIT_S);
	start(&w, 14, 3);
	kc_w_cstr(&w, "gx");
	kc_w_i32(&w, 2);
	kc_w_cstr(&w, "m");
	kc_w_string(&w, NULL, -1);
	kc_w_i32(&w, 0x7fffffff); /* assignments the frame cannot hold */
	assert_int_equal(kx_send(fd, &w), 0);
	assert_true(kx_closed(fd));
	close(fd);
	fd = kx_connect(g->port, WAIT_S);
	start(&w, 8, 5); /* OffsetCommit with a negative topic count */
	kc_w_cstr(&w, "gx");
	kc_w_i32(&w, -1);
	kc_w_cstr(&w, "");
	kc_w_i32(&w, -5);
	assert_int_equal(kx_send(fd, &w), 0);
	assert_true(kx_closed(fd));
	close(fd);
	fd = kx_connect(g->port, WAIT_S);
	check_api_versions(fd);
	close(fd);
	gb_stop(g); /* a clean exit: nothing leaked or crashed (make asan) */
}

/* Committed offsets (local commits and Kafka commits with metadata, and an offset file of
 * the format before metadata) come back exactly after a broker restart. */
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
	/* Kafka commits from outside group management, with metadata */
	int fd = kx_connect(g->port, WAIT_S);
	assert_true(fd >= 0);
	static const char meta1[] = "meta one", meta2[] = "m%2 \xc3\xbc\t";
	assert_int_equal(commit_one(fd, "kafka group/1", -1, "", "r", 0, 3, meta1, (int)strlen(meta1)), 0);
	assert_int_equal(commit_one(fd, "kafka group/1", -1, "", "r", 1, 7, meta2, (int)strlen(meta2)), 0);
	close(fd);

	gb_restart(g, "0");
	fd = kx_connect(g->port, WAIT_S);
	assert_true(fd >= 0);
	char meta[64];
	assert_int_equal(fetch_one(fd, "kafka group/1", "r", 0, meta, sizeof(meta)), 3);
	assert_string_equal(meta, meta1);
	assert_int_equal(fetch_one(fd, "kafka group/1", "r", 1, meta, sizeof(meta)), 7);
	assert_string_equal(meta, meta2);
	assert_int_equal(fetch_one(fd, "g5", "r", 0, meta, sizeof(meta)), 5);
	assert_int_equal(fetch_one(fd, "g5", "r", 1, meta, sizeof(meta)), 5);
	close(fd);
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
		cmocka_unit_test(test_groups_raw_protocol_and_errors),
		cmocka_unit_test(test_groups_local_requests_get_their_errors),
		cmocka_unit_test(test_groups_committed_offsets_survive_restart),
		cmocka_unit_test(test_groups_two_local_members_share_and_take_over),
		cmocka_unit_test(test_groups_local_member_that_dies_leaves_at_once),
		cmocka_unit_test(test_groups_cli_consume_list_describe_stat),
		cmocka_unit_test(test_groups_two_kcat_members_split_and_survivor_takes_all),
		cmocka_unit_test(test_groups_local_member_and_kcat_share_a_group),
	};
	return cmocka_run_group_tests_name("groups", tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * group.h — the consumer group coordinator of pagebusd, on the broker's loop: Kafka's
 * classic rebalance protocol (states, generations, member ids, a leader that computes
 * the assignment, session and rebalance timeouts) for every front end alike. Kafka
 * connections (kafka_group.c) and local sessions (group_local.c) call the same functions
 * with the same member objects; answers that come later (JoinGroup, SyncGroup) are
 * delivered through a struct group_wait the front end embeds in its pending request.
 *
 *   Empty ──join──▶ PreparingRebalance ──all joined / rebalance timeout──▶ CompletingRebalance
 *     ▲                 ▲      │ (no member left)                              │ leader's SyncGroup
 *     └─────────────────┼──────┘                                               ▼
 *                       └──── join of a new member, leave, session expiry ─── Stable
 *
 * Errors are Kafka's codes (KERR_* of kafka_api.h); the local front end maps them.
 */
#ifndef PAGEBUS_GROUP_H
#define PAGEBUS_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "protocol.h"

/* How often the coordinator looks at its deadlines while any group is active. */
#define GROUP_TICK_MS 100
/* Longest member id handed out (client id part cut to fit), and longest accepted. */
#define GROUP_MEMBER_ID_MAX 255
#define GROUP_CLIENT_ID_MAX 200

enum group_state {
	GROUP_EMPTY,
	GROUP_PREPARING_REBALANCE,
	GROUP_COMPLETING_REBALANCE,
	GROUP_STABLE,
	GROUP_DEAD, /* only reported: a group the coordinator does not know */
};

/* "Empty", "PreparingRebalance", ... as Kafka names them (DescribeGroups). */
const char *group_state_name(enum group_state s);

enum group_front { GROUP_FRONT_KAFKA, GROUP_FRONT_LOCAL };

struct group_wait;
typedef void group_wait_fn(struct group_wait *w);

/* One member of a JoinGroup answer (the leader's answer lists every member). */
struct group_wait_member {
	char *id;
	uint8_t *meta; /* its metadata for the chosen protocol */
	size_t len;
};

/*
 * A JoinGroup or SyncGroup request the coordinator answers, now or later. The front end
 * embeds it in its pending state, fills it with group_wait_init() and passes it to
 * group_join()/group_sync(). The answer is written into it and done() is called exactly
 * once, from groups_turn() — never from inside the call that passed it, so done() may
 * close connections freely — unless group_wait_cancel() comes first (the connection went
 * away). done() calls group_wait_release() when it has used the answer.
 */
struct group_wait {
	group_wait_fn *done;
	struct list link;       /* groups.ready while answered and not yet delivered */
	struct gmember *m;      /* the member it waits on, while it waits */
	bool queued;
	/* the answer */
	int16_t error;
	int32_t generation;     /* -1 on error */
	char *protocol, *leader, *member_id; /* JoinGroup; NULL = "" */
	struct group_wait_member *members;   /* JoinGroup, the leader's answer only */
	uint32_t nmembers;
	uint8_t *assignment;    /* SyncGroup: this member's bytes (NULL: empty) */
	size_t assignment_len;
};

void group_wait_init(struct group_wait *w, group_wait_fn *done);
/* Withdraws a wait (registered or answered, not yet delivered) and frees its answer.
 * Safe on a wait that was delivered or never used. */
void group_wait_cancel(struct group_wait *w);
/* Frees the answer after done(). */
void group_wait_release(struct group_wait *w);

/* One protocol a member offers: name and metadata bytes (opaque to the coordinator). */
struct group_protocol {
	const char *name; /* NUL-terminated */
	const uint8_t *meta;
	size_t len;
};

struct group_join {
	const char *group;       /* NUL-terminated; validated here */
	const char *member_id;   /* "" for a new member */
	const char *client_id;   /* for the member id and describe */
	const char *client_host;
	int32_t session_timeout_ms, rebalance_timeout_ms;
	const char *protocol_type;
	const struct group_protocol *protocols;
	uint32_t nprotocols;
	bool require_known_id;   /* JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED */
	enum group_front front;
	const void *owner;       /* a local session: its members leave when it closes */
};

/* One member's assignment in the leader's SyncGroup. */
struct group_assignment {
	const char *member_id;
	const uint8_t *bytes;
	size_t len;
};

struct gmember {
	struct list link;        /* group.members, in join order */
	struct group *g;
	char *id, *client_id, *host;
	enum group_front front;
	const void *owner;
	int32_t session_timeout_ms, rebalance_timeout_ms;
	struct group_protocol *protocols; /* copies */
	uint32_t nprotocols;
	uint8_t *assignment;     /* from the leader's SyncGroup; NULL: none */
	size_t assignment_len;
	struct group_wait *join_wait, *sync_wait;
	int64_t last_seen_ms;    /* heartbeat, join, sync or commit */
};

/* A member id handed out with MEMBER_ID_REQUIRED, not joined yet. */
struct gpending {
	char *id;
	int64_t expires_ms;
};

struct group {
	struct list link;        /* groups.list */
	struct groups *gs;
	char *id;
	enum group_state state;
	int32_t generation;
	char *protocol_type;     /* set by the first member; NULL while empty */
	char *protocol;          /* chosen at the end of a join phase */
	struct gmember *leader;
	struct list members;
	uint32_t nmembers;
	struct gpending *pending;
	size_t npending;
	int64_t join_deadline_ms;  /* PreparingRebalance: answer whoever joined by then */
	int64_t join_not_before_ms; /* a group that was empty waits for more members */
	bool initial;              /* this join phase started from Empty */
};

struct groups {
	struct broker *b;
	struct list list;          /* struct group */
	struct list ready;         /* answered waits, delivered by groups_turn */
	struct list local;         /* waits of local sessions (group_local.c) */
	struct uloop_op op_tick;
	bool tick_armed, closed;
	uint64_t rebalances, expired; /* counters (metrics) */
};

/* ---- the broker's side ---------------------------------------------------------------- */

int groups_open(struct broker *b);
/* After the loop and every front end are gone. */
void groups_close(struct broker *b);
/* Once per loop turn: delivers answered waits. True when it did. */
bool groups_turn(struct broker *b);

/* ---- requests (every front end) --------------------------------------------------------- */

/* JoinGroup: w is answered (now or later) through groups_turn. */
void group_join(struct groups *gs, const struct group_join *req, struct group_wait *w);
/* SyncGroup: the leader passes the assignments (n of them), the others none. */
void group_sync(struct groups *gs, const char *group, int32_t generation, const char *member_id,
		const struct group_assignment *a, uint32_t n, struct group_wait *w);
/* Heartbeat and LeaveGroup, answered at once with an error code (0 = none). */
int16_t group_heartbeat(struct groups *gs, const char *group, int32_t generation, const char *member_id);
int16_t group_leave(struct groups *gs, const char *group, const char *member_id);
/*
 * May this commit of offsets be stored? generation < 0 with member "" is a commit from
 * outside group management (allowed while the group has no members); otherwise the
 * member must be known and the generation current (it counts as a heartbeat). 0 or an
 * error code.
 */
int16_t group_commit_check(struct groups *gs, const char *group, int32_t generation, const char *member_id);
/* A local session closed: its members leave their groups. */
void group_owner_gone(struct groups *gs, const void *owner);

/* The group named id, or NULL. */
struct group *group_find(struct groups *gs, const char *id);
/* A group id the coordinator accepts: 1..249 bytes, no control characters. */
bool group_id_valid(const char *id);

/* ---- what it knows, for describe, lists and metrics --------------------------------------- */

/*
 * One (group, topic, partition) a group has committed or is assigned: the committed
 * offset (-1: none), the high watermark (-1: unknown partition), the lag (hwm - committed,
 * -1 when either is unknown) and the member that owns it now (NULL: nobody).
 */
struct group_lag {
	const char *group, *topic;
	int32_t partition;
	int64_t committed, log_start, hwm, lag;
	const struct gmember *owner;
};
typedef void group_lag_fn(void *ctx, const struct group_lag *row);
/*
 * For every partition of group (NULL: of every group, including names that only have
 * committed offsets), sorted by group, topic and partition: fn(ctx, row). Rows come from
 * the offset store and from the members' assignments (decoded when the protocol type
 * is "consumer"). Hook for metrics (lag per group and partition), `pagebus groups
 * describe` and `pagebus stat`. 0 or -ENOMEM.
 */
int groups_for_each_lag(struct broker *b, const char *group, group_lag_fn *fn, void *ctx);
/* The metadata a member sent for the group's chosen protocol (NULL, 0 when none). */
const uint8_t *group_member_meta(const struct gmember *m, size_t *len);
/*
 * Every group name the broker knows, sorted: active groups and names in the offset
 * store. *out is a malloc'd array of pointers into the groups and the store, valid until
 * the loop turns; the caller frees the array. 0 or -ENOMEM.
 */
int groups_names(struct broker *b, const char ***out, size_t *n);

/* ---- the local front end (group_local.c) ------------------------------------------------ */

/*
 * A group request from a local session (JOIN_GROUP ... GROUP_DESCRIBE): the encoded reply's
 * size in w, 0 when the reply comes later (JOIN_GROUP, SYNC_GROUP: session_send), or -errno
 * with a message in err.
 */
int group_local_request(struct session *s, uint16_t type, struct pbp_rbuf *r, uint32_t id, struct pbp_wbuf *w,
			char *err, size_t errlen);
/* The session closed: its waits are dropped, its members leave their groups. */
void group_local_session_closed(struct session *s);

#endif

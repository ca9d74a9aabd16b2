/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_group.h — the Kafka group APIs of the endpoint: FindCoordinator (this broker),
 * JoinGroup, SyncGroup, Heartbeat, LeaveGroup (the coordinator in group.c; JoinGroup and
 * SyncGroup answer later), OffsetCommit and OffsetFetch (the offset store, shared with
 * local named offsets), ListGroups and DescribeGroups. Handlers of kafka_api.c's table;
 * their requests are parsed by kafka_request.c.
 */
#ifndef PAGEBUS_KAFKA_GROUP_H
#define PAGEBUS_KAFKA_GROUP_H

#include "kafka.h"
#include "kafka_request.h"

/* Each acts on a request kafka_request.c parsed: 0 (answered or answering later) or
 * -errno (the connection is closed). */
int kafka_find_coordinator(struct kconn *c, struct kafka_request *req);
int kafka_join_group(struct kconn *c, struct kafka_request *req);
int kafka_sync_group(struct kconn *c, struct kafka_request *req);
int kafka_heartbeat(struct kconn *c, struct kafka_request *req);
int kafka_leave_group(struct kconn *c, struct kafka_request *req);
int kafka_offset_commit(struct kconn *c, struct kafka_request *req);
int kafka_offset_fetch(struct kconn *c, struct kafka_request *req);
int kafka_list_groups(struct kconn *c, struct kafka_request *req);
int kafka_describe_groups(struct kconn *c, struct kafka_request *req);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * groups.c — the `pagebus` command's consumer groups: `consume -G` (a group member on the
 * public API, printing through the caller's formatter), `groups list`, `groups describe`
 * and the committed offsets and lag that `stat` shows.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pagebus.h"

/* ---- consume -G ----------------------------------------------------------------------------- */

struct member_state {
	bool assigned; /* the first assignment came: -e may judge the end */
};

static void on_rebalance(void *ctx, int event, const struct pagebus_topic_partition *parts, int n)
{
	struct member_state *s = ctx;
	fprintf(stderr, "pagebus: %s:", event == PAGEBUS_REBALANCE_ASSIGNED ? "assigned" : "revoked");
	for (int i = 0; i < n; i++)
		fprintf(stderr, " %s[%d]", parts[i].topic, parts[i].partition);
	fprintf(stderr, "%s\n", n ? "" : " nothing");
	if (event == PAGEBUS_REBALANCE_ASSIGNED)
		s->assigned = true;
}

/* -e: every partition this member owns is read to its high watermark (committed first,
 * so the group's view is the member's). */
static int at_end(struct pagebus *pb, struct pagebus_group_consumer *g, const char *group, bool *end)
{
	int err = pagebus_group_commit(g);
	struct pagebus_group_desc *d = NULL;
	*end = false;
	if (err == -PAGEBUS_EREBALANCE || err == -PAGEBUS_EUNKNOWN_MEMBER || err == -PAGEBUS_EGENERATION)
		return 0; /* the group moves on: judge after the next assignment */
	if (err < 0 || (err = pagebus_group_describe(pb, group, &d)) < 0)
		return err == -ENOENT ? 0 : fail(pb, err, "consume -G %s", group);
	const char *me = pagebus_group_member_id(g);
	int mine = -1;
	for (int i = 0; i < d->nmembers; i++)
		if (!strcmp(d->members[i].member_id, me))
			mine = i;
	*end = mine >= 0;
	for (int i = 0; *end && i < d->npartitions; i++) {
		const struct pagebus_group_partition_desc *p = &d->partitions[i];
		if (p->member == mine && p->lag != 0)
			*end = false;
	}
	pagebus_group_desc_free(d);
	return 0;
}

int group_consume(struct pagebus *pb, const struct group_consume_opts *o)
{
	struct member_state s = { false };
	struct pagebus_subscribe_opts so =
		PAGEBUS_OPTS(pagebus_subscribe_opts, .auto_commit_ms = PAGEBUS_AUTO_COMMIT_DEFAULT_MS,
			     .reset = o->from_end ? PAGEBUS_RESET_LATEST : PAGEBUS_RESET_EARLIEST,
			     .client_id = "pagebus-cli", .rebalance_cb = on_rebalance, .rebalance_ctx = &s);
	struct pagebus_group_consumer *g;
	int err = pagebus_consumer_subscribe(pb, o->group, o->topics, o->ntopics, &so, &g);
	if (err < 0)
		return fail(pb, err, "consume -G %s", o->group);
	struct pagebus_msg msgs[256];
	uint64_t left = o->count ? o->count : UINT64_MAX;
	int rc = 0;
	bool closed = false;
	while (!*o->stop && !closed && left) {
		int n = pagebus_group_poll(g, msgs, left < 256 ? (int)left : 256, 200);
		if (n < 0) {
			rc = fail(pb, n, "consume -G %s", o->group);
			break;
		}
		if (!n) {
			bool end = false;
			if (o->exit_at_end && s.assigned && ((rc = at_end(pb, g, o->group, &end)) || end))
				break;
			continue;
		}
		for (int i = 0; i < n; i++)
			o->print(o->ctx, o->topics[msgs[i].topic_index], &msgs[i]);
		left -= (uint64_t)n;
		/* auto commit takes the positions at the next poll: only after they reached stdout */
		if (fflush(stdout) != 0) {
			if (errno == EPIPE)
				closed = true;
			else
				rc = fail(NULL, -errno, "writing to stdout");
			if (rc)
				break;
		}
	}
	pagebus_group_close(g); /* commits what was printed, leaves the group */
	return rc;
}

/* ---- groups list, groups describe --------------------------------------------------------------- */

int groups_list_run(struct pagebus *pb)
{
	struct pagebus_group_info *v;
	int n, err = pagebus_group_list(pb, &v, &n);
	if (err < 0)
		return fail(pb, err, "groups list");
	struct table t;
	table_start(&t, "group state members protocol generation");
	for (int i = 0; i < n; i++) {
		cell(&t, "%s", v[i].name);
		cell(&t, "%s", v[i].state);
		cell(&t, "%d", v[i].members);
		cell(&t, "%s", *v[i].protocol ? v[i].protocol : "-");
		cell(&t, "%" PRId32, v[i].generation);
	}
	table_print(&t, stdout);
	pagebus_group_list_free(v);
	return 0;
}

static void offset_cell(struct table *t, int64_t v)
{
	if (v < 0)
		cell(t, "-");
	else
		cell(t, "%" PRId64, v);
}

int groups_describe_run(struct pagebus *pb, const char *group)
{
	struct pagebus_group_desc *d;
	int err = pagebus_group_describe(pb, group, &d);
	if (err < 0)
		return fail(pb, err, "groups describe %s", group);
	printf("group       %s\nstate       %s\nprotocol    %s%s%s\ngeneration  %" PRId32 "\nmembers     %d\n\n",
	       d->name, d->state, *d->protocol_type ? d->protocol_type : "-", *d->protocol ? "/" : "", d->protocol,
	       d->generation, d->nmembers);
	struct table t;
	if (d->nmembers) {
		table_start(&t, "member client host kind");
		for (int i = 0; i < d->nmembers; i++) {
			const struct pagebus_group_member_desc *m = &d->members[i];
			cell(&t, "%s%s", m->member_id, strcmp(m->member_id, d->leader) ? "" : " (leader)");
			cell(&t, "%s", m->client_id);
			cell(&t, "%s", m->host);
			cell(&t, "%s", m->kafka ? "kafka" : "local");
		}
		table_print(&t, stdout);
		printf("\n");
	}
	table_start(&t, "topic partition member committed hwm lag");
	for (int i = 0; i < d->npartitions; i++) {
		const struct pagebus_group_partition_desc *p = &d->partitions[i];
		cell(&t, "%s", p->topic);
		cell(&t, "%" PRId32, p->partition);
		cell(&t, "%s", p->member >= 0 ? d->members[p->member].member_id : "-");
		offset_cell(&t, p->committed);
		offset_cell(&t, p->hwm);
		offset_cell(&t, p->lag);
	}
	table_print(&t, stdout);
	pagebus_group_desc_free(d);
	return 0;
}

/* ---- stat ------------------------------------------------------------------------------------------ */

int group_lag_rows(struct pagebus *pb)
{
	struct pagebus_group_info *v;
	int n, err = pagebus_group_list(pb, &v, &n), rows = 0;
	if (err < 0)
		return fail(pb, err, "stat: consumer groups");
	struct table t;
	table_start(&t, "consumer topic partition next_offset lag member");
	for (int i = 0; i < n; i++) {
		struct pagebus_group_desc *d;
		if (pagebus_group_describe(pb, v[i].name, &d) < 0)
			continue; /* gone since the list */
		for (int k = 0; k < d->npartitions; k++) {
			const struct pagebus_group_partition_desc *p = &d->partitions[k];
			cell(&t, "%s", d->name);
			cell(&t, "%s", p->topic);
			cell(&t, "%" PRId32, p->partition);
			offset_cell(&t, p->committed);
			if (p->lag >= 0)
				cell(&t, "%" PRId64, p->lag);
			else
				cell(&t, "n/a");
			cell(&t, "%s", p->member >= 0 ? d->members[p->member].member_id : "-");
			rows++;
		}
		pagebus_group_desc_free(d);
	}
	if (rows) {
		table_print(&t, stdout);
	} else {
		for (size_t i = 0; i < t.n; i++)
			free(t.cells[i]);
		free(t.cells);
		printf("no named consumers\n"); /* nor groups: they share the store */
	}
	pagebus_group_list_free(v);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin.c — topic inspection for tools: TOPIC_LIST and TOPIC_DESCRIBE turned into
 * single caller-owned allocations (structs, arrays and strings together), so one free
 * releases everything and nothing points back into the connection; the partitions'
 * offsets read straight from the control region; GROUP_LIST and GROUP_DESCRIBE alike.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomics.h"
#include "client.h"

/* Copies s into the string area at *p and advances it. */
static const char *put_str(char **p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = memcpy(*p, s, n);
	*p += n;
	return d;
}

int pagebus_topic_list(struct pagebus *pb, struct pagebus_topic_info **out, int *n)
{
	if (out)
		*out = NULL;
	if (n)
		*n = 0;
	if (!pb || !out || !n)
		return -EINVAL;
	uint8_t req[64];
	struct pbp_wbuf w;
	pbp_w_init(&w, req, sizeof(req));
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_topic_list_reply rep = { 0 };
	pthread_mutex_lock(&pb->lock);
	int nfds,
		err = pb_call(pb, req, pbp_enc_topic_list(&w, pb_next_id(pb)), &r, NULL, 0, &nfds);
	if (!err)
		err = pb_status(pb, &st, pbp_parse_topic_list_reply(&r, &st, &rep));
	pthread_mutex_unlock(&pb->lock);
	if (err || !rep.n)
		goto out;
	size_t bytes = rep.n * sizeof(**out);
	for (uint32_t i = 0; i < rep.n; i++)
		bytes += strlen(rep.topics[i].name) + 1;
	struct pagebus_topic_info *v = malloc(bytes);
	if (!v) {
		err = -ENOMEM;
		goto out;
	}
	char *strs = (char *)(v + rep.n);
	for (uint32_t i = 0; i < rep.n; i++)
		v[i] = (struct pagebus_topic_info){ put_str(&strs, rep.topics[i].name),
						    rep.topics[i].topic_id,
						    rep.topics[i].partitions };
	*out = v;
	*n = (int)rep.n;
out:
	pbp_free_topic_list_reply(&rep);
	return err;
}

void pagebus_topic_list_free(struct pagebus_topic_info *topics)
{
	free(topics);
}

int pagebus_topic_describe(struct pagebus *pb, const char *topic, struct pagebus_topic_desc **out)
{
	if (out)
		*out = NULL;
	if (!pb || !topic || !out || strlen(topic) > PBP_NAME_MAX)
		return -EINVAL;
	struct pbp_topic_describe m;
	snprintf(m.name, sizeof(m.name), "%s", topic);
	uint8_t req[512];
	struct pbp_wbuf w;
	pbp_w_init(&w, req, sizeof(req));
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_topic_describe_reply rep = { 0 };
	pthread_mutex_lock(&pb->lock);
	int nfds, err = pb_call(pb, req, pbp_enc_topic_describe(&w, pb_next_id(pb), &m), &r, NULL,
				0, &nfds);
	if (!err)
		err = pb_status(pb, &st, pbp_parse_topic_describe_reply(&r, &st, &rep));
	pthread_mutex_unlock(&pb->lock);
	if (err)
		goto out;
	/* the wire promises one entry per partition; they must be 0..partitions-1 in order */
	for (int32_t i = 0; i < rep.partitions; i++)
		if (rep.parts[i].partition != i) {
			err = -EPROTO;
			goto out;
		}
	size_t nparts = (size_t)rep.partitions, ncfg = rep.nconfigs;
	size_t bytes = sizeof(struct pagebus_topic_desc) +
		       nparts * sizeof(struct pagebus_partition_info) +
		       ncfg * sizeof(struct pagebus_config_entry) + strlen(m.name) + 1;
	for (size_t i = 0; i < ncfg; i++)
		bytes += strlen(rep.configs[i].key) + strlen(rep.configs[i].value) + 2;
	struct pagebus_topic_desc *d = malloc(bytes);
	if (!d) {
		err = -ENOMEM;
		goto out;
	}
	/* layout: desc, parts[] (8-byte fields first), configs[], then the strings */
	struct pagebus_partition_info *parts = (void *)(d + 1);
	struct pagebus_config_entry *cfgs = (void *)(parts + nparts);
	char *strs = (char *)(cfgs + ncfg);
	for (size_t i = 0; i < nparts; i++)
		parts[i] = (struct pagebus_partition_info){ rep.parts[i].partition,
							    rep.parts[i].log_start,
							    rep.parts[i].hwm, rep.parts[i].segments,
							    rep.parts[i].bytes };
	for (size_t i = 0; i < ncfg; i++) {
		cfgs[i].key = put_str(&strs, rep.configs[i].key);
		cfgs[i].value = put_str(&strs, rep.configs[i].value);
	}
	*d = (struct pagebus_topic_desc){ .name = put_str(&strs, m.name),
					  .topic_id = rep.topic_id,
					  .partitions = rep.partitions,
					  .parts = nparts ? parts : NULL,
					  .nconfigs = (int)ncfg,
					  .configs = ncfg ? cfgs : NULL };
	*out = d;
out:
	pbp_free_topic_describe_reply(&rep);
	return err;
}

void pagebus_topic_desc_free(struct pagebus_topic_desc *desc)
{
	free(desc);
}

int pagebus_partition_states(struct pagebus *pb, struct pagebus_partition_state *out, int max)
{
	if (!pb || max < 0 || (max && !out))
		return -EINVAL;
	int n = 0;
	pthread_mutex_lock(&pb->lock);
	for (uint32_t i = 0; pb->control && i < pb->nslots; i++) {
		const struct pb_part_slot *s = pb_control_slot(pb->control, i);
		/* the broker writes a slot's identity before it stores LIVE (release) */
		if (load_acquire(&s->state) != PB_SLOT_LIVE)
			continue;
		uint32_t epoch = load_relaxed(&s->epoch);
		struct pagebus_partition_state st = { load_relaxed(&s->topic_id), load_relaxed(&s->partition),
						      load_acquire(&s->log_start), load_acquire(&s->hwm) };
		/* a slot freed and reused meanwhile has a new epoch: order the reads above
		 * before the second look */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (load_relaxed(&s->state) != PB_SLOT_LIVE || load_relaxed(&s->epoch) != epoch)
			continue;
		if (n < max)
			out[n] = st;
		n++;
	}
	pthread_mutex_unlock(&pb->lock);
	return n;
}

/* ---- consumer groups ---------------------------------------------------------------- */

int pagebus_group_list(struct pagebus *pb, struct pagebus_group_info **out, int *n)
{
	if (out)
		*out = NULL;
	if (n)
		*n = 0;
	if (!pb || !out || !n)
		return -EINVAL;
	uint8_t req[64];
	struct pbp_wbuf w;
	pbp_w_init(&w, req, sizeof(req));
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_group_list_reply rep = { 0 };
	pthread_mutex_lock(&pb->lock);
	int nfds, err = pb_call(pb, req, pbp_enc_group_list(&w, pb_next_id(pb)), &r, NULL, 0, &nfds);
	if (!err)
		err = pb_status(pb, &st, pbp_parse_group_list_reply(&r, &st, &rep));
	pthread_mutex_unlock(&pb->lock);
	if (err || !rep.n)
		goto out;
	size_t bytes = rep.n * sizeof(**out);
	for (uint32_t i = 0; i < rep.n; i++)
		bytes += strlen(rep.groups[i].name) + strlen(rep.groups[i].state) + strlen(rep.groups[i].protocol_type) +
			 strlen(rep.groups[i].protocol) + 4;
	struct pagebus_group_info *v = malloc(bytes);
	if (!v) {
		err = -ENOMEM;
		goto out;
	}
	char *strs = (char *)(v + rep.n);
	for (uint32_t i = 0; i < rep.n; i++) {
		const struct pbp_group_info *gi = &rep.groups[i];
		v[i].name = put_str(&strs, gi->name);
		v[i].state = put_str(&strs, gi->state);
		v[i].protocol_type = put_str(&strs, gi->protocol_type);
		v[i].protocol = put_str(&strs, gi->protocol);
		v[i].generation = gi->generation;
		v[i].members = (int)gi->members;
	}
	*out = v;
	*n = (int)rep.n;
out:
	pbp_free_group_list_reply(&rep);
	return err;
}

void pagebus_group_list_free(struct pagebus_group_info *groups)
{
	free(groups);
}

int pagebus_group_describe(struct pagebus *pb, const char *group, struct pagebus_group_desc **out)
{
	if (out)
		*out = NULL;
	if (!pb || !group || !out || strlen(group) > PBP_NAME_MAX)
		return -EINVAL;
	struct pbp_group_describe m;
	snprintf(m.group, sizeof(m.group), "%s", group);
	uint8_t req[512];
	struct pbp_wbuf w;
	pbp_w_init(&w, req, sizeof(req));
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_group_describe_reply rep = { 0 };
	pthread_mutex_lock(&pb->lock);
	int nfds, err = pb_call(pb, req, pbp_enc_group_describe(&w, pb_next_id(pb), &m), &r, NULL, 0, &nfds);
	if (!err)
		err = pb_status(pb, &st, pbp_parse_group_describe_reply(&r, &st, &rep));
	pthread_mutex_unlock(&pb->lock);
	if (err)
		goto out;
	size_t bytes = sizeof(**out) + rep.nmembers * sizeof(struct pagebus_group_member_desc) +
		       rep.nparts * sizeof(struct pagebus_group_partition_desc) + strlen(group) + strlen(rep.state) +
		       strlen(rep.protocol_type) + strlen(rep.protocol) + strlen(rep.leader) + 5;
	for (uint32_t i = 0; i < rep.nmembers; i++)
		bytes += strlen(rep.members[i].member_id) + strlen(rep.members[i].client_id) +
			 strlen(rep.members[i].host) + 3;
	for (uint32_t i = 0; i < rep.nparts; i++)
		bytes += strlen(rep.parts[i].topic) + 1;
	struct pagebus_group_desc *d = malloc(bytes);
	if (!d) {
		err = -ENOMEM;
		goto out;
	}
	struct pagebus_group_member_desc *mv = (struct pagebus_group_member_desc *)(d + 1);
	struct pagebus_group_partition_desc *pv = (struct pagebus_group_partition_desc *)(mv + rep.nmembers);
	char *strs = (char *)(pv + rep.nparts);
	d->name = put_str(&strs, group);
	d->state = put_str(&strs, rep.state);
	d->protocol_type = put_str(&strs, rep.protocol_type);
	d->protocol = put_str(&strs, rep.protocol);
	d->leader = put_str(&strs, rep.leader);
	d->generation = rep.generation;
	d->nmembers = (int)rep.nmembers;
	d->members = mv;
	d->npartitions = (int)rep.nparts;
	d->partitions = pv;
	for (uint32_t i = 0; i < rep.nmembers; i++) {
		const struct pbp_group_member_info *mi = &rep.members[i];
		mv[i].member_id = put_str(&strs, mi->member_id);
		mv[i].client_id = put_str(&strs, mi->client_id);
		mv[i].host = put_str(&strs, mi->host);
		mv[i].kafka = mi->kafka != 0;
	}
	for (uint32_t i = 0; i < rep.nparts; i++) {
		const struct pbp_group_partition *p = &rep.parts[i];
		bool owned = p->member >= 0 && (uint32_t)p->member < rep.nmembers;
		pv[i] = (struct pagebus_group_partition_desc){
			put_str(&strs, p->topic), p->partition,	  owned ? p->member : -1, p->committed,
			p->log_start,		  p->hwm,
			p->committed >= 0 && p->hwm >= 0 ? (p->hwm > p->committed ? p->hwm - p->committed : 0) : -1,
		};
	}
	*out = d;
out:
	pbp_free_group_describe_reply(&rep);
	return err;
}

void pagebus_group_desc_free(struct pagebus_group_desc *desc)
{
	free(desc);
}

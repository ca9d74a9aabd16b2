/* SPDX-License-Identifier: Apache-2.0 */
/*
 * offsets.c — the named-offset store: an in-memory table and its file,
 * `DIR/consumer-offsets`, one line per entry: `<name> <topic> <partition> <offset>`.
 */
#include "offsets.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "topics.h"

#define OFFSETS_FILE "consumer-offsets"

static void entry_free(struct offset_entry *e)
{
	free(e->name);
	free(e->topic);
}

static int add(struct offsets *o, const char *name, const char *topic, int32_t partition, int64_t offset)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct offset_entry *v = realloc(o->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		o->v = v;
		o->cap = cap;
	}
	struct offset_entry *e = &o->v[o->n];
	e->name = strdup(name);
	e->topic = strdup(topic);
	if (!e->name || !e->topic) {
		entry_free(e);
		return -ENOMEM;
	}
	e->partition = partition;
	e->offset = offset;
	o->n++;
	return 0;
}

int offsets_open(struct offsets *o, const char *dir)
{
	memset(o, 0, sizeof(*o));
	if (asprintf(&o->path, "%s/" OFFSETS_FILE, dir) < 0 || !(o->dir = strdup(dir))) {
		offsets_close(o);
		return -ENOMEM;
	}
	FILE *f = fopen(o->path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	char line[1024], name[256], topic[256];
	int32_t part;
	int64_t off;
	int err = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %255s %" SCNd32 " %" SCNd64, name, topic, &part, &off) != 4 ||
		    !topics_name_valid(name) || !topics_name_valid(topic) || part < 0 || off < 0) {
			err = -EINVAL;
			break;
		}
		if ((err = add(o, name, topic, part, off)) < 0)
			break;
	}
	fclose(f);
	if (err)
		offsets_close(o);
	return err;
}

void offsets_close(struct offsets *o)
{
	for (size_t i = 0; i < o->n; i++)
		entry_free(&o->v[i]);
	free(o->v);
	free(o->path);
	free(o->dir);
	memset(o, 0, sizeof(*o));
}

/* The whole table, rewritten atomically and durably before a commit is acknowledged. */
static int persist(const struct offsets *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < o->n; i++)
		fprintf(m, "%s %s %" PRId32 " %" PRId64 "\n", o->v[i].name, o->v[i].topic, o->v[i].partition,
			o->v[i].offset);
	if (fclose(m)) {
		free(buf);
		return -ENOMEM;
	}
	const char *step;
	int err = write_file_atomic(o->dir, OFFSETS_FILE, buf, len, &step);
	free(buf);
	return err;
}

static struct offset_entry *find(const struct offsets *o, const char *name, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->v[i].partition == partition && !strcmp(o->v[i].name, name) && !strcmp(o->v[i].topic, topic))
			return &o->v[i];
	return NULL;
}

int offsets_commit(struct offsets *o, const char *name, const char *topic, int32_t partition, int64_t offset)
{
	if (!topics_name_valid(name) || !topics_name_valid(topic) || partition < 0 || offset < 0)
		return -EINVAL;
	struct offset_entry *e = find(o, name, topic, partition);
	int64_t old = -1;
	int err;
	if (e) {
		old = e->offset;
		e->offset = offset;
	} else if ((err = add(o, name, topic, partition, offset)) < 0) {
		return err;
	}
	err = persist(o);
	if (err) { /* not acknowledged: not kept */
		if (e)
			e->offset = old;
		else
			entry_free(&o->v[--o->n]);
	}
	return err;
}

int offsets_fetch(const struct offsets *o, const char *name, const char *topic, int32_t partition, int64_t *offset)
{
	const struct offset_entry *e = find(o, name, topic, partition);
	if (!e)
		return -ENOENT;
	*offset = e->offset;
	return 0;
}

int offsets_drop_topic(struct offsets *o, const char *topic)
{
	size_t j = 0;
	for (size_t i = 0; i < o->n; i++) {
		if (!strcmp(o->v[i].topic, topic))
			entry_free(&o->v[i]);
		else
			o->v[j++] = o->v[i];
	}
	if (j == o->n)
		return 0;
	o->n = j;
	return persist(o);
}

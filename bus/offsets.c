/* SPDX-License-Identifier: Apache-2.0 */
/*
 * offsets.c — the committed-offset store of named consumers and consumer groups: an
 * in-memory table and its file, `DIR/consumer-offsets`, one line per entry:
 * `<name> <topic> <partition> <offset> [<metadata>]`, name and metadata percent-encoded.
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
	free(e->metadata);
}

bool offsets_name_valid(const char *name)
{
	size_t n = strnlen(name, OFFSETS_NAME_MAX + 1);
	if (n == 0 || n > OFFSETS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	return true;
}

/* ---- the file's encoding ---------------------------------------------------------------- */

static bool plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '_' || c == '-';
}

static void put_encoded(FILE *m, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (plain(c))
			putc(c, m);
		else
			fprintf(m, "%%%02X", c);
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes a percent-encoded field in place; -1 when malformed or when it holds a NUL. */
static int decode(char *s)
{
	char *o = s;
	for (const char *p = s; *p; p++) {
		if (*p != '%') {
			*o++ = *p;
			continue;
		}
		int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
		if (lo < 0 || (hi == 0 && lo == 0))
			return -1;
		*o++ = (char)(hi << 4 | lo);
		p += 2;
	}
	*o = '\0';
	return 0;
}

/* ---- the table ---------------------------------------------------------------------------- */

static int add(struct offsets *o, const char *name, const char *topic, int32_t partition, int64_t offset,
	       const char *meta, size_t meta_len)
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
	*e = (struct offset_entry){ strdup(name), strdup(topic), partition, offset, NULL };
	if (meta && meta_len)
		e->metadata = strndup(meta, meta_len);
	if (!e->name || !e->topic || (meta && meta_len && !e->metadata)) {
		entry_free(e);
		return -ENOMEM;
	}
	o->n++;
	return 0;
}

/* One line of the file, decoded into the table. */
static int load_line(struct offsets *o, char *line)
{
	char *save, *f[6];
	int n = 0;
	for (char *t = strtok_r(line, " \t\r\n", &save); t && n < 6; t = strtok_r(NULL, " \t\r\n", &save))
		f[n++] = t;
	if (n == 0)
		return 0;
	if (n < 4 || n > 5 || decode(f[0]) < 0 || (n == 5 && decode(f[4]) < 0))
		return -EINVAL;
	char *end;
	errno = 0;
	long long part = strtoll(f[2], &end, 10);
	if (*end || errno || part < 0 || part > INT32_MAX)
		return -EINVAL;
	long long off = strtoll(f[3], &end, 10);
	if (*end || errno || off < 0)
		return -EINVAL;
	const char *meta = n == 5 ? f[4] : NULL;
	size_t meta_len = meta ? strlen(meta) : 0;
	if (!offsets_name_valid(f[0]) || !topics_name_valid(f[1]) || meta_len > OFFSETS_METADATA_MAX)
		return -EINVAL;
	return add(o, f[0], f[1], (int32_t)part, off, meta, meta_len);
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
	char *line = NULL;
	size_t cap = 0;
	int err = 0;
	while (!err && getline(&line, &cap, f) >= 0)
		err = load_line(o, line);
	free(line);
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

/* The whole table (entries with an offset >= 0), rewritten atomically and durably before
 * a commit is acknowledged. */
static int persist(const struct offsets *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < o->n; i++) {
		const struct offset_entry *e = &o->v[i];
		if (e->offset < 0)
			continue;
		put_encoded(m, e->name, strlen(e->name));
		fprintf(m, " %s %" PRId32 " %" PRId64, e->topic, e->partition, e->offset);
		if (e->metadata) {
			putc(' ', m);
			put_encoded(m, e->metadata, strlen(e->metadata));
		}
		putc('\n', m);
	}
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

/* What an update replaced, to put it back when the write fails. */
struct undo {
	size_t index;
	int64_t offset;
	char *metadata;
};

int offsets_commit_batch(struct offsets *o, const char *name, const struct offset_update *u, size_t n)
{
	if (!offsets_name_valid(name))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!topics_name_valid(u[i].topic) || u[i].partition < 0 || u[i].metadata_len > OFFSETS_METADATA_MAX ||
		    (u[i].metadata && memchr(u[i].metadata, 0, u[i].metadata_len)))
			return -EINVAL;
	struct undo *undo = calloc(n ? n : 1, sizeof(*undo));
	if (!undo)
		return -ENOMEM;
	size_t old_n = o->n, nundo = 0;
	int err = 0;
	for (size_t i = 0; i < n && !err; i++) {
		const struct offset_update *x = &u[i];
		bool meta = x->metadata && x->metadata_len;
		struct offset_entry *e = find(o, name, x->topic, x->partition);
		if (!e) {
			if (x->offset >= 0)
				err = add(o, name, x->topic, x->partition, x->offset, x->metadata, x->metadata_len);
			continue;
		}
		char *md = meta ? strndup(x->metadata, x->metadata_len) : NULL;
		if (meta && !md) {
			err = -ENOMEM;
			break;
		}
		undo[nundo++] = (struct undo){ (size_t)(e - o->v), e->offset, e->metadata };
		e->offset = x->offset < 0 ? -1 : x->offset; /* -1: dropped once written */
		e->metadata = md;
	}
	if (!err)
		err = persist(o);
	if (err) { /* not acknowledged: not kept */
		while (nundo--) {
			struct offset_entry *e = &o->v[undo[nundo].index];
			free(e->metadata);
			e->offset = undo[nundo].offset;
			e->metadata = undo[nundo].metadata;
		}
		while (o->n > old_n)
			entry_free(&o->v[--o->n]);
	} else {
		for (size_t i = 0; i < nundo; i++)
			free(undo[i].metadata);
		size_t j = 0;
		for (size_t i = 0; i < o->n; i++) {
			if (o->v[i].offset < 0)
				entry_free(&o->v[i]);
			else
				o->v[j++] = o->v[i];
		}
		o->n = j;
	}
	free(undo);
	return err;
}

int offsets_commit(struct offsets *o, const char *name, const char *topic, int32_t partition, int64_t offset)
{
	if (offset < 0)
		return -EINVAL;
	struct offset_update u = { topic, partition, offset, NULL, 0 };
	return offsets_commit_batch(o, name, &u, 1);
}

int offsets_fetch_meta(const struct offsets *o, const char *name, const char *topic, int32_t partition,
		       int64_t *offset, const char **metadata)
{
	const struct offset_entry *e = find(o, name, topic, partition);
	if (!e)
		return -ENOENT;
	*offset = e->offset;
	if (metadata)
		*metadata = e->metadata;
	return 0;
}

int offsets_fetch(const struct offsets *o, const char *name, const char *topic, int32_t partition, int64_t *offset)
{
	return offsets_fetch_meta(o, name, topic, partition, offset, NULL);
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

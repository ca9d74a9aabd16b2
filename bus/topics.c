/* SPDX-License-Identifier: Apache-2.0 */
/*
 * topics.c — the topic registry: DIR/topics.meta (read, and rewritten whole with
 * tmp + fsync + rename + directory fsync on every change) and the partition logs of
 * every topic. The registry file is what decides whether a topic exists.
 */
#include "topics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "pagebus.h"

#define META "topics.meta"
#define META_TMP "topics.meta.tmp"
#define META_VERSION 1
#define DELETED ".deleted"

static int check_name(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name);
	if (!len)
		return config_errf(err, errlen, -EINVAL, "topic name is empty");
	if (len > TOPIC_NAME_MAX)
		return config_errf(err, errlen, -EINVAL,
				   "topic name is %zu characters long (at most %d)", len,
				   TOPIC_NAME_MAX);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return config_errf(err, errlen, -EINVAL, "topic name cannot be '.' or '..'");
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')
			continue;
		return config_errf(err, errlen, -EINVAL,
				   "topic name has an invalid character (byte 0x%02x) at position "
				   "%zu: only a-z A-Z 0-9 . _ - are allowed",
				   ch, i + 1);
	}
	return 0;
}

int topics_name_valid(const char *name)
{
	return check_name(name, NULL, 0) == 0;
}

struct topic *topics_find(const struct topics *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i]->name, name))
			return t->v[i];
	return NULL;
}

struct topic *topics_by_id(const struct topics *t, uint32_t id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->id == id)
			return t->v[i];
	return NULL;
}

static char *part_dir(const struct topics *t, const struct topic *tp, int32_t p)
{
	char *path;
	return asprintf(&path, "%s/%s-%" PRId32, t->dir, tp->name, p) < 0 ? NULL : path;
}

/*
 * Where partition p goes while it is removed: `<name>-<p>.deleted`, the name cut short
 * when that would pass NAME_MAX (a 249-character name). Any `*.deleted` is garbage, so
 * two cut names meeting is harmless.
 */
static char *deleted_path(const struct topics *t, const struct topic *tp, int32_t p)
{
	char tail[32], *path;
	int n = snprintf(tail, sizeof(tail), "-%" PRId32 DELETED, p);
	int keep = (int)strlen(tp->name);
	if (keep > NAME_MAX - n)
		keep = NAME_MAX - n;
	return asprintf(&path, "%s/%.*s%s", t->dir, keep, tp->name, tail) < 0 ? NULL : path;
}

static char *meta_path(const struct topics *t, const char *file)
{
	char *path;
	return asprintf(&path, "%s/%s", t->dir, file) < 0 ? NULL : path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -r; a missing path is fine. */
static int rmrf(const char *path)
{
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static void close_parts(struct topic *tp)
{
	for (int32_t p = 0; tp->parts && p < tp->nparts; p++) {
		part_close(tp->parts[p]);
		tp->parts[p] = NULL;
	}
}

static void topic_free(struct topic *tp)
{
	if (!tp)
		return;
	close_parts(tp);
	free(tp->parts);
	for (int i = 0; i < tp->noverrides; i++) {
		free(tp->overrides[i].key);
		free(tp->overrides[i].value);
	}
	free(tp->overrides);
	free(tp->name);
	free(tp);
}

/* Validates key=value onto tp->cfg (through the config table) and records it. */
static int add_override(struct topic *tp, const char *key, const char *value, char *err,
			size_t errlen)
{
	for (int i = 0; i < tp->noverrides; i++)
		if (!strcmp(tp->overrides[i].key, key))
			return config_errf(err, errlen, -EINVAL, "%s: given twice", key);
	int r = config_topic_override(&tp->cfg, key, value, err, errlen);
	if (r)
		return r;
	struct topic_override *o =
		realloc(tp->overrides, (size_t)(tp->noverrides + 1) * sizeof(*o));
	if (!o)
		return config_errf(err, errlen, -ENOMEM, "out of memory");
	tp->overrides = o;
	o += tp->noverrides;
	o->key = strdup(key);
	o->value = strdup(value);
	tp->noverrides++;
	if (!o->key || !o->value)
		return config_errf(err, errlen, -ENOMEM, "out of memory");
	return 0;
}

/* A topic with no name, partitions or id yet; its cfg = the broker's defaults. */
static struct topic *topic_new(const struct topics *t)
{
	struct topic *tp = calloc(1, sizeof(*tp));
	if (tp)
		tp->cfg = t->cfg->log;
	return tp;
}

static int push_topic(struct topics *t, struct topic *tp)
{
	struct topic **v = realloc(t->v, (t->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->v = v;
	t->v[t->n++] = tp;
	return 0;
}

static void remove_topic(struct topics *t, struct topic *tp)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i] == tp) {
			memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
			t->n--;
			return;
		}
	}
}

static int open_parts(const struct topics *t, struct topic *tp, char *err, size_t errlen)
{
	if (!(tp->parts = calloc((size_t)tp->nparts, sizeof(*tp->parts))))
		return config_errf(err, errlen, -ENOMEM, "out of memory");
	for (int32_t p = 0; p < tp->nparts; p++) {
		char *dir = part_dir(t, tp, p);
		int r = dir ? part_open(dir, &tp->cfg, &tp->parts[p]) : -ENOMEM;
		if (r) {
			config_errf(err, errlen, r, "topic '%s' partition %" PRId32 " (%s): %s",
				    tp->name, p, dir ? dir : "?", pagebus_strerror(r));
			free(dir);
			close_parts(tp);
			return r;
		}
		free(dir);
	}
	return 0;
}

/* The registry text, without `skip` (NULL: every topic). malloc'd, or NULL. */
static char *format_registry(const struct topics *t, const struct topic *skip, size_t *len)
{
	char *buf = NULL;
	FILE *m = open_memstream(&buf, len);
	if (!m)
		return NULL;
	fprintf(m,
		"# pagebus topic registry, see docs/operations.md; rewritten whole on every "
		"change\nregistry version=%d next_id=%" PRIu32 "\n",
		META_VERSION, t->next_id);
	for (size_t i = 0; i < t->n; i++) {
		const struct topic *tp = t->v[i];
		if (tp == skip)
			continue;
		fprintf(m, "topic id=%" PRIu32 " name=%s partitions=%" PRId32, tp->id, tp->name,
			tp->nparts);
		for (int o = 0; o < tp->noverrides; o++)
			fprintf(m, " %s=%s", tp->overrides[o].key, tp->overrides[o].value);
		fputc('\n', m);
	}
	if (fclose(m)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Atomically replaces DIR/topics.meta (write the tmp file, fsync, rename, fsync DIR). */
static int save(const struct topics *t, const struct topic *skip, char *err, size_t errlen)
{
	size_t len;
	char *buf = format_registry(t, skip, &len);
	const char *step = "format the registry";
	int r = buf ? write_file_atomic(t->dir, META, buf, len, &step) : -ENOMEM;
	if (r)
		config_errf(err, errlen, r, "%s/%s: cannot %s: %s", t->dir, META, step, strerror(-r));
	free(buf);
	return r;
}

/* The `registry version=1 next_id=N` line (tokens after the first). */
static int parse_header(struct topics *t, char **save, char *msg, size_t msglen)
{
	int64_t version = -1, next = -1, v;
	char *tok;
	while ((tok = strtok_r(NULL, " \t\r\n", save))) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq++ = '\0';
		if (!eq || config_parse_i64(eq, &v))
			return config_errf(msg, msglen, -EINVAL, "'%.64s' is not key=number", tok);
		if (!strcmp(tok, "version"))
			version = v;
		else if (!strcmp(tok, "next_id"))
			next = v;
		else
			return config_errf(msg, msglen, -EINVAL, "unknown field '%.64s'", tok);
	}
	if (version != META_VERSION)
		return config_errf(msg, msglen, -EINVAL,
				   "registry version %" PRId64
				   " is not supported (this broker reads version %d)",
				   version, META_VERSION);
	if (next < 1 || next > UINT32_MAX)
		return config_errf(msg, msglen, -EINVAL, "next_id missing or out of range");
	t->next_id = (uint32_t)next;
	return 0;
}

/* A `topic id=.. name=.. partitions=.. [override=value ...]` line; adds the topic to t. */
static int parse_topic(struct topics *t, char **save, char *msg, size_t msglen)
{
	int64_t id = -1, nparts = -1;
	char *name = NULL, *tok;
	struct topic *tp = topic_new(t);
	int r;
	if (!tp)
		return config_errf(msg, msglen, -ENOMEM, "out of memory");
	while ((tok = strtok_r(NULL, " \t\r\n", save))) {
		char *value = strchr(tok, '=');
		if (!value) {
			r = config_errf(msg, msglen, -EINVAL, "'%.64s' is not key=value", tok);
			goto malformed;
		}
		*value++ = '\0';
		r = 0;
		if (!strcmp(tok, "id") || !strcmp(tok, "partitions")) {
			int64_t *dst = tok[0] == 'i' ? &id : &nparts,
				max = tok[0] == 'i' ? UINT32_MAX : CONFIG_PARTITIONS_MAX;
			if (*dst != -1 || config_parse_i64(value, dst) || *dst < 1 || *dst > max)
				r = config_errf(msg, msglen, -EINVAL,
						"%s: '%.64s' is repeated or not in 1..%" PRId64,
						tok, value, max);
		} else if (!strcmp(tok, "name")) {
			r = name ? config_errf(msg, msglen, -EINVAL, "name: repeated")
				 : check_name(value, msg, msglen);
			name = value;
		} else {
			r = add_override(tp, tok, value, msg, msglen);
		}
		if (r)
			goto malformed;
	}
	if (id < 0 || nparts < 0 || !name) {
		r = config_errf(msg, msglen, -EINVAL, "a topic needs id=, name= and partitions=");
		goto malformed;
	}
	if (topics_find(t, name) || topics_by_id(t, (uint32_t)id)) {
		r = config_errf(msg, msglen, -EINVAL, "topic '%s' or id %" PRId64 " listed twice",
				name, id);
		goto malformed;
	}
	tp->id = (uint32_t)id;
	tp->nparts = (int32_t)nparts;
	if (!(tp->name = strdup(name)) || push_topic(t, tp)) {
		r = config_errf(msg, msglen, -ENOMEM, "out of memory");
		goto malformed;
	}
	/* an id at or past next_id (a hand edit) must still never be handed out again */
	if (tp->id >= t->next_id)
		t->next_id = tp->id == UINT32_MAX ? UINT32_MAX : tp->id + 1;
	return 0;
malformed:
	topic_free(tp);
	return r;
}

/* Reads DIR/topics.meta into t (no partitions opened). One malformed exit, naming the line. */
static int load(struct topics *t, char *err, size_t errlen)
{
	char *path = meta_path(t, META), *line = NULL, msg[256];
	size_t cap = 0;
	int r = 0, lineno = 0;
	bool header = false;
	FILE *f = path ? fopen(path, "re") : NULL;
	if (!f) {
		r = !path ? -ENOMEM : errno == ENOENT ? 0 : -errno;
		if (r)
			config_errf(err, errlen, r, "%s: %s", path ? path : META, strerror(-r));
		free(path);
		return r;
	}
	while (getline(&line, &cap, f) >= 0) {
		char *save, *kind = strtok_r(line, " \t\r\n", &save);
		lineno++;
		if (!kind || kind[0] == '#')
			continue;
		if (!strcmp(kind, "registry") && !header)
			r = parse_header(t, &save, msg, sizeof(msg));
		else if (!strcmp(kind, "topic") && header)
			r = parse_topic(t, &save, msg, sizeof(msg));
		else if (header)
			r = config_errf(msg, sizeof(msg), -EINVAL, "unexpected line '%.64s'", kind);
		else
			r = config_errf(msg, sizeof(msg), -EINVAL,
					"'%.64s' before the 'registry version=%d' line", kind,
					META_VERSION);
		if (r)
			goto malformed;
		header = true;
	}
	if (ferror(f))
		r = config_errf(err, errlen, -EIO, "%s: read error", path);
	else if (!header)
		r = config_errf(err, errlen, -EINVAL,
				"%s: no 'registry version=%d' line (empty or "
				"truncated file)",
				path, META_VERSION);
	goto out;
malformed:
	config_errf(err, errlen, r, "%s:%d: %s", path, lineno, msg);
out:
	free(line);
	fclose(f);
	free(path);
	return r;
}

/* Removes `*.deleted` directories (an interrupted delete) and a stale topics.meta.tmp. */
static int remove_leftovers(const struct topics *t, char *err, size_t errlen)
{
	DIR *d = opendir(t->dir);
	struct dirent *e;
	int r = 0;
	if (!d)
		return config_errf(err, errlen, -errno, "%s: %s", t->dir, strerror(errno));
	while (!r && (e = readdir(d))) {
		size_t n = strlen(e->d_name), k = strlen(DELETED);
		bool deleted = n > k && !strcmp(e->d_name + n - k, DELETED);
		if (!deleted && strcmp(e->d_name, META_TMP))
			continue;
		char *path = meta_path(t, e->d_name);
		r = path ? rmrf(path) : -ENOMEM;
		if (r)
			config_errf(err, errlen, r, "cannot remove leftover %s: %s",
				    path ? path : e->d_name, strerror(-r));
		free(path);
	}
	closedir(d);
	return r;
}

int topics_open(struct topics *t, const struct broker_config *cfg, char *err, size_t errlen)
{
	int r;
	memset(t, 0, sizeof(*t));
	t->cfg = cfg;
	t->next_id = 1;
	if (!cfg->dir)
		return config_errf(err, errlen, -EINVAL, "no data directory configured");
	if (!(t->dir = strdup(cfg->dir)))
		return config_errf(err, errlen, -ENOMEM, "out of memory");
	if (mkdir(t->dir, 0755) < 0 && errno != EEXIST) {
		r = config_errf(err, errlen, -errno, "%s: %s", t->dir, strerror(errno));
		goto err;
	}
	if ((r = remove_leftovers(t, err, errlen)) || (r = load(t, err, errlen)))
		goto err;
	for (size_t i = 0; i < t->n; i++)
		if ((r = open_parts(t, t->v[i], err, errlen)))
			goto err;
	return 0;
err:
	topics_close(t);
	return r;
}

void topics_close(struct topics *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		topic_free(t->v[i]);
	free(t->v);
	free(t->dir);
	memset(t, 0, sizeof(*t));
}

/* A `<name>-<p>` directory that no registered topic owns: refuse rather than adopt it. */
static int check_no_stray_dirs(const struct topics *t, const struct topic *tp, char *err,
			       size_t errlen)
{
	struct stat st;
	for (int32_t p = 0; p < tp->nparts; p++) {
		char *dir = part_dir(t, tp, p);
		if (!dir)
			return config_errf(err, errlen, -ENOMEM, "out of memory");
		int r = lstat(dir, &st) == 0 ? -EEXIST : errno == ENOENT ? 0 : -errno;
		if (r)
			config_errf(err, errlen, r,
				    r == -EEXIST
					    ? "%s exists but topic '%s' is not registered (left "
					      "by an interrupted delete?): move it away first"
					    : "%s: cannot check for topic '%s'",
				    dir, tp->name);
		free(dir);
		if (r)
			return r;
	}
	return 0;
}

int topics_create(struct topics *t, const char *name, int32_t partitions, const char *const *keys,
		  const char *const *values, int n, struct topic **out, char *err, size_t errlen)
{
	struct topic *tp;
	uint64_t total = (uint64_t)(partitions > 0 ? partitions : 0);
	int r;

	*out = NULL;
	if ((r = check_name(name, err, errlen)))
		return r;
	if (topics_find(t, name))
		return config_errf(err, errlen, -EEXIST, "topic '%s' already exists", name);
	if (partitions < 1 || partitions > CONFIG_PARTITIONS_MAX)
		return config_errf(err, errlen, -EINVAL,
				   "topic '%s': partitions must be 1..%d, not %" PRId32, name,
				   CONFIG_PARTITIONS_MAX, partitions);
	for (size_t i = 0; i < t->n; i++)
		total += (uint64_t)t->v[i]->nparts;
	if (total > t->cfg->max_partitions)
		return config_errf(err, errlen, -ENOSPC,
				   "topic '%s': %" PRId32 " more partitions would make %" PRIu64
				   ", above max.partitions=%" PRIu32,
				   name, partitions, total, t->cfg->max_partitions);
	if (t->next_id == UINT32_MAX)
		return config_errf(err, errlen, -ENOSPC, "out of topic ids");
	if (!(tp = topic_new(t)) || !(tp->name = strdup(name))) {
		free(tp);
		return config_errf(err, errlen, -ENOMEM, "out of memory");
	}
	tp->nparts = partitions;
	for (int i = 0; i < n && !r; i++)
		r = add_override(tp, keys[i], values[i], err, errlen);
	if (r || (r = check_no_stray_dirs(t, tp, err, errlen)))
		goto err_free;
	if ((r = push_topic(t, tp))) {
		config_errf(err, errlen, r, "out of memory");
		goto err_free;
	}
	/* spent even if the save fails: an id is never handed out twice */
	tp->id = t->next_id++;
	if ((r = save(t, NULL, err, errlen)))
		goto err_remove;
	if ((r = open_parts(t, tp, err, errlen)))
		goto err_unregister;
	*out = tp;
	return 0;

err_unregister:
	/* best effort: the registry still names the topic if this save fails too, and the
	 * next topics_open creates its partitions */
	save(t, tp, NULL, 0);
	for (int32_t p = 0; p < tp->nparts; p++) {
		char *dir = part_dir(t, tp, p);
		if (dir)
			rmrf(dir);
		free(dir);
	}
err_remove:
	remove_topic(t, tp);
err_free:
	topic_free(tp);
	return r;
}

int topics_delete(struct topics *t, const char *name, char *err, size_t errlen)
{
	struct topic *tp = topics_find(t, name);
	int r;
	if (!tp)
		return config_errf(err, errlen, -ENOENT, "unknown topic '%.64s'", name);
	if ((r = save(t, tp, err, errlen)))
		return r;
	remove_topic(t, tp);
	close_parts(tp);
	for (int32_t p = 0; p < tp->nparts; p++) {
		char *dir = part_dir(t, tp, p), *gone = NULL;
		if (dir && (gone = deleted_path(t, tp, p))) {
			rmrf(gone); /* a leftover of an earlier failed removal */
			if (rename(dir, gone) == 0)
				rmrf(gone);
		}
		free(gone);
		free(dir);
	}
	topic_free(tp);
	return 0;
}

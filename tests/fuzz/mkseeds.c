/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkseeds.c — writes the seed inputs of every fuzz target into tests/fuzz/corpus/<target>/
 * (`make fuzz-seeds`): a few valid inputs each, made with the project's own encoders, so
 * the fuzzers start from the shapes the code really sees. Crashes found later sit next to
 * them and are never overwritten.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byteorder.h"
#include "kafka_codec.h"
#include "kafka_request.h"
#include "logging.h"
#include "partition.h"
#include "protocol.h"
#include "record_batch.h"
#include "ring_types.h"
#include "testutil.h"

static const char *root = "tests/fuzz/corpus";

static void put(const char *target, const char *name, const void *buf, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", root, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/seed-%s", root, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* ---- RecordBatch ------------------------------------------------------------------------- */

static size_t batch(uint8_t *buf, size_t cap, int records, int with_headers)
{
	struct rb_builder b;
	struct rb_kv hdr[2] = { { "h1", 2, "v", 1 }, { "h2", 2, NULL, -1 } };
	rb_builder_init(&b, buf, cap);
	for (int i = 0; i < records; i++) {
		char key[16], val[64];
		int kl = snprintf(key, sizeof(key), "k%d", i), vl = snprintf(val, sizeof(val), "value %d", i);
		rb_builder_add(&b, 1764000000000 + i, i % 3 == 2 ? NULL : key, i % 3 == 2 ? -1 : kl,
			       i % 4 == 3 ? NULL : val, i % 4 == 3 ? -1 : vl, with_headers ? hdr : NULL,
			       with_headers ? 2 : 0);
	}
	return (size_t)rb_builder_finish(&b);
}

static void record_batch_seeds(void)
{
	uint8_t buf[4096];
	size_t n = batch(buf, sizeof(buf), 1, 0);
	put("record_batch", "one-record", buf, n);
	n = batch(buf, sizeof(buf), 7, 1);
	put("record_batch", "headers-nulls", buf, n);
	n = batch(buf, sizeof(buf), 3, 0);
	be16_put(buf + RB_OFF_ATTRIBUTES, RB_CODEC_GZIP); /* a "compressed" one: opaque records */
	be32_put(buf + RB_OFF_CRC, rb_compute_crc(buf, n));
	put("record_batch", "codec-gzip", buf, n);
}

/* ---- producer ring --------------------------------------------------------------------------- */

/* params: u16 capacity index, u64 drained, u32 published, u8 topic (fuzz_ring_entry.c) */
static size_t ring_params(uint8_t *p, uint32_t cap, uint64_t drain, uint32_t span, uint8_t topic)
{
	be16_put(p, (uint16_t)((cap - 8) / 8));
	be64_put(p + 2, drain);
	be32_put(p + 10, span);
	p[14] = topic;
	return 15;
}

static size_t ring_entry(uint8_t *at, uint32_t topic, int32_t partition, const uint8_t *b, uint32_t blen)
{
	struct pb_ring_entry e = { .len = pb_entry_size(blen), .type = PB_ENTRY_DATA, .batch_len = blen,
				   .topic_id = topic, .partition = partition, .acks = PB_ACKS_APPENDED, .seq = 1,
				   .ack_offset = -1 };
	memcpy(at, &e, sizeof(e));
	memcpy(at + sizeof(e), b, blen);
	return e.len;
}

static void ring_seeds(void)
{
	uint8_t b[512], in[4096 + 15];
	uint32_t blen = (uint32_t)batch(b, sizeof(b), 2, 0), cap = 1024;
	/* two entries from the start */
	memset(in, 0, sizeof(in));
	size_t h = ring_params(in, cap, 0, 0, 7), n = 0;
	n += ring_entry(in + h + n, 7, 0, b, blen);
	n += ring_entry(in + h + n, 7, 1, b, blen);
	ring_params(in, cap, 0, (uint32_t)n, 7);
	put("ring_entry", "two-entries", in, h + cap);
	/* an entry, then a pad to the end of the area, then one after the wrap */
	memset(in, 0, sizeof(in));
	uint32_t first = pb_entry_size(blen), pad_at = cap - 64;
	uint64_t drain = 10 * (uint64_t)cap + pad_at - first;
	ring_entry(in + h + pad_at - first, 7, 0, b, blen);
	struct pb_ring_entry pad = { .len = cap - pad_at, .type = PB_ENTRY_PAD };
	memcpy(in + h + pad_at, &pad, sizeof(pad));
	ring_entry(in + h, 7, 0, b, blen);
	ring_params(in, cap, drain, first + 64 + first, 7);
	put("ring_entry", "pad-and-wrap", in, h + cap);
}

/* ---- local protocol ---------------------------------------------------------------------------- */

static void protocol_seeds(void)
{
	static uint8_t buf[PBP_MAX_MSG];
	struct pbp_wbuf w;
	int n;
#define SEED(name, expr)                                                                           \
	do {                                                                                       \
		pbp_w_init(&w, buf, sizeof(buf));                                                  \
		if ((n = (expr)) <= 0) {                                                           \
			fprintf(stderr, "cannot encode %s\n", name);                               \
			exit(1);                                                                   \
		}                                                                                  \
		put("protocol", name, buf, (size_t)n);                                             \
	} while (0)
	SEED("hello", pbp_enc_hello(&w, 1, &(struct pbp_hello){ 1, 1, "seed" }));
	struct pbp_config cfg[2] = { { "retention.ms", "1000" }, { "segment.bytes", "128K" } };
	SEED("topic-create", pbp_enc_topic_create(&w, 2, &(struct pbp_topic_create){ .name = "orders", .partitions = 4,
										      .nconfigs = 2, .configs = cfg }));
	SEED("topic-list", pbp_enc_topic_list(&w, 3));
	SEED("topic-describe", pbp_enc_topic_describe(&w, 4, &(struct pbp_topic_describe){ .name = "orders" }));
	SEED("open-producer", pbp_enc_open_producer(&w, 5, &(struct pbp_open_producer){ .topic = "orders" }));
	int32_t parts[3] = { 0, 2, 3 };
	SEED("open-consumer", pbp_enc_open_consumer(&w, 6, &(struct pbp_open_consumer){ .topic = "orders", .n = 3,
											 .partitions = parts }));
	SEED("get-segments", pbp_enc_get_segments(&w, 7, &(struct pbp_get_segments){ 1, 2, 100 }));
	SEED("commit-offset", pbp_enc_commit_offset(&w, 8, &(struct pbp_commit_offset){ .name = "reader", .topic = "orders",
											 .partition = 1, .next_offset = 42 }));
	struct pbp_partition_info pi[2] = { { 0, 0, 0, 10, 1, 700 }, { 1, 1, 5, 20, 2, 1400 } };
	SEED("describe-reply", pbp_enc_topic_describe_reply(&w, 4, &(struct pbp_topic_describe_reply){
									 .topic_id = 1, .partitions = 2, .nconfigs = 2,
									 .configs = cfg, .parts = pi }));
	SEED("error-reply", pbp_enc_error_reply(&w, PBP_OPEN_PRODUCER, 5, -ENOENT, "unknown topic 'x'"));
	SEED("segment-event", pbp_enc_segment_event(&w, &(struct pbp_segment_event){ 1, 0, PBP_SEG_ROLLED, 4711 }));
#undef SEED
}

/* ---- Kafka requests ---------------------------------------------------------------------------- */

static void kafka_frame(const char *name, struct kc_writer *w)
{
	put("kafka_request", name, w->buf, w->len);
	kc_writer_free(w);
}

static void kafka_header(struct kc_writer *w, int16_t key, int16_t version)
{
	kc_writer_init(w, 256);
	kc_w_i16(w, key);
	kc_w_i16(w, version);
	kc_w_i32(w, 7);
	kc_w_cstr(w, "seed");
}

/* The group APIs as librdkafka sends them (kcat -G), at the advertised maxima. */
static void group_seeds(void)
{
	struct kc_writer w;
	kafka_header(&w, KAFKA_FIND_COORDINATOR, 2);
	kc_w_cstr(&w, "billing");
	kc_w_i8(&w, 0);
	kafka_frame("find-coordinator-v2", &w);
	kafka_header(&w, KAFKA_JOIN_GROUP, 5);
	kc_w_cstr(&w, "billing");
	kc_w_i32(&w, 45000);
	kc_w_i32(&w, 300000);
	kc_w_cstr(&w, "");
	kc_w_string(&w, NULL, -1);
	kc_w_cstr(&w, "consumer");
	kc_w_i32(&w, 2);
	kc_w_cstr(&w, "range");
	kc_w_i32(&w, 20);
	kc_w_raw(&w, "\0\0\0\0\0\1\0\6orders\xff\xff\xff\xff", 20);
	kc_w_cstr(&w, "roundrobin");
	kc_w_i32(&w, 0);
	kafka_frame("join-group-v5", &w);
	kafka_header(&w, KAFKA_SYNC_GROUP, 3);
	kc_w_cstr(&w, "billing");
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "rdkafka-1");
	kc_w_string(&w, NULL, -1);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "rdkafka-1");
	kc_w_i32(&w, 4);
	kc_w_raw(&w, "\0\0\0\0", 4);
	kafka_frame("sync-group-v3", &w);
	kafka_header(&w, KAFKA_HEARTBEAT, 3);
	kc_w_cstr(&w, "billing");
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "rdkafka-1");
	kc_w_string(&w, NULL, -1);
	kafka_frame("heartbeat-v3", &w);
	kafka_header(&w, KAFKA_LEAVE_GROUP, 1);
	kc_w_cstr(&w, "billing");
	kc_w_cstr(&w, "rdkafka-1");
	kafka_frame("leave-group-v1", &w);
	kafka_header(&w, KAFKA_OFFSET_COMMIT, 5);
	kc_w_cstr(&w, "billing");
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "rdkafka-1");
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "orders");
	kc_w_i32(&w, 2);
	for (int p = 0; p < 2; p++) {
		kc_w_i32(&w, p);
		kc_w_i64(&w, 42);
		if (p)
			kc_w_string(&w, NULL, -1);
		else
			kc_w_cstr(&w, "");
	}
	kafka_frame("offset-commit-v5", &w);
	kafka_header(&w, KAFKA_OFFSET_FETCH, 4);
	kc_w_cstr(&w, "billing");
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "orders");
	kc_w_i32(&w, 1);
	kc_w_i32(&w, 0);
	kafka_frame("offset-fetch-v4", &w);
	kafka_header(&w, KAFKA_OFFSET_FETCH, 2);
	kc_w_cstr(&w, "billing");
	kc_w_i32(&w, -1);
	kafka_frame("offset-fetch-v2-all", &w);
	kafka_header(&w, KAFKA_DESCRIBE_GROUPS, 2);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "billing");
	kafka_frame("describe-groups-v2", &w);
	kafka_header(&w, KAFKA_LIST_GROUPS, 2);
	kafka_frame("list-groups-v2", &w);
}

static void kafka_seeds(void)
{
	struct kc_writer w;
	uint8_t b[1024];
	size_t blen = batch(b, sizeof(b), 3, 1);
	kafka_header(&w, KAFKA_API_VERSIONS, 2);
	kafka_frame("api-versions-v2", &w);
	kafka_header(&w, KAFKA_METADATA, 4);
	kc_w_i32(&w, 2);
	kc_w_cstr(&w, "orders");
	kc_w_cstr(&w, "payments");
	kc_w_i8(&w, 1);
	kafka_frame("metadata-v4", &w);
	kafka_header(&w, KAFKA_METADATA, 1);
	kc_w_i32(&w, -1);
	kafka_frame("metadata-v1-all", &w);
	kafka_header(&w, KAFKA_PRODUCE, 3);
	kc_w_string(&w, NULL, -1);
	kc_w_i16(&w, -1);
	kc_w_i32(&w, 30000);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "orders");
	kc_w_i32(&w, 2);
	for (int p = 0; p < 2; p++) {
		kc_w_i32(&w, p);
		kc_w_i32(&w, (int32_t)blen);
		kc_w_raw(&w, b, blen);
	}
	kafka_frame("produce-v3", &w);
	kafka_header(&w, KAFKA_FETCH, 4);
	kc_w_i32(&w, -1);
	kc_w_i32(&w, 500);
	kc_w_i32(&w, 1);
	kc_w_i32(&w, 52428800);
	kc_w_i8(&w, 0);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "orders");
	kc_w_i32(&w, 2);
	for (int p = 0; p < 2; p++) {
		kc_w_i32(&w, p);
		kc_w_i64(&w, 100);
		kc_w_i32(&w, 1048576);
	}
	kafka_frame("fetch-v4", &w);
	kafka_header(&w, KAFKA_LIST_OFFSETS, 2);
	kc_w_i32(&w, -1);
	kc_w_i8(&w, 0);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "orders");
	kc_w_i32(&w, 3);
	for (int p = 0; p < 3; p++) {
		kc_w_i32(&w, p);
		kc_w_i64(&w, p == 0 ? -2 : p == 1 ? -1 : 1764000000000);
	}
	kafka_frame("list-offsets-v2", &w);
	kafka_header(&w, KAFKA_CREATE_TOPICS, 3);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "orders");
	kc_w_i32(&w, -1);
	kc_w_i16(&w, -1);
	kc_w_i32(&w, 0);
	kc_w_i32(&w, 2);
	kc_w_cstr(&w, "retention.ms");
	kc_w_cstr(&w, "60000");
	kc_w_cstr(&w, "segment.bytes");
	kc_w_string(&w, NULL, -1);
	kc_w_i32(&w, 5000);
	kc_w_i8(&w, 1);
	kafka_frame("create-topics-v3", &w);
	kafka_header(&w, KAFKA_DELETE_TOPICS, 3);
	kc_w_i32(&w, 2);
	kc_w_cstr(&w, "orders");
	kc_w_cstr(&w, "gone");
	kc_w_i32(&w, 5000);
	kafka_frame("delete-topics-v3", &w);
	/* a v3 ApiVersions probe: flexible header (client id, then empty tags), compact body */
	kafka_header(&w, KAFKA_API_VERSIONS, 3);
	kc_w_i8(&w, 0);
	kc_w_i8(&w, 5);
	kc_w_raw(&w, "kcat", 4);
	kc_w_i8(&w, 4);
	kc_w_raw(&w, "1.7", 3);
	kc_w_i8(&w, 0);
	kafka_frame("api-versions-v3-probe", &w);
	group_seeds();
}

/* ---- recovery ---------------------------------------------------------------------------------- */

static void tlv(uint8_t **out, size_t *len, int kind, int seg, const char *path)
{
	size_t n;
	uint8_t *b = tu_read_file(path, &n);
	if (!b)
		n = 0;
	if (n > 65535)
		n = 65535;
	*out = realloc(*out, *len + 4 + n);
	uint8_t *p = *out + *len;
	p[0] = (uint8_t)kind;
	p[1] = (uint8_t)seg;
	be16_put(p + 2, (uint16_t)n);
	if (n)
		memcpy(p + 4, b, n);
	*len += 4 + n;
	free(b);
}

/* A real partition (three segments of 16 KiB, as fuzz_recovery.c configures) as TLVs. */
static void recovery_seed(const char *name, int batches, int crash)
{
	char *tmp = tu_tmpdir("seeds");
	char dir[1100];
	snprintf(dir, sizeof(dir), "%s/t-0", tmp);
	struct log_config cfg;
	log_config_defaults(&cfg);
	cfg.segment_bytes = 16384;
	cfg.index_interval_bytes = 1024;
	struct partition *p;
	if (part_open(dir, &cfg, &p)) {
		fprintf(stderr, "cannot open %s\n", dir);
		exit(1);
	}
	for (int i = 0; i < batches; i++) {
		size_t len;
		uint8_t *b = tu_batch("seed", 1 + i % 5, 40, 1000 + i, &len);
		part_append(p, b, len, 0, NULL);
		free(b);
	}
	if (!crash)
		part_flush(p);
	size_t nsegs = p->nsegs < 3 ? p->nsegs : 3, first = p->nsegs - nsegs;
	int64_t bases[3] = { 0, 0, 0 };
	for (size_t i = 0; i < nsegs; i++)
		bases[i] = p->segs[first + i]->base;
	part_close(p);
	uint8_t *out = malloc(8);
	size_t len = 0;
	for (int i = 0; i < 3; i++) {
		out = realloc(out, len + 4);
		be32_put(out + len, (uint32_t)bases[i < (int)nsegs ? i : 0]);
		len += 4;
	}
	out = realloc(out, len + 2);
	be16_put(out + len, 1023); /* index.interval.bytes 1024 */
	len += 2;
	for (size_t i = 0; i < nsegs; i++) {
		tlv(&out, &len, 0, (int)i, tu_seg_file(dir, bases[i], ".log"));
		tlv(&out, &len, 1, (int)i, tu_seg_file(dir, bases[i], ".index"));
		tlv(&out, &len, 2, (int)i, tu_seg_file(dir, bases[i], ".timeindex"));
	}
	put("recovery", name, out, len);
	free(out);
	tu_rmrf(tmp);
	free(tmp);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		root = argv[1];
	log_set_level(LOG_ERROR);
	record_batch_seeds();
	ring_seeds();
	protocol_seeds();
	kafka_seeds();
	recovery_seed("one-segment", 20, 0);
	recovery_seed("three-segments", 400, 0);
	recovery_seed("unsynced-tail", 150, 1);
	printf("seeds written under %s\n", root);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compression.h — Kafka's record codecs, in the framings Kafka clients write: gzip
 * (RFC 1952), snappy (xerial framing; raw snappy accepted), lz4 (LZ4 frame format) and
 * zstd (a streamed frame), with zlib, libsnappy, liblz4 and libzstd. Internal.
 *
 * Decompression of untrusted bytes is bounded: a batch whose records would inflate past
 * max_out fails with -EMSGSIZE instead of exhausting memory. Readers of stored batches
 * pass pb_codec_bound(compressed length) = max(64 MiB, 64 x compressed length).
 */
#ifndef PAGEBUS_COMPRESSION_H
#define PAGEBUS_COMPRESSION_H

#include <stdbool.h>
#include <stddef.h>

#define PB_CODEC_BOUND_MIN ((size_t)64 << 20) /* 64 MiB */
#define PB_CODEC_BOUND_RATIO 64

/* The decompressed-size limit for in_len compressed bytes: max(64 MiB, 64 x in_len). */
size_t pb_codec_bound(size_t in_len);

/* True for the codecs this build decompresses and compresses (enum rb_codec 1..4). */
bool pb_codec_supported(int codec);

/*
 * Decompresses in[0..in_len) encoded with codec (enum rb_codec) into a malloc'd buffer:
 * *out (never NULL on success, even for 0 bytes; the caller frees it) and *out_len.
 * Input may hold several concatenated gzip members / lz4 frames / zstd frames /
 * xerial streams, as the Java readers accept. Returns 0, or
 *   -ENOTSUP             codec unknown or not built in (the caller names it),
 *   -EINVAL              codec none (nothing to decompress) or in_len > INT32_MAX,
 *   -PAGEBUS_EBADRECORD  corrupt or truncated input, trailing garbage included,
 *   -EMSGSIZE            the output would exceed max_out bytes,
 *   -ENOMEM.
 * Reads nothing outside in[0..in_len); *out and *out_len are untouched on error.
 */
int pb_decompress(int codec, const void *in, size_t in_len, void **out, size_t *out_len,
		  size_t max_out);

/*
 * Compresses in[0..len) as a Kafka client does: gzip member (default level), xerial
 * snappy (32 KiB blocks, as snappy-java's SnappyOutputStream), LZ4 frame (64 KiB
 * independent blocks, as Kafka's KafkaLZ4BlockOutputStream), zstd frame (level 3, no
 * content size, as zstd-jni's stream). *out is malloc'd. Returns 0, -ENOTSUP, -EINVAL
 * (codec none), -EMSGSIZE (len > INT32_MAX) or -ENOMEM.
 */
int pb_compress(int codec, const void *in, size_t len, void **out, size_t *out_len);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compression.c — Kafka's record codecs over Debian's libraries (zlib, libsnappy, liblz4,
 * libzstd): bounded decompression of untrusted compressed records, and compression in
 * the framings Kafka's Java client writes. One table, indexed by codec.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "byteorder.h"
#include "compression.h"
#include "pagebus.h"
#include "record_batch.h"

/* Largest input either direction: a batch's records never exceed an int32. */
#define CODEC_MAX_INPUT ((size_t)INT32_MAX)

/* snappy-java's stream header: magic, then int32 version and compatible version (1, 1). */
static const uint8_t xerial_magic[8] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0 };
#define XERIAL_HEADER_SIZE 16
#define XERIAL_VERSION 1
#define XERIAL_BLOCK_SIZE (32 * 1024) /* SnappyOutputStream's default block */

#define ZSTD_KAFKA_LEVEL 3 /* zstd-jni's default, which Kafka uses unless configured */

size_t pb_codec_bound(size_t in_len)
{
	if (in_len > SIZE_MAX / PB_CODEC_BOUND_RATIO)
		return SIZE_MAX;
	return in_len * PB_CODEC_BOUND_RATIO > PB_CODEC_BOUND_MIN ? in_len * PB_CODEC_BOUND_RATIO
								  : PB_CODEC_BOUND_MIN;
}

/* ---- the growing output buffer ------------------------------------------------- */

/*
 * Decompressed bytes. limit is max_out + 1: a buffer filled to limit proves the output
 * is larger than allowed, without a second pass to tell "exactly max_out" apart.
 */
struct obuf {
	uint8_t *p;
	size_t len, cap, limit;
};

static int obuf_init(struct obuf *o, size_t hint, size_t max_out)
{
	o->limit = (max_out < SIZE_MAX / 2 ? max_out : SIZE_MAX / 2) + 1;
	o->cap = hint < 256 ? 256 : hint;
	if (o->cap > o->limit)
		o->cap = o->limit;
	o->len = 0;
	o->p = malloc(o->cap);
	return o->p ? 0 : -ENOMEM;
}

/* Makes room for at least need more bytes: -EMSGSIZE past the limit. */
static int obuf_reserve(struct obuf *o, size_t need)
{
	size_t cap = o->cap;
	uint8_t *p;

	if (need <= cap - o->len)
		return 0;
	if (need > o->limit - o->len)
		return -EMSGSIZE;
	while (cap - o->len < need)
		cap = cap > o->limit / 2 ? o->limit : cap * 2;
	p = realloc(o->p, cap);
	if (!p)
		return -ENOMEM;
	o->p = p;
	o->cap = cap;
	return 0;
}

/* Room for the next step of a streaming decoder, which was given a full buffer. */
static inline int obuf_grow(struct obuf *o)
{
	return obuf_reserve(o, 1);
}

/* Bytes a streaming decoder may write next (zlib counts in uInt). */
static inline size_t obuf_room(const struct obuf *o, size_t most)
{
	return o->cap - o->len < most ? o->cap - o->len : most;
}

/* ---- gzip ---------------------------------------------------------------------- */

/* RFC 1952 members (zlib's 15 + 32 also takes a zlib stream); concatenated members are
 * read as one stream, as java.util.zip.GZIPInputStream does. */
static int gzip_decompress(const uint8_t *in, size_t in_len, struct obuf *o)
{
	z_stream zs;
	int err = 0;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)in_len;
	for (;;) {
		size_t room;
		int zr;

		if (o->len == o->cap && (err = obuf_grow(o)))
			break;
		room = obuf_room(o, UINT_MAX);
		zs.next_out = o->p + o->len;
		zs.avail_out = (uInt)room;
		zr = inflate(&zs, Z_NO_FLUSH);
		o->len += room - zs.avail_out;
		if (zr == Z_STREAM_END) {
			if (!zs.avail_in)
				break;
			if (zs.avail_in < 2 || zs.next_in[0] != 0x1f || zs.next_in[1] != 0x8b ||
			    inflateReset(&zs) != Z_OK) {
				err = -PAGEBUS_EBADRECORD; /* trailing bytes that are no member */
				break;
			}
		} else if (zr == Z_MEM_ERROR) {
			err = -ENOMEM;
			break;
		} else if (zr == Z_BUF_ERROR && o->len < o->cap) {
			err = -PAGEBUS_EBADRECORD; /* input ends inside the stream */
			break;
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			err = -PAGEBUS_EBADRECORD; /* Z_DATA_ERROR, Z_NEED_DICT */
			break;
		}
	}
	inflateEnd(&zs);
	return err;
}

static int gzip_compress(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	z_stream zs;
	uLong cap;
	int zr;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	cap = deflateBound(&zs, (uLong)len);
	*out = malloc(cap);
	if (!*out) {
		deflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = *out;
	zs.avail_out = (uInt)cap;
	zr = deflate(&zs, Z_FINISH);
	*out_len = cap - zs.avail_out;
	deflateEnd(&zs);
	if (zr != Z_STREAM_END) { /* deflateBound promises room: cannot happen */
		free(*out);
		return -EIO;
	}
	return 0;
}

/* ---- snappy -------------------------------------------------------------------- */

/* One raw snappy block appended to o; its declared length is checked before any
 * allocation, so a lying header cannot reserve memory past the bound. */
static int snappy_block(const uint8_t *in, size_t len, struct obuf *o)
{
	size_t n, got;
	int err;

	if (snappy_uncompressed_length((const char *)in, len, &n) != SNAPPY_OK)
		return -PAGEBUS_EBADRECORD;
	if (n > o->limit - 1 - o->len) /* limit - 1 = max_out */
		return -EMSGSIZE;
	if ((err = obuf_reserve(o, n)))
		return err;
	got = n;
	if (snappy_uncompress((const char *)in, len, (char *)o->p + o->len, &got) != SNAPPY_OK ||
	    got != n)
		return -PAGEBUS_EBADRECORD;
	o->len += n;
	return 0;
}

/* xerial framing: header, then [int32 length, snappy block]*; a header may repeat
 * (concatenated streams, as snappy-java reads them). Anything else is one raw block. */
static int snappy_decompress(const uint8_t *in, size_t in_len, struct obuf *o)
{
	size_t pos = 0;
	int err;

	if (in_len < sizeof(xerial_magic) || memcmp(in, xerial_magic, sizeof(xerial_magic)))
		return snappy_block(in, in_len, o);
	while (pos < in_len) {
		uint32_t clen;

		if (in_len - pos >= sizeof(xerial_magic) &&
		    !memcmp(in + pos, xerial_magic, sizeof(xerial_magic))) {
			if (in_len - pos < XERIAL_HEADER_SIZE)
				return -PAGEBUS_EBADRECORD;
			pos += XERIAL_HEADER_SIZE;
			continue;
		}
		if (in_len - pos < 4)
			return -PAGEBUS_EBADRECORD;
		clen = be32_get(in + pos);
		pos += 4;
		if (clen > in_len - pos)
			return -PAGEBUS_EBADRECORD;
		if ((err = snappy_block(in + pos, clen, o)))
			return err;
		pos += clen;
	}
	return 0;
}

static int snappy_compress_xerial(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	size_t nblocks = (len + XERIAL_BLOCK_SIZE - 1) / XERIAL_BLOCK_SIZE;
	size_t cap = XERIAL_HEADER_SIZE +
		     nblocks * (4 + snappy_max_compressed_length(XERIAL_BLOCK_SIZE));
	size_t pos = XERIAL_HEADER_SIZE;
	uint8_t *p = malloc(cap);

	if (!p)
		return -ENOMEM;
	memcpy(p, xerial_magic, sizeof(xerial_magic));
	be32_put(p + 8, XERIAL_VERSION);
	be32_put(p + 12, XERIAL_VERSION); /* minimum compatible version */
	for (size_t off = 0; off < len; off += XERIAL_BLOCK_SIZE) {
		size_t n = len - off < XERIAL_BLOCK_SIZE ? len - off : XERIAL_BLOCK_SIZE;
		size_t clen = cap - pos - 4;

		if (snappy_compress((const char *)in + off, n, (char *)p + pos + 4, &clen) !=
		    SNAPPY_OK) {
			free(p);
			return -EIO; /* room is snappy_max_compressed_length: cannot happen */
		}
		be32_put(p + pos, (uint32_t)clen);
		pos += 4 + clen;
	}
	*out = p;
	*out_len = pos;
	return 0;
}

/* ---- lz4 ----------------------------------------------------------------------- */

/* LZ4 frames (concatenated frames and skippable frames as liblz4 reads them). */
static int lz4_decompress(const uint8_t *in, size_t in_len, struct obuf *o)
{
	LZ4F_dctx *d;
	size_t pos = 0;
	int err = 0;

	if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)))
		return -ENOMEM;
	for (;;) {
		size_t dst, src, hint;

		if (o->len == o->cap && (err = obuf_grow(o)))
			break;
		dst = o->cap - o->len;
		src = in_len - pos;
		hint = LZ4F_decompress(d, o->p + o->len, &dst, in + pos, &src, NULL);
		if (LZ4F_isError(hint)) {
			err = -PAGEBUS_EBADRECORD;
			break;
		}
		pos += src;
		o->len += dst;
		if (!hint && pos == in_len)
			break; /* the last frame is complete */
		if (!src && !dst && o->len < o->cap) {
			err = -PAGEBUS_EBADRECORD; /* input ends inside a frame */
			break;
		}
	}
	LZ4F_freeDecompressionContext(d);
	return err;
}

static int lz4_compress(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	LZ4F_preferences_t prefs;
	size_t cap, n;

	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	cap = LZ4F_compressFrameBound(len, &prefs);
	*out = malloc(cap);
	if (!*out)
		return -ENOMEM;
	n = LZ4F_compressFrame(*out, cap, in, len, &prefs);
	if (LZ4F_isError(n)) {
		free(*out);
		return -EIO; /* room is LZ4F_compressFrameBound: cannot happen */
	}
	*out_len = n;
	return 0;
}

/* ---- zstd ---------------------------------------------------------------------- */

static int zstd_err(size_t r)
{
	switch (ZSTD_getErrorCode(r)) {
	case ZSTD_error_memory_allocation:
		return -ENOMEM;
	case ZSTD_error_frameParameter_windowTooLarge:
		return -EMSGSIZE; /* a window past zstd's 128 MiB default limit */
	default:
		return -PAGEBUS_EBADRECORD;
	}
}

/* Streaming, since Kafka's writers leave the content size out of the frame header. */
static int zstd_decompress(const uint8_t *in, size_t in_len, struct obuf *o)
{
	ZSTD_inBuffer ib = { in, in_len, 0 };
	ZSTD_DCtx *d = ZSTD_createDCtx();
	int err = 0;

	if (!d)
		return -ENOMEM;
	for (;;) {
		ZSTD_outBuffer ob;
		size_t r, in_before = ib.pos;
		bool progress;

		if (o->len == o->cap && (err = obuf_grow(o)))
			break;
		ob = (ZSTD_outBuffer){ o->p, o->cap, o->len };
		r = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(r)) {
			err = zstd_err(r);
			break;
		}
		progress = ob.pos != o->len || ib.pos != in_before;
		o->len = ob.pos;
		if (!r && ib.pos == ib.size)
			break; /* the last frame is decoded and flushed */
		if (!progress && o->len < o->cap) {
			err = -PAGEBUS_EBADRECORD; /* input ends inside a frame */
			break;
		}
	}
	ZSTD_freeDCtx(d);
	return err;
}

static int zstd_compress(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(len), n;

	if (!c)
		return -ENOMEM;
	*out = malloc(cap);
	if (!*out) {
		ZSTD_freeCCtx(c);
		return -ENOMEM;
	}
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, ZSTD_KAFKA_LEVEL);
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
	n = ZSTD_compress2(c, *out, cap, in, len);
	ZSTD_freeCCtx(c);
	if (ZSTD_isError(n)) {
		free(*out);
		return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? -ENOMEM : -EIO;
	}
	*out_len = n;
	return 0;
}

/* ---- dispatch ------------------------------------------------------------------ */

struct codec_ops {
	int (*decompress)(const uint8_t *in, size_t in_len, struct obuf *o);
	int (*compress)(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);
	unsigned expect_ratio; /* first guess of output / input, to size the buffer */
};

static const struct codec_ops codecs[] = {
	[RB_CODEC_GZIP] = { gzip_decompress, gzip_compress, 4 },
	[RB_CODEC_SNAPPY] = { snappy_decompress, snappy_compress_xerial, 2 },
	[RB_CODEC_LZ4] = { lz4_decompress, lz4_compress, 3 },
	[RB_CODEC_ZSTD] = { zstd_decompress, zstd_compress, 4 },
};

_Static_assert(sizeof(codecs) / sizeof(codecs[0]) == RB_CODEC_ZSTD + 1,
	       "one entry per Kafka codec");

static const struct codec_ops *codec_ops(int codec)
{
	if (codec < 0 || codec >= (int)(sizeof(codecs) / sizeof(codecs[0])))
		return NULL;
	return codecs[codec].decompress ? &codecs[codec] : NULL;
}

bool pb_codec_supported(int codec)
{
	return codec_ops(codec) != NULL;
}

int pb_decompress(int codec, const void *in, size_t in_len, void **out, size_t *out_len,
		  size_t max_out)
{
	const struct codec_ops *ops = codec_ops(codec);
	struct obuf o;
	size_t hint;
	int err;

	if (codec == RB_CODEC_NONE || in_len > CODEC_MAX_INPUT || (!in && in_len))
		return -EINVAL;
	if (!ops)
		return -ENOTSUP;
	hint = in_len * ops->expect_ratio;
	if (codec == RB_CODEC_ZSTD) {
		unsigned long long size = ZSTD_getFrameContentSize(in, in_len);

		if (size != ZSTD_CONTENTSIZE_UNKNOWN && size != ZSTD_CONTENTSIZE_ERROR) {
			if (size > max_out)
				return -EMSGSIZE;
			hint = (size_t)size;
		}
	}
	if ((err = obuf_init(&o, hint, max_out)))
		return err;
	err = ops->decompress(in, in_len, &o);
	if (!err && o.len == o.limit)
		err = -EMSGSIZE; /* the stream ended exactly on the limit byte */
	if (err) {
		free(o.p);
		return err;
	}
	if (o.cap - o.len > 4096) { /* the consumer may keep it a while: give back the slack */
		uint8_t *p = realloc(o.p, o.len ? o.len : 1);

		if (p)
			o.p = p;
	}
	*out = o.p;
	*out_len = o.len;
	return 0;
}

int pb_compress(int codec, const void *in, size_t len, void **out, size_t *out_len)
{
	const struct codec_ops *ops = codec_ops(codec);
	uint8_t *p;
	size_t n;
	int err;

	if (codec == RB_CODEC_NONE || (!in && len))
		return -EINVAL;
	if (!ops)
		return -ENOTSUP;
	if (len > CODEC_MAX_INPUT)
		return -EMSGSIZE;
	if ((err = ops->compress(in, len, &p, &n)))
		return err;
	*out = p;
	*out_len = n;
	return 0;
}

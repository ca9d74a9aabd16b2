/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pagebus.h — the public API of libpagebus.
 *
 * Every fallible function returns an int (or ssize_t): >= 0 is success, a negative
 * value is an error: either -errno (e.g. -ENOENT, -EAGAIN) or one of the -PAGEBUS_E*
 * codes below for conditions errno has no name for. pagebus_strerror() names both.
 */
#ifndef PAGEBUS_H
#define PAGEBUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PAGEBUS_API __attribute__((visibility("default")))

/*
 * pagebus-specific error codes, returned negated (-PAGEBUS_EBADCRC). They start at
 * 2000 so they never collide with errno values.
 */
enum pagebus_error {
	PAGEBUS_ERR_FIRST = 2000,
	PAGEBUS_ETRUNCATED = 2000, /* fewer bytes than a length field says */
	PAGEBUS_EBADMAGIC,         /* RecordBatch magic is not 2 */
	PAGEBUS_EBADCRC,           /* CRC-32C does not match the batch */
	PAGEBUS_EBADLEN,           /* a length or size field is out of range */
	PAGEBUS_EBADCOUNT,         /* recordsCount / lastOffsetDelta disagree with the records */
	PAGEBUS_EVARINT,           /* a varint is longer than its type allows */
	PAGEBUS_EBADRECORD,        /* a record field is malformed (bad key/value/header length) */
	PAGEBUS_ECOMPRESSED,       /* compressed batch: records cannot be read without its codec */
	PAGEBUS_ERR_LAST
};

/* A static, human-readable description of err (a -errno or -PAGEBUS_E* value). */
PAGEBUS_API const char *pagebus_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* PAGEBUS_H */

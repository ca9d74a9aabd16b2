/* SPDX-License-Identifier: Apache-2.0 */
/*
 * errors.c — pagebus_strerror(): one name for every error libpagebus and pagebusd
 * return, the pagebus-specific -PAGEBUS_E* codes and plain -errno values alike.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "pagebus.h"

static const char *const pagebus_messages[] = {
	[PAGEBUS_ETRUNCATED - PAGEBUS_ERR_FIRST] =
		"truncated data: fewer bytes than a length field says",
	[PAGEBUS_EBADMAGIC - PAGEBUS_ERR_FIRST] = "corrupt batch: RecordBatch magic is not 2",
	[PAGEBUS_EBADCRC - PAGEBUS_ERR_FIRST] = "corrupt batch: CRC-32C mismatch",
	[PAGEBUS_EBADLEN - PAGEBUS_ERR_FIRST] =
		"corrupt batch: a length field is out of range or overruns the batch",
	[PAGEBUS_EBADCOUNT - PAGEBUS_ERR_FIRST] =
		"corrupt batch: recordsCount disagrees with lastOffsetDelta or the records",
	[PAGEBUS_EVARINT - PAGEBUS_ERR_FIRST] =
		"corrupt record: varint longer than its type allows",
	[PAGEBUS_EBADRECORD - PAGEBUS_ERR_FIRST] =
		"corrupt record: bad length, offset delta or header field",
	[PAGEBUS_ECOMPRESSED - PAGEBUS_ERR_FIRST] =
		"compressed batch: records cannot be read without its codec",
	[PAGEBUS_EREBALANCE - PAGEBUS_ERR_FIRST] = "consumer group: a rebalance is in progress",
	[PAGEBUS_EUNKNOWN_MEMBER - PAGEBUS_ERR_FIRST] =
		"consumer group: the member is not (or no longer) in the group",
	[PAGEBUS_EGENERATION - PAGEBUS_ERR_FIRST] =
		"consumer group: the member's generation is out of date",
	[PAGEBUS_EGROUP_PROTOCOL - PAGEBUS_ERR_FIRST] =
		"consumer group: no assignment protocol common to every member",
};

_Static_assert(sizeof(pagebus_messages) / sizeof(pagebus_messages[0]) ==
		       PAGEBUS_ERR_LAST - PAGEBUS_ERR_FIRST,
	       "every PAGEBUS_E* code needs a message");

/*
 * Returns a static string, never NULL; thread-safe (no strerror() buffer: glibc's
 * strerrordesc_np() hands out its constant table entries).
 */
PAGEBUS_API const char *pagebus_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err > 0)
		return "invalid error code (pagebus errors are negative)";
	if (err == INT_MIN)
		return "unknown error";

	int code = -err;

	if (code >= PAGEBUS_ERR_FIRST && code < PAGEBUS_ERR_LAST)
		return pagebus_messages[code - PAGEBUS_ERR_FIRST];

	const char *msg = strerrordesc_np(code);

	return msg ? msg : "unknown error";
}

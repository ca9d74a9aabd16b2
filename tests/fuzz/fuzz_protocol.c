/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_protocol.c — the local protocol parser on arbitrary datagrams: pbp_validate (every
 * type, both directions) and the parsers the broker and the library call. Invariants:
 * nothing but 0 or -EPROTO (or -ENOMEM) comes back; a message that parses encodes back
 * to exactly the same bytes (the encoding is canonical, so nothing a parser accepted
 * was misread); arrays are freed.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "protocol.h"

static uint8_t out[PBP_MAX_MSG];

static void same_bytes(const uint8_t *data, size_t size, int len)
{
	FUZZ_CHECK(len > 0 && (size_t)len == size && memcmp(out, data, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int v = pbp_validate(data, size);
	FUZZ_CHECK(v == 0 || v == -EPROTO || v == -ENOMEM);
	struct pbp_hdr h;
	struct pbp_rbuf r;
	if (pbp_msg_parse(data, size, &h, &r) < 0) {
		FUZZ_CHECK(v != 0);
		return 0;
	}
	struct pbp_wbuf w;
	pbp_w_init(&w, out, sizeof(out));
	int err = -EPROTO, len = -1;
	if (h.flags == 0) { /* a request, as the broker parses it */
		switch (h.type) {
#define REQUEST(name, type)                                                                        \
	case type: {                                                                               \
		struct pbp_##name m;                                                               \
		if (!(err = pbp_parse_##name(&r, &m)))                                             \
			len = pbp_enc_##name(&w, h.id, &m);                                        \
		pbp_free_##name(&m);                                                               \
		break;                                                                             \
	}
			PBP_REQUESTS(REQUEST)
#undef REQUEST
		default: /* the requests without a payload (TOPIC_LIST, GROUP_LIST) */
			if (h.type <= PBP_REQUEST_LAST && strcmp(pbp_type_name(h.type), "unknown") &&
			    !(err = pbp_r_done(&r))) {
				pbp_msg_begin(&w, h.type, 0, h.id);
				len = pbp_msg_end(&w);
			}
			break;
		}
	} else if (h.flags == PBP_F_REPLY) { /* a reply, as the library parses it */
		struct pbp_status st;
		switch (h.type) {
#define REPLY(name, type)                                                                          \
	case type: {                                                                               \
		struct pbp_##name##_reply m;                                                       \
		if (!(err = pbp_parse_##name##_reply(&r, &st, &m)))                                \
			len = st.status ? pbp_enc_error_reply(&w, type, h.id, st.status, st.message) \
					: pbp_enc_##name##_reply(&w, h.id, &m);                     \
		pbp_free_##name##_reply(&m);                                                       \
		break;                                                                             \
	}
			PBP_REPLIES(REPLY)
#undef REPLY
		default: /* the other requests' replies have no fields */
			if (strcmp(pbp_type_name(h.type), "unknown") && h.type != PBP_SEGMENT_EVENT &&
			    !(err = pbp_parse_status_reply(&r, &st)))
				len = st.status ? pbp_enc_error_reply(&w, h.type, h.id, st.status, st.message)
						: pbp_enc_ok_reply(&w, h.type, h.id);
			break;
		}
	} else if (h.type == PBP_SEGMENT_EVENT) {
		struct pbp_segment_event m;
		if (!(err = pbp_parse_segment_event(&r, &m)))
			len = pbp_enc_segment_event(&w, &m);
	}
	FUZZ_CHECK(err == 0 || err == -EPROTO || err == -ENOMEM);
	if (!err)
		same_bytes(data, size, len);
	/* pbp_validate judges exactly what the typed parsers judge */
	FUZZ_CHECK(err == -ENOMEM || v == -ENOMEM || (err == 0) == (v == 0));
	return 0;
}

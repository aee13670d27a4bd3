/*
 * src/http/range.h — the byte ranges of blob GETs (`Range`) and of upload
 * chunks (`Content-Range`), parsed from the raw header value.
 *
 * Both take the header's bytes as they came (not NUL-terminated, any length,
 * any byte) and never read outside them; neither calls h2o, so the fuzz
 * target tests/fuzz/fuzz_range.c drives them directly.
 *
 *     int64_t first, last;
 *     int applies = range_parse(header, header_length, blob_size, &first, &last);
 *     // 1: send bytes first..last (206); 0: send the whole blob (200);
 *     // -1: 416 with "Content-Range: bytes *\/SIZE"
 *
 *     int64_t start;
 *     if (content_range_parse(header, header_length, body_length, &start) < 0)
 *         ... 400 BLOB_UPLOAD_INVALID or 416 (RANGE_INVALID), error_message() says why ...
 */
#ifndef CAIRN_SRC_HTTP_RANGE_H
#define CAIRN_SRC_HTTP_RANGE_H

#include <stddef.h>
#include <stdint.h>

/* A single "bytes=FIRST-[LAST]" or "bytes=-SUFFIX" against a blob of `size`
 * bytes. 1 and *first, *last (inclusive, within the blob) when a range
 * applies; 0 when the whole blob should be sent (header NULL, or a form we
 * ignore: another unit, several ranges, anything malformed); -1 when it
 * cannot be satisfied. */
int range_parse(const char *header, size_t length, int64_t size, int64_t *first, int64_t *last);

/* An upload chunk's "<start>-<end>" (inclusive, as Distribution and the OCI
 * spec write it; a "bytes " prefix and a "/<total>" suffix are tolerated),
 * which must cover exactly `body_length` bytes. 0 and *start_out;
 * -REGISTRY_ERROR_BLOB_UPLOAD_INVALID when malformed,
 * -REGISTRY_ERROR_RANGE_INVALID when it does not cover the body. */
int content_range_parse(const char *header, size_t length, size_t body_length, int64_t *start_out);

#endif

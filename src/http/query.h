/*
 * src/http/query.h — reading parameters from a request's query string.
 *
 * The query is taken from the raw request path (after '?'), never from h2o's
 * normalised path. Values are percent-decoded ('+' is a space); a value that
 * decodes to a NUL byte or does not fit is refused. The caller validates the
 * decoded value with layout/ before using it.
 *
 *     char digest_text[DIGEST_STRING_MAX];
 *     int found = query_get(query, query_length, "digest", digest_text, sizeof digest_text);
 *     // 1: found and decoded; 0: absent; -EINVAL: malformed or too long
 */
#ifndef CAIRN_SRC_HTTP_QUERY_H
#define CAIRN_SRC_HTTP_QUERY_H

#include <stddef.h>

int query_get(const char *query, size_t query_length, const char *key, char *out, size_t out_size);

/* Percent-encodes `text` for use in a query value (unreserved characters and
 * ':' '/' kept). Returns the length written, or -ENAMETOOLONG. */
int query_encode(const char *text, char *out, size_t out_size);

#endif

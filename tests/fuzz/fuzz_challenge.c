/* tests/fuzz/fuzz_challenge.c — what an upstream registry sends to the
 * mirror's client (drivers/upstream.h): a WWW-Authenticate challenge, and
 * (the same bytes) a token service's JSON answer and a 206's Content-Range.
 * Whatever the bytes, the parsed values are NUL-terminated within their
 * buffers, a token is one a header can carry, and a range is not empty and
 * ends before its total. */
#include <stdlib.h>
#include <string.h>

#include "drivers/upstream.h"
#include "tests/fuzz/fuzz_support.h"

static int terminated(const char *value, size_t size)
{
    return memchr(value, '\0', size) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct upstream_challenge challenge;
    if (upstream_parse_challenge((const char *)data, size, &challenge) == 0) {
        FUZZ_CHECK(challenge.scheme == UPSTREAM_SCHEME_OTHER ||
                   challenge.scheme == UPSTREAM_SCHEME_BASIC ||
                   challenge.scheme == UPSTREAM_SCHEME_BEARER);
        FUZZ_CHECK(terminated(challenge.realm, sizeof challenge.realm));
        FUZZ_CHECK(terminated(challenge.service, sizeof challenge.service));
        FUZZ_CHECK(terminated(challenge.scope, sizeof challenge.scope));
        /* A value holds no more than the input had. */
        FUZZ_CHECK(strlen(challenge.realm) <= size && strlen(challenge.service) <= size &&
                   strlen(challenge.scope) <= size);
    }
    char *token = NULL;
    uint64_t lifetime = 0;
    if (upstream_parse_token_response((const char *)data, size, &token, &lifetime) == 0) {
        FUZZ_CHECK(token != NULL && token[0] != '\0' && lifetime > 0);
        for (const char *c = token; *c != '\0'; c++)
            FUZZ_CHECK((unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f);
        free(token);
    }
    int64_t first, last, total;
    if (upstream_parse_content_range((const char *)data, size, &first, &last, &total) == 0)
        FUZZ_CHECK(first >= 0 && first <= last && (total == -1 || last < total));
    return 0;
}

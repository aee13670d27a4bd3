/* tests/fuzz/fuzz_router.c — route_parse() over any raw request path. */
#include <string.h>

#include "layout/digest.h"
#include "layout/names.h"
#include "src/http/router.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct route route;
    int result = route_parse((const char *)data, size, &route);
    if (result == 0) {
        size_t name_length = strlen(route.name);
        FUZZ_CHECK(name_length <= REPOSITORY_NAME_MAX);
        if (route.kind != ROUTE_BASE && route.kind != ROUTE_CATALOG)
            FUZZ_CHECK(repository_name_validate(route.name, name_length) == 0);
        FUZZ_CHECK(route.reference_length < ROUTE_REFERENCE_MAX);
        /* The reference is split out as raw bytes (a NUL included: h2o's
         * HTTP/1 parser refuses one, HTTP/2 may not); every grammar a handler
         * checks it with refuses what is not exactly the bytes it measured. */
        if (!route.reference_too_long && strlen(route.reference) != route.reference_length) {
            struct digest digest;
            FUZZ_CHECK(tag_validate(route.reference, route.reference_length) < 0);
            FUZZ_CHECK(upload_id_validate(route.reference, route.reference_length) < 0);
            FUZZ_CHECK(digest_parse(route.reference, route.reference_length, &digest) < 0);
        }
    }
    return 0;
}

/* tests/fuzz/fuzz_query.c — query_get() over any raw query string, for
 * every parameter cairn reads; a decoded value must encode (query_encode)
 * and decode back to itself. */
#include <string.h>

#include "src/http/query.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"digest", "mount", "from", "n", "last", "artifactType"};
    static const size_t sizes[] = {1, 2, 32, 140, 512, 4096};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            char value[4096];
            int found = query_get((const char *)data, size, keys[k], value, sizes[s]);
            FUZZ_CHECK(found == 1 || found == 0 || found < 0);
            if (found != 1)
                continue;
            size_t length = strlen(value);
            FUZZ_CHECK(length < sizes[s]);
            char encoded[3 * 4096 + 1], again[4096];
            int encoded_length = query_encode(value, encoded, sizeof encoded);
            FUZZ_CHECK(encoded_length >= 0 && (size_t)encoded_length == strlen(encoded));
            char pair[3 * 4096 + 8];
            int pair_length = snprintf(pair, sizeof pair, "k=%s", encoded);
            FUZZ_CHECK(query_get(pair, (size_t)pair_length, "k", again, sizeof again) == 1);
            FUZZ_CHECK(strcmp(again, value) == 0);
        }
    }
    return 0;
}

/* tests/fuzz/fuzz_digest.c — digest_parse() and digest_algorithm_parse()
 * over any bytes: what a parsed digest holds is its own canonical form. */
#include <string.h>

#include "layout/digest.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct digest digest;
    if (digest_parse((const char *)data, size, &digest) == 0) {
        FUZZ_CHECK(digest.string_length == size && memcmp(digest.string, data, size) == 0);
        FUZZ_CHECK(strlen(digest.string) == digest.string_length);
        const char *name = digest_algorithm_name(digest.algorithm);
        size_t name_length = strlen(name);
        FUZZ_CHECK(memcmp(digest.string, name, name_length) == 0 &&
                   digest.string[name_length] == ':');
        FUZZ_CHECK(digest_hex(&digest) == digest.string + name_length + 1);
        struct digest again;
        FUZZ_CHECK(digest_parse(digest.string, digest.string_length, &again) == 0 &&
                   digest_equal(&digest, &again));
    }
    enum digest_algorithm algorithm;
    if (digest_algorithm_parse((const char *)data, size, &algorithm) == 0) {
        const char *name = digest_algorithm_name(algorithm);
        FUZZ_CHECK(strlen(name) == size && memcmp(name, data, size) == 0);
    }
    return 0;
}

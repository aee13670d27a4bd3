/* tests/fuzz/fuzz_range.c — range_parse() (a blob GET's Range) and
 * content_range_parse() (an upload chunk's Content-Range) over any header
 * value. The first 12 bytes give the body length (4, little-endian) and
 * the blob size (8, the top bit dropped). */
#include <string.h>

#include "src/http/range.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12)
        return 0;
    uint32_t body_length;
    uint64_t raw_size;
    memcpy(&body_length, data, 4);
    memcpy(&raw_size, data + 4, 8);
    int64_t blob_size = (int64_t)(raw_size >> 1);
    data += 12;
    size -= 12;

    int64_t first = -7, last = -7;
    int applies = range_parse((const char *)data, size, blob_size, &first, &last);
    FUZZ_CHECK(applies >= -1 && applies <= 1);
    if (applies == 1)
        FUZZ_CHECK(0 <= first && first <= last && last < blob_size);
    FUZZ_CHECK(range_parse(NULL, 0, blob_size, &first, &last) == 0);

    int64_t start = -7;
    if (content_range_parse((const char *)data, size, body_length, &start) == 0)
        FUZZ_CHECK(start >= 0 && (uint64_t)start <= UINT64_MAX - body_length);
    return 0;
}

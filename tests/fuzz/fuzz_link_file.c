/* tests/fuzz/fuzz_link_file.c — link_file_parse() over any file content,
 * and link_file_read() of the same bytes from a file: both agree. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "layout/link_file.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct digest digest;
    int parsed = link_file_parse((const char *)data, size, &digest);
    if (parsed == 0)
        FUZZ_CHECK(digest.string_length == size && memcmp(digest.string, data, size) == 0);
    else
        FUZZ_CHECK(parsed == -EINVAL);

    char path[64];
    int fd = fuzz_file_open(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    struct digest read_back;
    int read_result = link_file_read(path, &read_back);
    close(fd);
    FUZZ_CHECK((read_result == 0) == (parsed == 0));
    if (parsed == 0)
        FUZZ_CHECK(digest_equal(&digest, &read_back));
    return 0;
}

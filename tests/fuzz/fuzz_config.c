/* tests/fuzz/fuzz_config.c — config_load() over any YAML file: it loads (and
 * releases cleanly) or refuses with a message, never anything else. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "layout/error.h"
#include "src/config/config.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_file_open(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    struct config config;
    int result = config_load(path, &config);
    close(fd);
    if (result == 0)
        config_release(&config);
    else
        FUZZ_CHECK(result < 0 && error_message()[0] != '\0');
    return 0;
}

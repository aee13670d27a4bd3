/* tests/fuzz/fuzz_htpasswd.c — htpasswd_load() over any file content, and
 * basic_credentials_parse() over the same bytes as an Authorization value.
 * No password is checked: bcrypt would make every input take milliseconds. */
#include <string.h>
#include <unistd.h>

#include "src/auth/htpasswd.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_file_open(data, size, path, sizeof path);
    if (fd >= 0) {
        struct htpasswd *table = NULL;
        if (htpasswd_load(path, &table) == 0) {
            FUZZ_CHECK(table != NULL);
            FUZZ_CHECK(htpasswd_user_count(table) <= size);
            htpasswd_free(table);
        }
        close(fd);
    }

    char user[256], password[256];
    if (basic_credentials_parse((const char *)data, size, user, sizeof user, password,
                                sizeof password) == 0) {
        FUZZ_CHECK(user[0] != '\0' && strlen(user) < sizeof user);
        FUZZ_CHECK(strlen(password) < sizeof password);
        FUZZ_CHECK(strchr(user, ':') == NULL);
    }
    return 0;
}

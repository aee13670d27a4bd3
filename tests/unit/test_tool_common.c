/* Unit tests for tools/tool_common.c: durations and the root directory. */
#include "test_support.h"

#include <errno.h>
#include <string.h>

#include "layout/error.h"
#include "layout/tree.h"
#include "tools/tool_common.h"

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        long long seconds;
    } good[] = {{"0", 0},       {"0s", 0},          {"90s", 90},     {"15m", 900},
                {"1h", 3600},   {"168h", 604800},   {"1h30m", 5400}, {"1.5h", 5400},
                {"3600", 3600}, {"2h45m30s", 9930}, {"1500ms", -1},  {"2000ms", 2},
                {"+5s", 5},     {"007", 7}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        long long seconds = -42;
        int result = tool_parse_duration(good[i].text, &seconds);
        if (good[i].seconds < 0) {
            assert_int_equal(result, -EINVAL); /* not whole seconds */
            continue;
        }
        assert_int_equal(result, 0);
        assert_int_equal(seconds, good[i].seconds);
    }
    static const char *const bad[] = {
        "", "h", "1x", "-1s", "1 h", "1h-5m", "s1", "99999999999999999999", "1e3s", ".s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long long seconds = -42;
        assert_int_equal(tool_parse_duration(bad[i], &seconds), -EINVAL);
        assert_int_equal(seconds, -42);
    }
}

static void test_root_from_arguments(void **state)
{
    (void)state;
    char out[TREE_PATH_MAX], path[PATH_MAX], htpasswd[PATH_MAX + 16], text[2 * PATH_MAX];
    struct config config;
    char *root = support_root_create();
    assert_int_equal(tool_settings_from_arguments("/srv/registry//", NULL, &config, out), 0);
    assert_string_equal(out, "/srv/registry");
    assert_int_equal(config.s3_enabled, 0);
    config_release(&config);
    assert_int_equal(tool_settings_from_arguments(NULL, NULL, &config, out), -EINVAL);
    assert_int_equal(tool_settings_from_arguments("/a", "/b", &config, out), -EINVAL);

    support_path(path, "%s/config.yml", root);
    support_write_string(path, "version: 0.1\n"
                               "log:\n  level: info\n"
                               "storage:\n"
                               "  delete:\n    enabled: true\n"
                               "  filesystem:\n    rootdirectory: /var/lib/registry\n"
                               "    maxthreads: 100\n"
                               "http:\n  addr: :5000\n");
    assert_int_equal(tool_settings_from_arguments(NULL, path, &config, out), 0);
    assert_string_equal(out, "/var/lib/registry");
    config_release(&config);

    support_write_string(path, "storage:\n  filesystem:\n    rootdirectory: \"/data dir/\"\n");
    assert_int_equal(tool_settings_from_arguments(NULL, path, &config, out), 0);
    assert_string_equal(out, "/data dir");
    config_release(&config);

    /* No key (or null): the server's default. */
    const char *no_root[] = {"http:\n  addr: :5000\n",
                             "storage:\n  filesystem:\n    rootdirectory: ~\n", ""};
    for (size_t i = 0; i < sizeof no_root / sizeof no_root[0]; i++) {
        support_write_string(path, no_root[i]);
        assert_int_equal(tool_settings_from_arguments(NULL, path, &config, out), 0);
        assert_string_equal(out, CONFIG_DEFAULT_ROOT_DIRECTORY);
        config_release(&config);
    }

    support_write_string(path, "storage:\n  filesystem:\n    rootdirectory: [a, b]\n");
    assert_int_equal(tool_settings_from_arguments(NULL, path, &config, out), -EINVAL);
    support_write_string(path, "storage: [unclosed\n");
    assert_int_equal(tool_settings_from_arguments(NULL, path, &config, out), -EINVAL);

    /* What the server would refuse at start is refused here: a missing
     * htpasswd file, a missing TLS certificate, unknown cairn keys. */
    support_path(htpasswd, "%s/missing-htpasswd", root);
    snprintf(text, sizeof text, "auth:\n  htpasswd:\n    realm: r\n    path: %s\n", htpasswd);
    support_write_string(path, text);
    assert_true(tool_settings_from_arguments(NULL, path, &config, out) < 0);
    assert_non_null(strstr(error_message(), "missing-htpasswd"));
    snprintf(text, sizeof text, "http:\n  tls:\n    certificate: %s/no.crt\n    key: %s/no.key\n",
             root, root);
    support_write_string(path, text);
    assert_true(tool_settings_from_arguments(NULL, path, &config, out) < 0);
    assert_non_null(strstr(error_message(), "no.crt"));
    support_write_string(path, "cairn:\n  no_such_key: 1\n");
    assert_int_equal(tool_settings_from_arguments(NULL, path, &config, out), -EINVAL);

    support_path(path, "%s/missing.yml", root);
    assert_int_equal(tool_settings_from_arguments(NULL, path, &config, out), -ENOENT);
    support_root_remove(root);
}

static void test_small_helpers(void **state)
{
    (void)state;
    char size[32];
    tool_format_size(512, size);
    assert_string_equal(size, "512 B");
    tool_format_size(1536, size);
    assert_string_equal(size, "1.5 KiB");
    tool_format_size(3ULL << 30, size);
    assert_string_equal(size, "3.0 GiB");
    struct timespec a = {.tv_sec = 10, .tv_nsec = 900000000}, b = {.tv_sec = 12, .tv_nsec = 0};
    assert_true(tool_seconds_between(&a, &b) > 1.09 && tool_seconds_between(&a, &b) < 1.11);
    assert_int_equal(tool_is_terminal(-1), 0);
    char *buffer = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&buffer, &length);
    assert_non_null(stream);
    tool_json_print_string(stream, "a\"b\\c\n\x01");
    fclose(stream);
    assert_string_equal(buffer, "\"a\\\"b\\\\c\\n\\u0001\"");
    free(buffer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_root_from_arguments),
        cmocka_unit_test(test_small_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

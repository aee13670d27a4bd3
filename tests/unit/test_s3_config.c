/* Unit tests for the storage.s3 section: read by src/config/config.c into
 * drivers/s3_config.h's plain struct, resolved by the driver (environment
 * credentials, endpoint), and checked (s3_settings_check) as the server and
 * the tools check it. */
#include "test_support.h"

#include <errno.h>

#include "drivers/s3_config.h"
#include "layout/error.h"
#include "src/config/config.h"

struct fixture {
    char *root;
    char path[PATH_MAX];
};

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    fixture->root = support_root_create();
    snprintf(fixture->path, sizeof fixture->path, "%s/config.yml", fixture->root);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    support_root_remove(fixture->root);
    free(fixture);
    return 0;
}

/* Loads "storage:\n  filesystem: ...\n  s3:\n" followed by `keys` (each
 * line indented by the caller with four spaces): the s3 keys start at line
 * 5 of the file. */
static int load_s3(struct fixture *fixture, const char *keys, struct config *config)
{
    FILE *file = fopen(fixture->path, "w");
    assert_non_null(file);
    fprintf(file, "storage:\n  filesystem:\n    rootdirectory: /srv/tree\n  s3:\n%s", keys);
    assert_int_equal(fclose(file), 0);
    return config_load(fixture->path, config);
}

static void expect_loaded(struct fixture *fixture, const char *keys, struct config *config)
{
    if (load_s3(fixture, keys, config) != 0)
        fail_msg("keys:\n%s\nfailed: %s", keys, error_message());
    assert_int_equal(config->s3_enabled, 1);
}

/* The message must be "<path>:<line>: <expected>...". */
static void expect_refused(struct fixture *fixture, const char *keys, unsigned line,
                           const char *expected)
{
    struct config config;
    char wanted[PATH_MAX + 400];
    snprintf(wanted, sizeof wanted, "%s:%u: %s", fixture->path, line, expected);
    int result = load_s3(fixture, keys, &config);
    if (result != -EINVAL || strncmp(error_message(), wanted, strlen(wanted)) != 0)
        fail_msg("keys:\n%s\nresult %d, message \"%s\", wanted \"%s\"", keys, result,
                 error_message(), wanted);
}

static void test_distribution_keys(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_loaded(fixture,
                  "    accesskey: AKIDEXAMPLE\n"
                  "    secretkey: wJalrXUtnFEMI\n"
                  "    region: eu-central-1\n"
                  "    regionendpoint: https://minio.example:9000\n"
                  "    bucket: registry-blobs\n"
                  "    rootdirectory: /cairn\n"
                  "    forcepathstyle: TRUE\n"
                  "    secure: no\n"
                  "    skipverify: yes\n"
                  "    chunksize: 5242880\n",
                  &config);
    const struct s3_settings *s3 = &config.s3;
    assert_string_equal(s3->access_key, "AKIDEXAMPLE");
    assert_string_equal(s3->secret_key, "wJalrXUtnFEMI");
    assert_string_equal(s3->region, "eu-central-1");
    /* A scheme written wins over `secure`. */
    assert_string_equal(s3->endpoint, "https://minio.example:9000");
    assert_string_equal(s3->bucket, "registry-blobs");
    assert_string_equal(s3->root_directory, "/cairn");
    assert_int_equal(s3->path_style, 1);
    assert_int_equal(s3->skip_verify, 1);
    assert_int_equal(s3->part_size, S3_CONFIG_CHUNK_SIZE_MIN);
    /* cairn's own keys keep the driver's defaults. */
    assert_int_equal(s3->upload_concurrency, S3_DEFAULT_UPLOAD_CONCURRENCY);
    assert_int_equal(s3->attempts, S3_DEFAULT_ATTEMPTS);
    assert_int_equal(s3->connect_timeout_ms, S3_DEFAULT_CONNECT_TIMEOUT_MS);
    assert_int_equal(s3->request_timeout_ms, S3_DEFAULT_REQUEST_TIMEOUT_MS);
    assert_int_equal(s3->presign_expiry_seconds, S3_DEFAULT_PRESIGN_EXPIRY_SECONDS);
    assert_int_equal(config.warning_count, 0);
    assert_int_equal(s3_settings_check(s3), 0);
    config_release(&config);

    /* Without regionendpoint: AWS's endpoint for the region, over https
     * (or http with secure: false); Distribution's virtual-hosted style. */
    expect_loaded(fixture, "    accesskey: a\n    secretkey: s\n    bucket: b\n", &config);
    assert_string_equal(config.s3.endpoint, "https://s3." S3_DEFAULT_REGION ".amazonaws.com");
    assert_int_equal(config.s3.path_style, 0);
    assert_int_equal(config.s3.part_size, S3_DEFAULT_PART_SIZE);
    config_release(&config);
    expect_loaded(fixture,
                  "    accesskey: a\n    secretkey: s\n    bucket: b\n    secure: false\n"
                  "    regionendpoint: 10.0.0.1:9000///\n",
                  &config);
    assert_string_equal(config.s3.endpoint, "http://10.0.0.1:9000");
    config_release(&config);
}

static void test_cairn_keys(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_loaded(fixture,
                  "    accesskey: a\n    secretkey: s\n    bucket: b\n"
                  "    uploadconcurrency: 64\n"
                  "    attempts: 10\n"
                  "    connecttimeout: 5m\n"
                  "    requesttimeout: 1h\n"
                  "    presignexpiry: 168h\n",
                  &config);
    assert_int_equal(config.s3.upload_concurrency, S3_CONFIG_UPLOAD_CONCURRENCY_MAX);
    assert_int_equal(config.s3.attempts, S3_CONFIG_ATTEMPTS_MAX);
    assert_int_equal(config.s3.connect_timeout_ms, 300000);
    assert_int_equal(config.s3.request_timeout_ms, 3600000);
    assert_int_equal(config.s3.presign_expiry_seconds, S3_CONFIG_PRESIGN_EXPIRY_MAX_SECONDS);
    config_release(&config);

    static const struct {
        const char *line, *message;
    } refused[] = {
        {"    uploadconcurrency: 65\n",
         "storage.s3.uploadconcurrency: must be a whole number from 1 to 64"},
        {"    uploadconcurrency: 0\n",
         "storage.s3.uploadconcurrency: must be a whole number from 1 to 64"},
        {"    attempts: 11\n", "storage.s3.attempts: must be a whole number from 1 to 10"},
        {"    attempts: 2x\n", "storage.s3.attempts: must be a whole number from 1 to 10"},
        {"    chunksize: 5368709121\n",
         "storage.s3.chunksize: must be a whole number from 5242880 to 5368709120"},
        {"    connecttimeout: 0s\n", "storage.s3.connecttimeout: must be from 1s to 300s"},
        {"    connecttimeout: 6m\n", "storage.s3.connecttimeout: must be from 1s to 300s"},
        {"    requesttimeout: 2h\n", "storage.s3.requesttimeout: must be from 1s to 3600s"},
        {"    presignexpiry: 169h\n", "storage.s3.presignexpiry: must be from 1s to 604800s"},
        {"    presignexpiry: soon\n", "storage.s3.presignexpiry: "},
        {"    forcepathstyle: maybe\n", "storage.s3.forcepathstyle: must be true or false"},
        {"    secure: [true]\n", "storage.s3.secure: must be a single value"},
        {"    bucket: \"a\\tb\"\n", "storage.s3.bucket: holds a control character"},
        {"    rootdirectory: /a/../b\n", "storage.s3.rootdirectory: "},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char keys[256];
        snprintf(keys, sizeof keys, "    accesskey: a\n    secretkey: s\n%s    bucket: b\n",
                 refused[i].line);
        expect_refused(fixture, keys, 7, refused[i].message);
    }
}

static void test_environment_credentials(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    setenv("AWS_ACCESS_KEY_ID", "ENV-AK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "ENV-SK", 1);
    expect_loaded(fixture, "    bucket: b\n", &config);
    assert_string_equal(config.s3.access_key, "ENV-AK");
    assert_string_equal(config.s3.secret_key, "ENV-SK");
    config_release(&config);
    /* The file wins, key by key. */
    expect_loaded(fixture, "    bucket: b\n    accesskey: FILE-AK\n", &config);
    assert_string_equal(config.s3.access_key, "FILE-AK");
    assert_string_equal(config.s3.secret_key, "ENV-SK");
    config_release(&config);

    /* "s3:" with nothing under it: every key from defaults and the
     * environment, so the bucket is missing (at the section's line). */
    expect_refused(fixture, "", 4, "storage.s3.bucket: is required");

    unsetenv("AWS_SECRET_ACCESS_KEY");
    expect_refused(fixture, "    bucket: b\n    accesskey: a\n", 5,
                   "storage.s3.accesskey: no credentials: set accesskey and secretkey, or "
                   "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment");
}

static void test_errors_point_at_their_line(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    memset(&config, 0x5a, sizeof config);
    struct config before = config;
    FILE *file = fopen(fixture->path, "w");
    assert_non_null(file);
    fputs("storage:\n  s3: [a, b]\n", file);
    assert_int_equal(fclose(file), 0);
    assert_int_equal(config_load(fixture->path, &config), -EINVAL);
    assert_non_null(strstr(error_message(), ":2: storage.s3: must be a mapping of keys"));
    assert_memory_equal(&config, &before, sizeof config); /* nothing half-applied */

    const char *credentials = "    accesskey: a\n    secretkey: s\n    bucket: b\n";
    char keys[512];
    snprintf(keys, sizeof keys, "%s    region: \"\"\n", credentials);
    expect_refused(fixture, keys, 5, "storage.s3.region: must not be empty");
    /* Endpoint errors point at regionendpoint's own line. */
    snprintf(keys, sizeof keys, "%s    regionendpoint: ftp://host\n", credentials);
    expect_refused(fixture, keys, 8,
                   "storage.s3.regionendpoint: only http:// and https:// endpoints are supported");
    snprintf(keys, sizeof keys, "%s    regionendpoint: host:9000/path\n", credentials);
    expect_refused(fixture, keys, 8,
                   "storage.s3.regionendpoint: must be a scheme and host[:port] without a path "
                   "(got host:9000/path)");
    snprintf(keys, sizeof keys, "%s    regionendpoint: http://user@host\n", credentials);
    expect_refused(fixture, keys, 8, "storage.s3.regionendpoint: must be a scheme and host");
}

static void test_warnings(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_loaded(fixture,
                  "    accesskey: a\n    secretkey: s\n    bucket: b\n"
                  "    encrypt: true\n"
                  "    storageclass: REDUCED_REDUNDANCY\n"
                  "    multipartcopythresholdsize: 33554432\n"
                  "    colour: blue\n",
                  &config);
    assert_int_equal(config.warning_count, 4);
    char wanted[PATH_MAX + 200];
    snprintf(wanted, sizeof wanted, "%s:8: storage.s3.encrypt is not used by cairn", fixture->path);
    assert_string_equal(config.warnings[0], wanted);
    assert_non_null(strstr(config.warnings[1], ":9: storage.s3.storageclass is not used by cairn"));
    assert_non_null(
        strstr(config.warnings[2], ":10: storage.s3.multipartcopythresholdsize is not used"));
    assert_non_null(strstr(config.warnings[3],
                           ":11: storage.s3.colour is not a Distribution or cairn key, ignored"));
    config_release(&config);

    /* Every key of the list is known to be Distribution's. */
    for (size_t i = 0; s3_config_distribution_only[i] != NULL; i++) {
        char keys[256];
        snprintf(keys, sizeof keys,
                 "    accesskey: a\n    secretkey: s\n    bucket: b\n    %s: x\n",
                 s3_config_distribution_only[i]);
        expect_loaded(fixture, keys, &config);
        assert_int_equal(config.warning_count, 1);
        assert_non_null(strstr(config.warnings[0], "is not used by cairn"));
        config_release(&config);
    }

    /* s3 without a filesystem section: where the tree is kept. */
    FILE *file = fopen(fixture->path, "w");
    assert_non_null(file);
    fputs("storage:\n  s3:\n    accesskey: a\n    secretkey: s\n    bucket: b\n", file);
    assert_int_equal(fclose(file), 0);
    assert_int_equal(config_load(fixture->path, &config), 0);
    assert_int_equal(config.warning_count, 1);
    assert_non_null(
        strstr(config.warnings[0],
               ":2: storage.s3: blobs go to the bucket; the tree "
               "(tags, links, manifests, uploads) is kept in " CONFIG_DEFAULT_ROOT_DIRECTORY));
    config_release(&config);
}

/* The driver's half, without any file. */
static void test_resolve(void **state)
{
    (void)state;
    struct s3_config section;
    struct s3_settings settings;
    const char *bad_key = NULL;
    s3_config_defaults(&section);
    assert_int_equal(section.settings.path_style, 0);
    assert_int_equal(section.secure, 1);
    assert_string_equal(section.settings.region, S3_DEFAULT_REGION);

    assert_int_equal(s3_config_resolve(&section, &settings, &bad_key), -EINVAL);
    assert_string_equal(bad_key, "bucket");
    assert_string_equal(error_message(), "storage.s3.bucket: is required");

    strcpy(section.settings.bucket, "b");
    assert_int_equal(s3_config_resolve(&section, &settings, &bad_key), -EINVAL);
    assert_string_equal(bad_key, "accesskey");

    strcpy(section.settings.access_key, "a");
    strcpy(section.settings.secret_key, "s");
    strcpy(section.region_endpoint, "s3.internal:443");
    assert_int_equal(s3_config_resolve(&section, &settings, &bad_key), 0);
    assert_string_equal(settings.endpoint, "https://s3.internal:443");
    assert_string_equal(section.settings.endpoint, ""); /* the section is not changed */

    strcpy(section.region_endpoint, "https://");
    assert_int_equal(s3_config_resolve(&section, &settings, &bad_key), -EINVAL);
    assert_string_equal(bad_key, "regionendpoint");

    section.region_endpoint[0] = '\0';
    section.settings.region[0] = '\0';
    assert_int_equal(s3_config_resolve(&section, &settings, &bad_key), -EINVAL);
    assert_string_equal(bad_key, "region");
}

static void test_settings_check(void **state)
{
    (void)state;
    struct s3_settings settings;
    s3_settings_defaults(&settings);
    assert_int_equal(s3_settings_check(&settings), -EINVAL);
    assert_string_equal(error_message(), "storage.s3.bucket is not set");
    strcpy(settings.bucket, "b");
    strcpy(settings.access_key, "a");
    assert_int_equal(s3_settings_check(&settings), -EINVAL);
    assert_non_null(strstr(error_message(), "no S3 credentials"));
    strcpy(settings.secret_key, "s");
    strcpy(settings.root_directory, "x//y");
    assert_int_equal(s3_settings_check(&settings), -EINVAL);
    assert_int_equal(strncmp(error_message(), "storage.s3.rootdirectory: ", 26), 0);
    strcpy(settings.root_directory, "/registry/");
    assert_int_equal(s3_settings_check(&settings), 0);

    /* Where the bucket is needs a restart; the rest follows a reload. */
    struct s3_settings running = settings, reloaded = settings;
    strcpy(reloaded.secret_key, "rotated");
    reloaded.attempts = 2;
    assert_int_equal(s3_settings_differ_in_place(&reloaded, &running), 0);
    strcpy(reloaded.bucket, "elsewhere");
    reloaded.path_style = !running.path_style;
    assert_int_equal(s3_settings_differ_in_place(&reloaded, &running), 1);
    s3_settings_keep_place(&reloaded, &running);
    assert_int_equal(s3_settings_differ_in_place(&reloaded, &running), 0);
    assert_string_equal(reloaded.bucket, "b");
    assert_string_equal(reloaded.secret_key, "rotated");
    assert_int_equal(reloaded.attempts, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_distribution_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cairn_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_point_at_their_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_warnings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings_check, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

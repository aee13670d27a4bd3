/* Unit tests for src/config/config.h (and the command line of src/config/options.h). */
#include "test_support.h"

#include <errno.h>

#include "layout/error.h"
#include "src/config/config.h"
#include "src/config/options.h"

/* Each test writes its YAML to <root>/config.yml. */
struct fixture {
    char *root;
    char path[PATH_MAX];
};

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    fixture->root = support_root_create();
    snprintf(fixture->path, sizeof fixture->path, "%s/config.yml", fixture->root);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    support_root_remove(fixture->root);
    free(fixture);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_int_equal(fputs(text, file) >= 0, 1);
    assert_int_equal(fclose(file), 0);
}

static int load(struct fixture *fixture, const char *text, struct config *config)
{
    write_text(fixture->path, text);
    return config_load(fixture->path, config);
}

/* Loads `text`, which must fail with `expected` in the message (which starts
 * with the path). */
static void expect_error(struct fixture *fixture, const char *text, const char *expected)
{
    struct config config;
    memset(&config, 0x5a, sizeof config);
    struct config before = config;
    int result = load(fixture, text, &config);
    if (result != -EINVAL || strstr(error_message(), expected) == NULL)
        fail_msg("YAML:\n%s\nresult %d, message \"%s\", wanted \"%s\"", text, result,
                 error_message(), expected);
    assert_memory_equal(&config, &before, sizeof config); /* untouched */
    assert_int_equal(strncmp(error_message(), fixture->path, strlen(fixture->path)), 0);
}

/* Loads `text`, which must succeed with exactly `count` warnings, the first
 * one containing `expected` (if not NULL). The caller releases. */
static void expect_warnings(struct fixture *fixture, const char *text, struct config *config,
                            size_t count, const char *expected)
{
    int result = load(fixture, text, config);
    if (result != 0)
        fail_msg("YAML:\n%s\nfailed: %s", text, error_message());
    if (config->warning_count != count) {
        for (size_t i = 0; i < config->warning_count; i++)
            print_message("warning: %s\n", config->warnings[i]);
        fail_msg("%zu warnings, wanted %zu", config->warning_count, count);
    }
    if (expected != NULL && strstr(config->warnings[0], expected) == NULL)
        fail_msg("warning \"%s\" lacks \"%s\"", config->warnings[0], expected);
}

static void test_defaults(void **state)
{
    (void)state;
    struct config config;
    config_defaults(&config);
    assert_null(config.source_path);
    assert_int_equal(config.log_level, LOG_LEVEL_INFO);
    assert_int_equal(config.log_format, LOG_FORMAT_TEXT);
    assert_int_equal(config.access_log, 1);
    assert_string_equal(config.root_directory, "./data");
    assert_int_equal(config.delete_enabled, 1);
    assert_int_equal(config.upload_purging_enabled, 1);
    assert_int_equal(config.upload_purging_age_seconds, 168 * 3600);
    assert_int_equal(config.upload_purging_interval_seconds, 24 * 3600);
    assert_int_equal(config.read_only, 0);
    assert_string_equal(config.listen_address, "127.0.0.1:5000");
    assert_null(config.tls_certificate);
    assert_null(config.tls_key);
    assert_int_equal(config.tls_client_ca_count, 0);
    assert_int_equal(config.tls_minimum_version, 0x0303);
    assert_string_equal(config.debug_address, "");
    assert_null(config.htpasswd_path);
    assert_null(config.token_realm);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(config.threads, cores > 0 ? (unsigned)cores : 1);
    assert_int_equal(config.workers, 4);
    assert_int_equal(config.max_body_size, 16ULL << 30);
    assert_null(config.body_temporary_directory);
    assert_int_equal(config.request_timeout_seconds, 900);
    assert_int_equal(config.shutdown_grace_seconds, 30);
    assert_int_equal(config.anonymous_pull, 0);
    assert_int_equal(config.automatic_mount, 1);
    assert_int_equal(config.group_count, 0);
    assert_int_equal(config.access_rule_count, 0);
    assert_int_equal(config.warning_count, 0);
    config_release(&config);
}

static void test_empty_file_is_defaults(void **state)
{
    struct fixture *fixture = *state;
    const char *texts[] = {"",         "# only a comment\n",      "---\n", "version: 0.1\n",
                           "cairn:\n", "storage: ~\nhttp: null\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct config config, defaults;
        config_defaults(&defaults);
        expect_warnings(fixture, texts[i], &config, 0, NULL);
        assert_string_equal(config.source_path, fixture->path);
        assert_string_equal(config.root_directory, defaults.root_directory);
        assert_string_equal(config.listen_address, defaults.listen_address);
        assert_int_equal(config.threads, defaults.threads);
        assert_int_equal(config.max_body_size, defaults.max_body_size);
        config_release(&config);
    }
}

static const char every_key[] = "version: 0.1\n"
                                "log:\n"
                                "  level: debug\n"
                                "  formatter: json\n"
                                "  accesslog:\n"
                                "    disabled: true\n"
                                "storage:\n"
                                "  filesystem:\n"
                                "    rootdirectory: /srv/registry\n"
                                "  delete:\n"
                                "    enabled: false\n"
                                "  maintenance:\n"
                                "    uploadpurging:\n"
                                "      enabled: false\n"
                                "      age: 72h\n"
                                "      interval: 1h30m\n"
                                "      dryrun: false\n"
                                "    readonly:\n"
                                "      enabled: yes\n"
                                "http:\n"
                                "  addr: \"[::]:5443\"\n"
                                "  tls:\n"
                                "    certificate: certs/server.pem\n"
                                "    key: certs/server.key\n"
                                "    clientcas:\n"
                                "      - certs/ca1.pem\n"
                                "      - /etc/ca2.pem\n"
                                "    minimumtls: tls1.3\n"
                                "  debug:\n"
                                "    addr: localhost:5001\n"
                                "auth:\n"
                                "  htpasswd:\n"
                                "    realm: my realm\n"
                                "    path: ./htpasswd\n"
                                "cairn:\n"
                                "  threads: 3\n"
                                "  workers: 7\n"
                                "  max_body_size: 512MiB\n"
                                "  body_temporary_directory: /var/tmp/cairn\n"
                                "  request_timeout: 30m\n"
                                "  shutdown_grace: 0\n"
                                "  anonymous_pull: true\n"
                                "  automatic_mount: off\n"
                                "  access:\n"
                                "    - subjects: [alice, \"group:team-a\"]\n"
                                "      repositories: [\"team-a/**\", \"shared/*\"]\n"
                                "      actions: [pull, push]\n"
                                "    - subjects: anonymous\n"
                                "      repositories: public/?\n"
                                "      actions: pull\n"
                                "    - subjects: \"*\"\n"
                                "      repositories: \"**\"\n"
                                "      actions: \"*\"\n"
                                "  groups:\n"
                                "    team-a: [bob, carol]\n"
                                "    admins:\n"
                                "      - dave\n"
                                "    nobody: []\n";

static void test_every_key(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_warnings(fixture, every_key, &config, 0, NULL);
    assert_int_equal(config.log_level, LOG_LEVEL_DEBUG);
    assert_int_equal(config.log_format, LOG_FORMAT_JSON);
    assert_int_equal(config.access_log, 0);
    assert_string_equal(config.root_directory, "/srv/registry");
    assert_int_equal(config.delete_enabled, 0);
    assert_int_equal(config.upload_purging_enabled, 0);
    assert_int_equal(config.upload_purging_age_seconds, 72 * 3600);
    assert_int_equal(config.upload_purging_interval_seconds, 5400);
    assert_int_equal(config.read_only, 1);
    assert_string_equal(config.listen_address, "[::]:5443");
    assert_string_equal(config.tls_certificate, "certs/server.pem"); /* relative: as given */
    assert_string_equal(config.tls_key, "certs/server.key");
    assert_int_equal(config.tls_client_ca_count, 2);
    assert_string_equal(config.tls_client_cas[0], "certs/ca1.pem");
    assert_string_equal(config.tls_client_cas[1], "/etc/ca2.pem");
    assert_int_equal(config.tls_minimum_version, 0x0304);
    assert_string_equal(config.debug_address, "localhost:5001");
    assert_string_equal(config.htpasswd_realm, "my realm");
    assert_string_equal(config.htpasswd_path, "./htpasswd");
    assert_null(config.token_realm);
    assert_int_equal(config.threads, 3);
    assert_int_equal(config.workers, 7);
    assert_int_equal(config.max_body_size, 512ULL << 20);
    assert_string_equal(config.body_temporary_directory, "/var/tmp/cairn");
    assert_int_equal(config.request_timeout_seconds, 1800);
    assert_int_equal(config.shutdown_grace_seconds, 0);
    assert_int_equal(config.anonymous_pull, 1);
    assert_int_equal(config.automatic_mount, 0);

    assert_int_equal(config.group_count, 3);
    assert_string_equal(config.groups[0].name, "team-a");
    assert_int_equal(config.groups[0].member_count, 2);
    assert_string_equal(config.groups[0].members[0], "bob");
    assert_string_equal(config.groups[0].members[1], "carol");
    assert_string_equal(config.groups[1].name, "admins");
    assert_int_equal(config.groups[1].member_count, 1);
    assert_string_equal(config.groups[1].members[0], "dave");
    assert_string_equal(config.groups[2].name, "nobody");
    assert_int_equal(config.groups[2].member_count, 0);

    assert_int_equal(config.access_rule_count, 3);
    const struct access_rule_spec *rule = &config.access_rules[0];
    assert_int_equal(rule->subject_count, 2);
    assert_string_equal(rule->subjects[0], "alice");
    assert_string_equal(rule->subjects[1], "group:team-a");
    assert_int_equal(rule->repository_count, 2);
    assert_string_equal(rule->repositories[0], "team-a/**");
    assert_string_equal(rule->repositories[1], "shared/*");
    assert_int_equal(rule->actions, ACCESS_PULL | ACCESS_PUSH);
    rule = &config.access_rules[1];
    assert_int_equal(rule->subject_count, 1);
    assert_string_equal(rule->subjects[0], "anonymous");
    assert_int_equal(rule->repository_count, 1);
    assert_string_equal(rule->repositories[0], "public/?");
    assert_int_equal(rule->actions, ACCESS_PULL);
    rule = &config.access_rules[2];
    assert_string_equal(rule->subjects[0], "*");
    assert_string_equal(rule->repositories[0], "**");
    assert_int_equal(rule->actions, ACCESS_PULL | ACCESS_PUSH | ACCESS_DELETE | ACCESS_CATALOG);
    config_release(&config);
    config_release(&config); /* released twice: harmless, the struct is zeroed */
}

static void test_token_auth(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_warnings(fixture,
                    "auth:\n"
                    "  token:\n"
                    "    realm: https://auth.example.com/token\n"
                    "    service: registry.example.com\n"
                    "    issuer: example-issuer\n"
                    "    rootcertbundle: /etc/cairn/token.pem\n"
                    "    jwks: /etc/cairn/jwks.json\n"
                    "    autoredirect: false\n",
                    &config, 1, "config.yml:8: auth.token.autoredirect is not used by cairn");
    assert_string_equal(config.token_realm, "https://auth.example.com/token");
    assert_string_equal(config.token_service, "registry.example.com");
    assert_string_equal(config.token_issuer, "example-issuer");
    assert_string_equal(config.token_root_certificate_bundle, "/etc/cairn/token.pem");
    assert_string_equal(config.token_jwks, "/etc/cairn/jwks.json");
    assert_null(config.htpasswd_path);
    config_release(&config);

    expect_warnings(fixture, "auth:\n  htpasswd:\n    path: /etc/htpasswd\n", &config, 0, NULL);
    assert_string_equal(config.htpasswd_realm, "cairn"); /* realm defaults */
    config_release(&config);
}

static void test_type_errors(void **state)
{
    struct fixture *fixture = *state;
    static const struct {
        const char *yaml, *message;
    } cases[] = {
        {"cairn:\n  threads: many\n",
         "config.yml:2: cairn.threads: expected a number from 1 to 1024, got \"many\""},
        {"cairn:\n  threads: 0\n", "config.yml:2: cairn.threads: expected a number from 1 to 1024"},
        {"cairn:\n  threads: 1025\n", ":2: cairn.threads: expected a number from 1 to 1024"},
        {"cairn:\n  threads: -1\n", ":2: cairn.threads: expected a number"},
        {"cairn:\n  threads: 2.5\n", ":2: cairn.threads: expected a number"},
        {"cairn:\n  threads: [1]\n",
         ":2: cairn.threads: expected a number from 1 to 1024, got a list"},
        {"cairn:\n\n\n  workers: 99999999999999999999\n", "config.yml:4: cairn.workers: expected"},
        {"cairn:\n  max_body_size: lots\n", ":2: cairn.max_body_size: expected a size"},
        {"cairn:\n  max_body_size: 0\n", ":2: cairn.max_body_size: must be at least 1 bytes"},
        {"cairn:\n  max_body_size: 16 gigs\n", ":2: cairn.max_body_size: expected a size"},
        {"cairn:\n  request_timeout: soon\n",
         ":2: cairn.request_timeout: expected a duration such as 90s"},
        {"cairn:\n  request_timeout: 500ms\n",
         ":2: cairn.request_timeout: durations here are whole seconds, got \"500ms\""},
        {"cairn:\n  request_timeout: 0s\n", ":2: cairn.request_timeout: must be at least 1s"},
        {"cairn:\n  shutdown_grace: -5s\n", ":2: cairn.shutdown_grace: expected a duration"},
        {"cairn:\n  anonymous_pull: maybe\n",
         ":2: cairn.anonymous_pull: expected true or false, got \"maybe\""},
        {"cairn:\n  automatic_mount: 1\n",
         ":2: cairn.automatic_mount: expected true or false, got \"1\""},
        {"cairn:\n  body_temporary_directory: {a: b}\n",
         ":2: cairn.body_temporary_directory: expected a string, got a mapping"},
        {"cairn:\n  body_temporary_directory: \"\"\n",
         ":2: cairn.body_temporary_directory: expected a string, got an empty string"},
        {"cairn: [threads]\n", "config.yml:1: cairn: expected a mapping, got a list"},
        {"- a\n- b\n", "config.yml:1: expected a mapping of sections"},
        {"version: 0.2\n", "config.yml:1: version: expected \"0.1\""},
        {"version: [0.1]\n", "config.yml:1: version: expected \"0.1\", got a list"},
        {"log:\n  level: loud\n",
         ":2: log.level: expected error, warn, info or debug, got \"loud\""},
        {"log:\n  formatter: xml\n", ":2: log.formatter: expected text or json, got \"xml\""},
        {"log:\n  accesslog:\n    disabled: nope\n", ":3: log.accesslog.disabled: expected true"},
        {"log: verbose\n", ":1: log: expected a mapping, got \"verbose\""},
        {"storage:\n  delete:\n    enabled: sure\n", ":3: storage.delete.enabled: expected true"},
        {"storage:\n  filesystem:\n    rootdirectory: [a]\n",
         ":3: storage.filesystem.rootdirectory: expected a string, got a list"},
        {"storage:\n  maintenance:\n    uploadpurging:\n      age: 100\n",
         ":4: storage.maintenance.uploadpurging.age: expected a duration"},
        {"storage:\n  maintenance:\n    uploadpurging:\n      interval: 0s\n",
         ":4: storage.maintenance.uploadpurging.interval: must be at least 1s"},
        {"storage:\n  maintenance:\n    readonly:\n      enabled: 2\n",
         ":4: storage.maintenance.readonly.enabled: expected true or false, got \"2\""},
        {"http:\n  addr: localhost\n", ":2: http.addr: expected HOST:PORT"},
        {"http:\n  addr: \":0\"\n", ":2: http.addr: expected a port from 1 to 65535"},
        {"http:\n  addr: \"::1:5000\"\n", ":2: http.addr: an IPv6 address goes in brackets"},
        {"http:\n  debug:\n    addr: :http\n", ":3: http.debug.addr: expected a port"},
        {"http:\n  net: unix\n", ":2: http.net: cairn listens on tcp only"},
        {"http:\n  tls:\n    minimumtls: ssl3\n",
         ":3: http.tls.minimumtls: expected tls1.2 or tls1.3, got \"ssl3\""},
        {"http:\n  tls:\n    certificate: a.pem\n    key: k.pem\n    clientcas: {a: 1}\n",
         ":5: http.tls.clientcas: expected a list of strings, got a mapping"},
        {"http:\n  tls:\n    certificate: a.pem\n    key: k.pem\n    clientcas:\n      - x\n      "
         "- "
         "[y]\n",
         ":7: http.tls.clientcas[1]: expected a string, got a list"},
        {"http:\n  tls:\n    certificate: a.pem\n",
         ":2: http.tls: certificate and key go together"},
        {"http:\n  tls:\n    clientcas: [ca.pem]\n", ":2: http.tls: clientcas needs a certificate"},
        {"auth:\n  htpasswd:\n    realm: r\n", "config.yml:2: auth.htpasswd: path is required"},
        {"auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n",
         ":2: auth.token: rootcertbundle or jwks is required"},
        {"auth:\n  token:\n    realm: r\n    jwks: j\n    issuer: i\n",
         ":2: auth.token: service is required"},
        {"auth:\n  htpasswd:\n    path: p\n  token:\n    realm: r\n",
         "config.yml:4: auth.token: auth.htpasswd and auth.token cannot both be configured (the "
         "other is at line 2)"},
        {"auth:\n  htpaswd:\n    path: p\n",
         ":2: auth.htpaswd: unknown authentication method (cairn has htpasswd and token)"},
        {"cairn:\n  groups: [a]\n", ":2: cairn.groups: expected a mapping, got a list"},
        {"cairn:\n  groups:\n    ops: [\"bad user\"]\n",
         ":3: cairn.groups.ops[0]: a user name has no blanks"},
        {"cairn:\n  groups:\n    \"a:b\": [x]\n", ":3: cairn.groups.a:b: a group name has no"},
        {"cairn:\n  access: {subjects: x}\n", ":2: cairn.access: expected a list of rules"},
        {"cairn:\n  access:\n    - alice\n", ":3: cairn.access[0]: expected a mapping"},
        {"cairn:\n  access:\n    - subjects: alice\n      repositories: \"**\"\n",
         "config.yml:3: cairn.access[0]: actions: missing"},
        {"cairn:\n  access:\n    - subjects: []\n      repositories: \"**\"\n      actions: pull\n",
         ":3: cairn.access[0]: subjects: must not be empty"},
        {"cairn:\n  access:\n    - subjects: a\n      repositories: \"**\"\n      actions: pull\n"
         "    - subjects: b\n      repositories: x\n      actions: [pull, write]\n",
         "config.yml:8: cairn.access[1].actions[1]: expected pull, push, delete, catalog or *, got "
         "\"write\""},
        {"cairn:\n  access:\n    - subjects: a\n      repositories: [ok, Team/*]\n      actions: "
         "pull\n",
         ":4: cairn.access[0].repositories[1]: expected a repository pattern"},
        {"cairn:\n  access:\n    - subjects: a\n      repositories: \"a/***\"\n      actions: "
         "pull\n",
         ":4: cairn.access[0].repositories: expected a repository pattern"},
        {"cairn:\n  access:\n    - subjects: [a, \"group:ghosts\"]\n      repositories: x\n      "
         "actions: pull\n",
         ":3: cairn.access[0].subjects[1]: no group \"ghosts\" in cairn.groups"},
        {"cairn:\n  access:\n    - subjects: a\n      repositories: x\n      actions: pull\n      "
         "when: always\n",
         ":6: cairn.access[0].when: unknown key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(fixture, cases[i].yaml, cases[i].message);
}

static void test_unknown_cairn_key(void **state)
{
    struct fixture *fixture = *state;
    expect_error(fixture, "version: 0.1\ncairn:\n  threads: 2\n  max_body: 1GiB\n",
                 "config.yml:4: cairn.max_body: unknown key");
}

static void test_yaml_errors(void **state)
{
    struct fixture *fixture = *state;
    expect_error(fixture, "storage:\n  delete: [\n", "config.yml:3: ");
    expect_error(fixture, "cairn:\n  threads: 2\n  threads: 3\n",
                 "config.yml:3: cairn.threads: duplicate key (first at line 2)");
    expect_error(fixture, "base: &base\n  threads: 2\ncairn:\n  <<: *base\n",
                 "config.yml:4: cairn: YAML merge keys (<<) are not supported");
    expect_error(fixture, "version: 0.1\n---\nversion: 0.1\n",
                 "config.yml:3: only one YAML document is allowed");
    expect_error(fixture, "? [a]\n: b\n", "config.yml:1: keys must be plain strings");

    struct config config;
    memset(&config, 0x5a, sizeof config);
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof missing, "%s/none.yml", fixture->root);
    assert_int_equal(config_load(missing, &config), -ENOENT);
    assert_non_null(strstr(error_message(), "none.yml: cannot open"));
}

static void test_aliases(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_warnings(fixture,
                    "x-users: &users [alice, bob]\n"
                    "cairn:\n"
                    "  groups:\n"
                    "    a: *users\n"
                    "    b: *users\n",
                    &config, 1, "config.yml:1: x-users is not a Distribution or cairn key");
    assert_int_equal(config.group_count, 2);
    assert_string_equal(config.groups[1].members[1], "bob");
    config_release(&config);
}

static void test_unused_distribution_keys(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_warnings(fixture, "version: 0.1\nstorage:\n  cache:\n    blobdescriptor: inmemory\n",
                    &config, 1, "config.yml:3: storage.cache is not used by cairn");
    config_release(&config);

    static const char *const sections[] = {"redis",         "health",     "validation",
                                           "compatibility", "middleware", "reporting",
                                           "loglevel",      "catalog",    "policy"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        char yaml[128], expected[128];
        snprintf(yaml, sizeof yaml, "version: 0.1\n%s:\n  anything: 1\n", sections[i]);
        snprintf(expected, sizeof expected, "config.yml:2: %s is not used by cairn", sections[i]);
        expect_warnings(fixture, yaml, &config, 1, expected);
        config_release(&config);
    }

    expect_warnings(fixture,
                    "http:\n"
                    "  addr: :5000\n"
                    "  host: https://registry.example.com\n"
                    "  prefix: /registry\n"
                    "  secret: s3cr3t\n"
                    "  relativeurls: false\n"
                    "  http2:\n"
                    "    disabled: false\n"
                    "  net: tcp\n"
                    "  headers:\n"
                    "    X-Content-Type-Options: [nosniff]\n"
                    "  tls:\n"
                    "    certificate: c\n"
                    "    key: k\n"
                    "    minimumtls: tls1.0\n"
                    "    ciphersuites: [TLS_AES_128_GCM_SHA256]\n"
                    "  debug:\n"
                    "    addr: :5001\n"
                    "    prometheus:\n"
                    "      enabled: true\n"
                    "log:\n"
                    "  fields:\n"
                    "    service: registry\n"
                    "  hooks: []\n"
                    "  formatter: logstash\n"
                    "stroage:\n"
                    "  filesystem: {}\n",
                    &config, 14, "config.yml:3: http.host is not used by cairn");
    const char *expected[] = {
        "config.yml:3: http.host is not used by cairn",
        "config.yml:4: http.prefix is not used by cairn",
        "config.yml:5: http.secret is not used by cairn",
        "config.yml:6: http.relativeurls is not used by cairn",
        "config.yml:7: http.http2 is not used by cairn",
        "config.yml:9: http.net is not used by cairn",
        "config.yml:10: http.headers is not used by cairn",
        "config.yml:15: http.tls.minimumtls: tls1.0 is below cairn's minimum, using tls1.2",
        "config.yml:16: http.tls.ciphersuites lists only TLS 1.3 suites",
        "config.yml:19: http.debug.prometheus is not used by cairn",
        "config.yml:22: log.fields is not used by cairn",
        "config.yml:24: log.hooks is not used by cairn",
        "config.yml:25: log.formatter: logstash is not supported, using json",
        "config.yml:26: stroage is not a Distribution or cairn key, ignored",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        assert_non_null(strstr(config.warnings[i], expected[i]));
    assert_int_equal(config.tls_minimum_version, 0x0303);
    assert_string_equal(config.tls_cipher_list, ""); /* TLS 1.2 has no suite */
    assert_int_equal(config.log_format, LOG_FORMAT_JSON);
    assert_string_equal(config.listen_address, ":5000");
    assert_string_equal(config.debug_address, ":5001");
    config_release(&config);

    /* A typo outside cairn: is only a warning (Distribution keys are open). */
    expect_warnings(fixture, "stroage:\n  filesystem: {}\n", &config, 1,
                    "config.yml:1: stroage is not a Distribution or cairn key, ignored");
    config_release(&config);
}

/* http.tls.ciphersuites: Go names into OpenSSL's TLS 1.2 list, in order. */
static void test_tls_cipher_suites(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_warnings(fixture, "http:\n  tls:\n    ciphersuites: []\n", &config, 0, NULL);
    assert_null(config.tls_cipher_list); /* the default, as in Distribution */
    config_release(&config);
    expect_warnings(fixture,
                    "http:\n  tls:\n    ciphersuites:\n"
                    "      - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256\n"
                    "      - TLS_AES_256_GCM_SHA384\n"
                    "      - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n",
                    &config, 1, "config.yml:5: http.tls.ciphersuites: TLS 1.3 suites cannot");
    assert_string_equal(config.tls_cipher_list,
                        "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256");
    config_release(&config);
    expect_warnings(fixture, "http:\n  tls:\n    ciphersuites: TLS_RSA_WITH_AES_128_GCM_SHA256\n",
                    &config, 1,
                    "config.yml:3: http.tls.ciphersuites: TLS_RSA_WITH_AES_128_GCM_SHA256 is "
                    "outside Mozilla's intermediate profile");
    assert_string_equal(config.tls_cipher_list, "AES128-GCM-SHA256");
    config_release(&config);
    expect_warnings(fixture,
                    "http:\n  tls:\n    ciphersuites: [TLS_RSA_WITH_AES_128_GCM_SHA256]\n"
                    "    minimumtls: tls1.3\n",
                    &config, 1,
                    "config.yml:3: http.tls.ciphersuites is not used with minimumtls tls1.3");
    assert_null(config.tls_cipher_list);
    config_release(&config);

    expect_error(fixture,
                 "http:\n  tls:\n    ciphersuites:\n      - "
                 "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n      - AES128-SHA\n",
                 "config.yml:5: http.tls.ciphersuites[1]: unknown cipher suite \"AES128-SHA\"");
    expect_error(fixture, "http:\n  tls:\n    ciphersuites: [TLS_RSA_WITH_RC4_128_SHA]\n",
                 "config.yml:3: http.tls.ciphersuites[0]: TLS_RSA_WITH_RC4_128_SHA is insecure");
    expect_error(fixture, "http:\n  tls:\n    ciphersuites: {a: b}\n",
                 "config.yml:3: http.tls.ciphersuites: expected a list of cipher suite names");
    expect_error(
        fixture, "http:\n  tls:\n    ciphersuites: [[TLS_AES_128_GCM_SHA256]]\n",
        "config.yml:3: http.tls.ciphersuites[0]: expected a cipher suite name, got a list");
}

static void test_storage_drivers(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    expect_warnings(fixture,
                    "storage:\n"
                    "  filesystem:\n"
                    "    rootdirectory: /srv/r\n"
                    "  gcs:\n"
                    "    bucket: b\n",
                    &config, 1, "config.yml:4: storage.gcs: cairn has the filesystem and s3");
    assert_non_null(strstr(config.warnings[0], "this one is ignored"));
    assert_string_equal(config.root_directory, "/srv/r");
    assert_int_equal(config.s3_enabled, 0);
    config_release(&config);

    expect_warnings(fixture, "storage:\n  azure:\n    bucket: b\n  delete:\n    enabled: false\n",
                    &config, 1, "config.yml:2: storage.azure: cairn has the filesystem and s3");
    assert_non_null(strstr(config.warnings[0], "kept in ./data"));
    assert_int_equal(config.delete_enabled, 0);
    config_release(&config);

    expect_warnings(fixture, "storage:\n  filesystem:\n    maxthreads: 100\n", &config, 2,
                    "config.yml:3: storage.filesystem.maxthreads is not used by cairn");
    assert_non_null(strstr(config.warnings[1], "config.yml:2: storage.filesystem has no "
                                               "rootdirectory: cairn uses ./data"));
    config_release(&config);
}

static void test_s3(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    expect_warnings(fixture,
                    "storage:\n"
                    "  filesystem:\n"
                    "    rootdirectory: /srv/r\n"
                    "  redirect:\n"
                    "    disable: true\n"
                    "  s3:\n"
                    "    accesskey: AK\n"
                    "    secretkey: SK\n"
                    "    region: eu-west-1\n"
                    "    regionendpoint: 127.0.0.1:9000/\n"
                    "    secure: false\n"
                    "    bucket: blobs\n"
                    "    rootdirectory: /registry/\n"
                    "    forcepathstyle: true\n"
                    "    chunksize: 10485760\n"
                    "    uploadconcurrency: 8\n"
                    "    connecttimeout: 3s\n"
                    "    requesttimeout: 1m\n"
                    "    attempts: 2\n"
                    "    presignexpiry: 5m\n"
                    "    storageclass: STANDARD\n",
                    &config, 1, "config.yml:21: storage.s3.storageclass is not used by cairn");
    assert_int_equal(config.s3_enabled, 1);
    assert_int_equal(config.redirect_disabled, 1);
    assert_string_equal(config.s3.endpoint, "http://127.0.0.1:9000");
    assert_string_equal(config.s3.region, "eu-west-1");
    assert_string_equal(config.s3.bucket, "blobs");
    assert_string_equal(config.s3.access_key, "AK");
    assert_string_equal(config.s3.secret_key, "SK");
    assert_string_equal(config.s3.root_directory, "/registry/");
    assert_int_equal(config.s3.path_style, 1);
    assert_int_equal(config.s3.part_size, 10485760);
    assert_int_equal(config.s3.upload_concurrency, 8);
    assert_int_equal(config.s3.connect_timeout_ms, 3000);
    assert_int_equal(config.s3.request_timeout_ms, 60000);
    assert_int_equal(config.s3.attempts, 2);
    assert_int_equal(config.s3.presign_expiry_seconds, 300);
    config_release(&config);

    /* s3 alone: the tree stays in ./data; AWS's endpoint; the environment's
     * credentials; Distribution's 20 minutes. */
    setenv("AWS_ACCESS_KEY_ID", "ENVAK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "ENVSK", 1);
    expect_warnings(fixture, "storage:\n  s3:\n    region: us-west-2\n    bucket: b\n", &config, 1,
                    "config.yml:2: storage.s3: blobs go to the bucket");
    assert_non_null(strstr(config.warnings[0], "./data"));
    assert_string_equal(config.s3.endpoint, "https://s3.us-west-2.amazonaws.com");
    assert_string_equal(config.s3.access_key, "ENVAK");
    assert_string_equal(config.s3.secret_key, "ENVSK");
    assert_int_equal(config.s3.path_style, 0);
    assert_int_equal(config.s3.presign_expiry_seconds, 1200);
    assert_int_equal(config.redirect_disabled, 0);
    config_release(&config);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");

    expect_error(fixture, "storage:\n  s3:\n    bucket: b\n",
                 "config.yml:3: storage.s3.accesskey: no credentials");
    expect_error(fixture, "storage:\n  s3:\n    accesskey: a\n    secretkey: s\n",
                 "storage.s3.bucket: is required");
    expect_error(fixture,
                 "storage:\n  s3:\n    accesskey: a\n    secretkey: s\n    bucket: b\n"
                 "    chunksize: 1024\n",
                 "config.yml:6: storage.s3.chunksize: must be a whole number from 5242880");
    expect_error(fixture,
                 "storage:\n  s3:\n    accesskey: a\n    secretkey: s\n    bucket: b\n"
                 "    regionendpoint: ftp://x\n",
                 "config.yml:6: storage.s3.regionendpoint: only http:// and https://");
    expect_error(fixture,
                 "storage:\n  s3:\n    accesskey: a\n    secretkey: s\n    bucket: b\n"
                 "    rootdirectory: a/../b\n",
                 "config.yml:6: storage.s3.rootdirectory: rootdirectory a/../b has");
    expect_error(fixture,
                 "storage:\n  s3:\n    accesskey: a\n    secretkey: s\n    bucket: b\n"
                 "    forcepathstyle: maybe\n",
                 "storage.s3.forcepathstyle: must be true or false");
    expect_error(fixture,
                 "storage:\n  s3:\n    accesskey: a\n    secretkey: s\n    bucket: b\n"
                 "    presignexpiry: 30d\n",
                 "storage.s3.presignexpiry");
}

static void test_dry_run_disables_purging(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_warnings(fixture,
                    "storage:\n"
                    "  maintenance:\n"
                    "    uploadpurging:\n"
                    "      dryrun: true\n"
                    "      enabled: true\n",
                    &config, 1,
                    "config.yml:4: storage.maintenance.uploadpurging.dryrun: dry runs are not "
                    "supported; upload purging is disabled");
    assert_int_equal(config.upload_purging_enabled, 0);
    config_release(&config);
}

static void test_access_without_auth_warns(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_warnings(fixture,
                    "cairn:\n"
                    "  access:\n"
                    "    - {subjects: alice, repositories: \"**\", actions: pull}\n",
                    &config, 1, "config.yml:2: cairn.access has no effect");
    assert_int_equal(config.access_rule_count, 1);
    config_release(&config);
}

static void test_booleans(void **state)
{
    struct fixture *fixture = *state;
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                      "y",    "Y",    "on",   "On",  "ON",  "\"true\""};
    static const char *const no[] = {"false", "False", "FALSE", "no",  "No", "NO",
                                     "n",     "N",     "off",   "Off", "OFF"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0] + sizeof no / sizeof no[0]; i++) {
        int truth = i < sizeof yes / sizeof yes[0];
        const char *word = truth ? yes[i] : no[i - sizeof yes / sizeof yes[0]];
        char yaml[128];
        snprintf(yaml, sizeof yaml, "storage:\n  delete:\n    enabled: %s\n", word);
        struct config config;
        expect_warnings(fixture, yaml, &config, 0, NULL);
        assert_int_equal(config.delete_enabled, truth);
        config_release(&config);
    }
    expect_error(fixture, "storage:\n  delete:\n    enabled: 1\n",
                 "config.yml:3: storage.delete.enabled: expected true or false, got \"1\"");
}

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t seconds;
    } good[] = {{"0", 0},
                {"90s", 90},
                {"15m", 900},
                {"168h", 604800},
                {"1h30m", 5400},
                {"1h30m15s", 5415},
                {"1.5h", 5400},
                {"2000ms", 2},
                {"+5s", 5},
                {".5m", 30},
                {"1h0m0s", 3600},
                {"3000000us", 3},
                {"1m30s", 90},
                {"0s", 0},
                {"5000000000ns", 5},
                {"1.h", 3600},
                {"3000000\xc2\xb5s", 3},
                {"3000000\xce\xbcs", 3}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t seconds = 12345;
        int result = config_parse_duration(good[i].text, &seconds);
        if (result != 0 || seconds != good[i].seconds)
            fail_msg("%s: %d %llu (%s)", good[i].text, result, (unsigned long long)seconds,
                     error_message());
    }
    static const char *const bad[] = {"",
                                      "s",
                                      "90",
                                      "-5s",
                                      "5 s",
                                      "5x",
                                      "h",
                                      "1.h2",
                                      "5sm",
                                      "1..5s",
                                      "0.5s",
                                      "500ms",
                                      "1e3s",
                                      "1s500ms",
                                      "2\xc2\xb5s",
                                      "99999999999999999999h",
                                      "5000000000000h",
                                      "1h-5m"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t seconds = 12345;
        if (config_parse_duration(bad[i], &seconds) != -EINVAL)
            fail_msg("\"%s\" accepted as %llu", bad[i], (unsigned long long)seconds);
        assert_int_equal(seconds, 12345);
    }
    uint64_t seconds;
    assert_int_equal(config_parse_duration("1s500ms", &seconds), -EINVAL);
    assert_non_null(strstr(error_message(), "whole seconds"));

    /* In cairn's keys a plain number is seconds; in Distribution's it needs a unit. */
    struct fixture *fixture = *state;
    struct config config;
    expect_warnings(fixture, "cairn:\n  request_timeout: 1800\n  shutdown_grace: 1m\n", &config, 0,
                    NULL);
    assert_int_equal(config.request_timeout_seconds, 1800);
    assert_int_equal(config.shutdown_grace_seconds, 60);
    config_release(&config);
}

/* Distribution's notification timeouts keep milliseconds. */
static void test_durations_milliseconds(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t milliseconds;
    } good[] = {{"500ms", 500},   {"1.5s", 1500},   {"2s", 2000},       {"1m", 60000},
                {"1m30s", 90000}, {"0", 0},         {"+0", 0},          {"0s", 0},
                {"1h", 3600000},  {".25s", 250},    {"1500us", 2},      {"1ns", 1},
                {"999us", 1},     {"1000000ns", 1}, {"1.0000001ms", 2}, {"2\xc2\xb5s", 1}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t milliseconds = 12345;
        int result = config_parse_duration_milliseconds(good[i].text, &milliseconds);
        if (result != 0 || milliseconds != good[i].milliseconds)
            fail_msg("%s: %d %llu (%s)", good[i].text, result, (unsigned long long)milliseconds,
                     error_message());
    }
    static const char *const bad[] = {
        "", "-1s", "-0", "5", "1.5", "ms", "5x", "5 s", "1e3ms", "1h-5m", "99999999999999999999h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t milliseconds = 12345;
        if (config_parse_duration_milliseconds(bad[i], &milliseconds) != -EINVAL)
            fail_msg("\"%s\" accepted as %llu", bad[i], (unsigned long long)milliseconds);
        assert_int_equal(milliseconds, 12345);
    }
    uint64_t milliseconds;
    assert_int_equal(config_parse_duration_milliseconds("-1s", &milliseconds), -EINVAL);
    assert_non_null(strstr(error_message(), "negative"));
    assert_int_equal(config_parse_duration_milliseconds("5", &milliseconds), -EINVAL);
    assert_non_null(strstr(error_message(), "needs a unit"));
    /* config_parse_duration still wants whole seconds. */
    uint64_t seconds;
    assert_int_equal(config_parse_duration("500ms", &seconds), -EINVAL);
}

static void test_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {{"0", 0},
                {"1024", 1024},
                {"10B", 10},
                {"1KB", 1000},
                {"1kB", 1000},
                {"2MB", 2000000},
                {"2GB", 2000000000},
                {"1TB", 1000000000000ULL},
                {"1KiB", 1024},
                {"512MiB", 512ULL << 20},
                {"16GiB", 16ULL << 30},
                {"16 GiB", 16ULL << 30},
                {"2TiB", 2ULL << 40},
                {"9223372036854775807", 9223372036854775807ULL}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t bytes = 12345;
        int result = config_parse_size(good[i].text, &bytes);
        if (result != 0 || bytes != good[i].bytes)
            fail_msg("%s: %d %llu (%s)", good[i].text, result, (unsigned long long)bytes,
                     error_message());
    }
    static const char *const bad[] = {"",
                                      "GiB",
                                      "1.5GiB",
                                      "-1",
                                      "1 ",
                                      " 1",
                                      "1gib",
                                      "1XB",
                                      "1 2",
                                      "1GiBs",
                                      "1  GiB",
                                      "9223372036854775808",
                                      "99999999999999999999",
                                      "8388608TiB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t bytes = 12345;
        if (config_parse_size(bad[i], &bytes) != -EINVAL)
            fail_msg("\"%s\" accepted as %llu", bad[i], (unsigned long long)bytes);
        assert_int_equal(bytes, 12345);
    }
}

/* A config.yml as Distribution's docs and images ship it. */
static void test_distribution_config(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_warnings(fixture,
                    "version: 0.1\n"
                    "log:\n"
                    "  accesslog:\n"
                    "    disabled: false\n"
                    "  level: info\n"
                    "  formatter: text\n"
                    "  fields:\n"
                    "    service: registry\n"
                    "    environment: staging\n"
                    "storage:\n"
                    "  filesystem:\n"
                    "    rootdirectory: /var/lib/registry\n"
                    "  delete:\n"
                    "    enabled: true\n"
                    "  cache:\n"
                    "    blobdescriptor: inmemory\n"
                    "  maintenance:\n"
                    "    uploadpurging:\n"
                    "      enabled: true\n"
                    "      age: 168h\n"
                    "      interval: 24h\n"
                    "      dryrun: false\n"
                    "    readonly:\n"
                    "      enabled: false\n"
                    "auth:\n"
                    "  htpasswd:\n"
                    "    realm: basic-realm\n"
                    "    path: /auth/htpasswd\n"
                    "http:\n"
                    "  addr: :5000\n"
                    "  headers:\n"
                    "    X-Content-Type-Options: [nosniff]\n"
                    "  debug:\n"
                    "    addr: :5001\n"
                    "    prometheus:\n"
                    "      enabled: true\n"
                    "      path: /metrics\n"
                    "notifications:\n"
                    "  events:\n"
                    "    includereferences: true\n"
                    "  endpoints:\n"
                    "    - name: alistener\n"
                    "      disabled: false\n"
                    "      url: https://my.listener.com/event\n"
                    "      headers:\n"
                    "        Authorization: [Bearer <your token>]\n"
                    "      timeout: 1s\n"
                    "      threshold: 10\n"
                    "      backoff: 1s\n"
                    "      ignoredmediatypes:\n"
                    "        - application/octet-stream\n"
                    "      ignore:\n"
                    "        mediatypes:\n"
                    "           - application/octet-stream\n"
                    "        actions:\n"
                    "           - pull\n"
                    "health:\n"
                    "  storagedriver:\n"
                    "    enabled: true\n"
                    "    interval: 10s\n"
                    "    threshold: 3\n",
                    &config, 5, "config.yml:7: log.fields is not used by cairn");
    const char *expected[] = {
        "config.yml:7: log.fields is not used by cairn",
        "config.yml:15: storage.cache is not used by cairn",
        "config.yml:31: http.headers is not used by cairn",
        "config.yml:35: http.debug.prometheus is not used by cairn",
        "config.yml:57: health is not used by cairn",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (strstr(config.warnings[i], expected[i]) == NULL)
            fail_msg("warning %zu: \"%s\", wanted \"%s\"", i, config.warnings[i], expected[i]);
    assert_string_equal(config.root_directory, "/var/lib/registry");
    assert_int_equal(config.delete_enabled, 1);
    assert_string_equal(config.htpasswd_realm, "basic-realm");
    assert_string_equal(config.htpasswd_path, "/auth/htpasswd");
    assert_string_equal(config.listen_address, ":5000");
    assert_int_equal(config.access_log, 1);
    assert_int_equal(config.upload_purging_age_seconds, 168 * 3600);
    /* notifications: is read, not warned about */
    assert_int_equal(config.events.include_references, 1);
    assert_int_equal(config.events.endpoint_count, 1);
    const struct event_endpoint_settings *endpoint = &config.events.endpoints[0];
    assert_string_equal(endpoint->name, "alistener");
    assert_string_equal(endpoint->url, "https://my.listener.com/event");
    assert_int_equal(endpoint->header_count, 1);
    assert_string_equal(endpoint->headers[0].values[0], "Bearer <your token>");
    assert_int_equal(endpoint->timeout_milliseconds, 1000);
    assert_int_equal(endpoint->threshold, 10);
    assert_int_equal(endpoint->backoff_milliseconds, 1000);
    assert_int_equal(endpoint->ignored_media_type_count, 2);
    assert_int_equal(endpoint->ignored_action_count, 1);
    assert_string_equal(endpoint->ignored_actions[0], "pull");
    config_release(&config);
}

static void test_split_listen(void **state)
{
    (void)state;
    static const struct {
        const char *address, *host, *port;
    } good[] = {{"127.0.0.1:5000", "127.0.0.1", "5000"},
                {":5000", "", "5000"},
                {"[::]:443", "::", "443"},
                {"[::1]:1", "::1", "1"},
                {"localhost:65535", "localhost", "65535"}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char host[256], port[16];
        assert_int_equal(
            config_split_address(good[i].address, host, sizeof host, port, sizeof port), 0);
        assert_string_equal(host, good[i].host);
        assert_string_equal(port, good[i].port);
    }
    static const char *const bad[] = {"localhost",     "x:",     "x:0",      "x:65536",
                                      "x:99999999999", "x:http", "::1:5000", "[::1:5000",
                                      "[::1]x:5000",   "x:-1",   "x:+80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char host[256], port[16];
        if (config_split_address(bad[i], host, sizeof host, port, sizeof port) != -EINVAL)
            fail_msg("\"%s\" accepted", bad[i]);
    }
    char small[4], port[16];
    assert_int_equal(config_split_address("abcd:80", small, sizeof small, port, sizeof port),
                     -EINVAL);
}

static int parse(struct options *options, FILE *errors, ...)
{
    char *argv[16] = {"cairn"};
    int argc = 1;
    va_list arguments;
    va_start(arguments, errors);
    for (char *argument; (argument = va_arg(arguments, char *)) != NULL;)
        argv[argc++] = argument;
    va_end(arguments);
    return options_parse(options, argc, argv, errors);
}

static void test_options_over_config(void **state)
{
    struct fixture *fixture = *state;
    FILE *errors = tmpfile();
    assert_non_null(errors);
    write_text(fixture->path, "storage:\n"
                              "  filesystem:\n"
                              "    rootdirectory: /from/file\n"
                              "  cache:\n"
                              "    blobdescriptor: inmemory\n"
                              "http:\n"
                              "  addr: 127.0.0.1:6000\n"
                              "cairn:\n"
                              "  threads: 3\n"
                              "  workers: 9\n");
    struct options options;
    assert_int_equal(parse(&options, errors, "--config", fixture->path, NULL), 0);
    assert_string_equal(options.config_path, fixture->path);
    assert_int_equal(options.check_only, 0);
    assert_string_equal(options.config.root_directory, "/from/file");
    assert_string_equal(options.config.listen_address, "127.0.0.1:6000");
    assert_int_equal(options.config.threads, 3);
    assert_int_equal(options.config.workers, 9);
    options_release(&options);

    assert_int_equal(parse(&options, errors, "--config", fixture->path, "--root", "/from/flag",
                           "--listen", "[::1]:7000", "--threads", "5", NULL),
                     0);
    assert_string_equal(options.config.root_directory, "/from/flag");
    assert_string_equal(options.config.listen_address, "[::1]:7000");
    assert_int_equal(options.config.threads, 5);
    assert_int_equal(options.config.workers, 9);
    options_release(&options);

    /* No file: defaults, then flags. */
    assert_int_equal(parse(&options, errors, "--threads", "2", NULL), 0);
    assert_null(options.config_path);
    assert_string_equal(options.config.root_directory, "./data");
    assert_int_equal(options.config.threads, 2);
    options_release(&options);

    /* The warning was printed (twice: two loads). */
    rewind(errors);
    char line[512];
    int warnings = 0;
    while (fgets(line, sizeof line, errors) != NULL)
        warnings += strstr(line, "cairn: warning: ") != NULL &&
                    strstr(line, "config.yml:4: storage.cache is not used by cairn") != NULL;
    assert_int_equal(warnings, 2);
    fclose(errors);
}

static void test_options_errors(void **state)
{
    struct fixture *fixture = *state;
    FILE *errors = tmpfile();
    assert_non_null(errors);
    struct options options;
    write_text(fixture->path, "cairn:\n  threads: lots\n");
    assert_int_equal(parse(&options, errors, "--config", fixture->path, NULL), -EINVAL);
    assert_int_equal(options.check_only, 0);
    options_release(&options);
    assert_int_equal(parse(&options, errors, "--threads", "0", NULL), -EINVAL);
    options_release(&options);
    assert_int_equal(parse(&options, errors, "--threads", "1025", NULL), -EINVAL);
    options_release(&options);
    assert_int_equal(parse(&options, errors, "--listen", "nowhere", NULL), -EINVAL);
    options_release(&options);
    assert_int_equal(parse(&options, errors, "--root", "", NULL), -EINVAL);
    options_release(&options);
    assert_int_equal(parse(&options, errors, "--bogus", NULL), -EINVAL);
    options_release(&options);
    assert_int_equal(parse(&options, errors, "stray", NULL), -EINVAL);
    options_release(&options);
    assert_int_equal(
        parse(&options, errors, "--check-config", fixture->path, "--config", fixture->path, NULL),
        -EINVAL);
    options_release(&options);

    /* --check-config: the error with its line; exit 1 (check_only). */
    assert_int_equal(parse(&options, errors, "--check-config", fixture->path, NULL), -EINVAL);
    assert_int_equal(options.check_only, 1);
    options_release(&options);
    rewind(errors);
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, errors) != NULL)
        found += strstr(line, "config.yml:2: cairn.threads: expected a number from 1 to 1024, got "
                              "\"lots\"") != NULL;
    assert_int_equal(found, 2); /* --config and --check-config */
    fclose(errors);

    /* A good file: 1 (exit 0). */
    write_text(fixture->path, "version: 0.1\n");
    errors = tmpfile();
    assert_int_equal(parse(&options, errors, "--check-config", fixture->path, NULL), 1);
    assert_int_equal(options.check_only, 1);
    options_release(&options);
    fclose(errors);
}

/* Distribution's proxy: the whole registry mirrors one upstream. */
static void test_proxy(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_warnings(fixture,
                    "version: 0.1\n"
                    "proxy:\n"
                    "  remoteurl: https://registry-1.docker.io/\n"
                    "  username: alice\n"
                    "  password: s3cret\n"
                    "  ttl: 72h\n",
                    &config, 0, NULL);
    assert_int_equal(config.mirror_count, 1);
    assert_string_equal(config.mirrors[0].prefix, "");
    assert_string_equal(config.mirrors[0].url, "https://registry-1.docker.io");
    assert_string_equal(config.mirrors[0].username, "alice");
    assert_string_equal(config.mirrors[0].password, "s3cret");
    assert_int_equal(config.mirrors[0].ttl_seconds, CONFIG_DEFAULT_MIRROR_TTL_SECONDS);
    /* proxy.ttl is Distribution's eviction time, as cairn-gc applies it. */
    assert_int_equal(config.mirrors[0].evict_after_seconds, 72 * 3600);
    config_release(&config);

    expect_warnings(fixture, "proxy:\n  remoteurl: http://127.0.0.1:6000\n  ttl: 0\n", &config, 0,
                    NULL);
    assert_int_equal(config.mirrors[0].evict_after_seconds, 0);
    config_release(&config);

    expect_error(fixture, "proxy:\n  username: a\n  password: b\n",
                 "config.yml:2: proxy: remoteurl is required");
    expect_error(fixture, "proxy:\n  remoteurl: ftp://example.com\n",
                 "config.yml:2: proxy.remoteurl: expected an http:// or https:// URL");
    expect_error(fixture, "proxy:\n  remoteurl: https://example.com/v2/\n",
                 "proxy.remoteurl: expected an http:// or https:// URL without a path");
    expect_error(fixture, "proxy:\n  remoteurl: https://example.com\n  username: a\n",
                 "config.yml:2: proxy: username and password go together");
}

static void test_mirrors(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_warnings(fixture,
                    "cairn:\n"
                    "  mirrors:\n"
                    "    - prefix: hub\n"
                    "      url: https://registry-1.docker.io\n"
                    "      hosts: [docker.io, registry-1.docker.io]\n"
                    "      credentials_file: /etc/cairn/hub.credentials\n"
                    "    - prefix: mirror/ghcr\n"
                    "      url: http://127.0.0.1:5001\n"
                    "      username: bot\n"
                    "      password: token\n"
                    "      ttl: 1h30m\n"
                    "      evict_after: 720h\n"
                    "      ca_bundle: /etc/ssl/ghcr.pem\n",
                    &config, 0, NULL);
    assert_int_equal(config.mirror_count, 2);
    const struct upstream_settings *hub = &config.mirrors[0], *ghcr = &config.mirrors[1];
    assert_string_equal(hub->prefix, "hub");
    assert_string_equal(hub->url, "https://registry-1.docker.io");
    assert_int_equal(hub->host_count, 2);
    assert_string_equal(hub->hosts[0], "docker.io");
    assert_string_equal(hub->credentials_file, "/etc/cairn/hub.credentials");
    assert_null(hub->username);
    assert_int_equal(hub->ttl_seconds, CONFIG_DEFAULT_MIRROR_TTL_SECONDS);
    assert_int_equal(hub->evict_after_seconds, CONFIG_DEFAULT_MIRROR_EVICT_AFTER_SECONDS);
    assert_string_equal(ghcr->prefix, "mirror/ghcr");
    assert_string_equal(ghcr->username, "bot");
    assert_string_equal(ghcr->password, "token");
    assert_int_equal(ghcr->ttl_seconds, 5400);
    assert_int_equal(ghcr->evict_after_seconds, 720 * 3600);
    assert_string_equal(ghcr->ca_bundle, "/etc/ssl/ghcr.pem");
    config_release(&config);

    /* Next to proxy:, which takes every other name. */
    expect_warnings(fixture,
                    "proxy:\n  remoteurl: http://127.0.0.1:6000\n"
                    "cairn:\n  mirrors:\n    - {prefix: hub, url: 'http://127.0.0.1:6001', ttl: 0, "
                    "evict_after: 0}\n",
                    &config, 0, NULL);
    assert_int_equal(config.mirror_count, 2);
    assert_int_equal(config.mirrors[1].ttl_seconds, 0);
    assert_int_equal(config.mirrors[1].evict_after_seconds, 0);
    config_release(&config);

    expect_error(fixture, "cairn:\n  mirrors:\n    - url: http://a.example\n",
                 "config.yml:3: cairn.mirrors[0]: prefix is required");
    expect_error(fixture, "cairn:\n  mirrors:\n    - prefix: hub\n",
                 "config.yml:3: cairn.mirrors[0]: url is required");
    expect_error(fixture, "cairn:\n  mirrors:\n    - prefix: Hub\n      url: http://a.example\n",
                 "config.yml:3: cairn.mirrors[0].prefix: expected a repository name");
    expect_error(fixture,
                 "cairn:\n  mirrors:\n    - prefix: hub\n      url: http://a.example\n"
                 "      colour: blue\n",
                 "config.yml:5: cairn.mirrors[0].colour: unknown key (a mirror has prefix");
    expect_error(fixture,
                 "cairn:\n  mirrors:\n    - prefix: hub\n      url: http://a.example\n"
                 "      ttl: soon\n",
                 "config.yml:5: cairn.mirrors[0].ttl: ");
    expect_error(fixture,
                 "cairn:\n  mirrors:\n    - prefix: hub\n      url: http://a.example\n"
                 "      credentials_file: /f\n      username: a\n      password: b\n",
                 "config.yml:3: cairn.mirrors[0]: credentials_file or username and password");
    expect_error(fixture,
                 "cairn:\n  mirrors:\n    - {prefix: hub, url: 'http://a.example'}\n"
                 "    - {prefix: hub/quay, url: 'http://b.example'}\n",
                 "config.yml:4: cairn.mirrors[1]: prefix \"hub/quay\" overlaps the prefix \"hub\"");
    expect_error(fixture, "cairn:\n  mirrors:\n    prefix: hub\n",
                 "config.yml:3: cairn.mirrors: expected a list of mirrors");
}

/* Distribution's notifications: section, as its docs write it. */
static void test_notifications(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    expect_warnings(fixture,
                    "version: 0.1\n"
                    "notifications:\n"
                    "  events:\n"
                    "    includereferences: true\n"
                    "  endpoints:\n"
                    "    - name: alistener\n"
                    "      disabled: false\n"
                    "      url: https://my.listener.com/event\n"
                    "      headers:\n"
                    "        Authorization: [Bearer abc]\n"
                    "        X-Multi:\n"
                    "          - one\n"
                    "          - two\n"
                    "      timeout: 500ms\n"
                    "      threshold: 5\n"
                    "      backoff: 1s\n"
                    "      ignoredmediatypes:\n"
                    "        - application/octet-stream\n"
                    "      ignore:\n"
                    "        mediatypes:\n"
                    "          - application/vnd.oci.image.index.v1+json\n"
                    "        actions:\n"
                    "          - pull\n"
                    "          - mount\n"
                    "    - name: audit\n"
                    "      disabled: true\n"
                    "      url: http://127.0.0.1:8080\n"
                    "      headers:\n"
                    "        X-Token: single\n"
                    "        X-Nothing:\n",
                    &config, 0, NULL);
    const struct event_settings *events = &config.events;
    assert_int_equal(events->include_references, 1);
    assert_int_equal(events->endpoint_count, 2);

    const struct event_endpoint_settings *first = &events->endpoints[0];
    assert_string_equal(first->name, "alistener");
    assert_int_equal(first->disabled, 0);
    assert_string_equal(first->url, "https://my.listener.com/event");
    assert_int_equal(first->header_count, 2);
    assert_string_equal(first->headers[0].name, "Authorization");
    assert_int_equal(first->headers[0].value_count, 1);
    assert_string_equal(first->headers[0].values[0], "Bearer abc");
    assert_string_equal(first->headers[1].name, "X-Multi");
    assert_int_equal(first->headers[1].value_count, 2);
    assert_string_equal(first->headers[1].values[0], "one");
    assert_string_equal(first->headers[1].values[1], "two");
    assert_int_equal(first->timeout_milliseconds, 500);
    assert_int_equal(first->threshold, 5);
    assert_int_equal(first->backoff_milliseconds, 1000);
    /* ignoredmediatypes and ignore.mediatypes, in the file's order */
    assert_int_equal(first->ignored_media_type_count, 2);
    assert_string_equal(first->ignored_media_types[0], "application/octet-stream");
    assert_string_equal(first->ignored_media_types[1], "application/vnd.oci.image.index.v1+json");
    assert_int_equal(first->ignored_action_count, 2);
    assert_string_equal(first->ignored_actions[0], "pull");
    assert_string_equal(first->ignored_actions[1], "mount");
    assert_int_equal(first->repository_count, 0);
    assert_null(first->secret);

    const struct event_endpoint_settings *second = &events->endpoints[1];
    assert_string_equal(second->name, "audit");
    assert_int_equal(second->disabled, 1);
    assert_string_equal(second->url, "http://127.0.0.1:8080");
    /* A single string is a list of one; a header with no value is not sent. */
    assert_int_equal(second->header_count, 1);
    assert_string_equal(second->headers[0].name, "X-Token");
    assert_int_equal(second->headers[0].value_count, 1);
    assert_string_equal(second->headers[0].values[0], "single");
    assert_int_equal(second->timeout_milliseconds, CONFIG_DEFAULT_EVENT_TIMEOUT_MILLISECONDS);
    assert_int_equal(second->threshold, CONFIG_DEFAULT_EVENT_THRESHOLD);
    assert_int_equal(second->backoff_milliseconds, CONFIG_DEFAULT_EVENT_BACKOFF_MILLISECONDS);
    assert_int_equal(second->ignored_media_type_count, 0);
    assert_int_equal(second->ignored_action_count, 0);

    /* Not a section cairn ignores any more; the spool keeps its defaults. */
    assert_null(events->spool_directory);
    assert_int_equal(events->spool_max_bytes, CONFIG_DEFAULT_EVENT_SPOOL_MAX_BYTES);
    assert_int_equal(events->spool_max_age_seconds, CONFIG_DEFAULT_EVENT_SPOOL_MAX_AGE_SECONDS);
    config_release(&config);

    /* Durations to the millisecond; backoff may be 0. */
    expect_warnings(fixture,
                    "notifications:\n"
                    "  endpoints:\n"
                    "    - {name: a, url: 'https://[::1]:8443/hook?x=1', timeout: 1.5s, "
                    "backoff: 0, threshold: 0}\n"
                    "    - {name: b, url: 'https://user@hooks.example/', timeout: 1m30s, "
                    "backoff: 250ms}\n",
                    &config, 0, NULL);
    assert_int_equal(config.events.endpoint_count, 2);
    assert_string_equal(config.events.endpoints[0].url, "https://[::1]:8443/hook?x=1");
    assert_int_equal(config.events.endpoints[0].timeout_milliseconds, 1500);
    /* 0 is the default, as in Distribution. */
    assert_int_equal(config.events.endpoints[0].backoff_milliseconds,
                     CONFIG_DEFAULT_EVENT_BACKOFF_MILLISECONDS);
    assert_int_equal(config.events.endpoints[0].threshold, CONFIG_DEFAULT_EVENT_THRESHOLD);
    assert_string_equal(config.events.endpoints[1].url, "https://user@hooks.example/");
    assert_int_equal(config.events.endpoints[1].timeout_milliseconds, 90000);
    assert_int_equal(config.events.endpoints[1].backoff_milliseconds, 250);
    assert_int_equal(config.events.include_references, 0);
    config_release(&config);
}

/* cairn's own keys on an endpoint, and cairn.events. */
static void test_notifications_cairn_extras(void **state)
{
    struct fixture *fixture = *state;
    char secret_path[PATH_MAX], yaml[PATH_MAX + 1024];
    snprintf(secret_path, sizeof secret_path, "%s/hook.secret", fixture->root);
    write_text(secret_path, "from-the-file\r\nsecond line\n");
    snprintf(yaml, sizeof yaml,
             "notifications:\n"
             "  endpoints:\n"
             "    - name: teams\n"
             "      url: https://hooks.example/teams\n"
             "      repositories: [\"team-a/**\", \"shared/*\", \"exact\"]\n"
             "      secret: inline-secret\n"
             "    - name: ops\n"
             "      url: https://hooks.example/ops\n"
             "      repositories: \"ops/**\"\n"
             "      secret_file: %s\n"
             "cairn:\n"
             "  events:\n"
             "    spool: /var/spool/cairn-events\n"
             "    max_bytes: 64MiB\n"
             "    max_age: 24h\n",
             secret_path);
    struct config config;
    expect_warnings(fixture, yaml, &config, 0, NULL);
    const struct event_settings *events = &config.events;
    assert_int_equal(events->endpoint_count, 2);
    const struct event_endpoint_settings *teams = &events->endpoints[0],
                                         *ops = &events->endpoints[1];
    assert_int_equal(teams->repository_count, 3);
    assert_string_equal(teams->repositories[0], "team-a/**");
    assert_string_equal(teams->repositories[1], "shared/*");
    assert_string_equal(teams->repositories[2], "exact");
    assert_string_equal(teams->secret, "inline-secret");
    assert_int_equal(ops->repository_count, 1);
    assert_string_equal(ops->repositories[0], "ops/**");
    assert_string_equal(ops->secret, "from-the-file"); /* the first line, without CR LF */
    assert_string_equal(events->spool_directory, "/var/spool/cairn-events");
    assert_int_equal(events->spool_max_bytes, 64ULL << 20);
    assert_int_equal(events->spool_max_age_seconds, 24 * 3600);
    config_release(&config);

    /* A file without a line end; max_age 0 (no age limit) and in plain seconds. */
    write_text(secret_path, "no-newline");
    snprintf(yaml, sizeof yaml,
             "notifications:\n"
             "  endpoints:\n"
             "    - {name: a, url: 'http://h.example', secret_file: '%s'}\n"
             "cairn:\n"
             "  events: {max_age: 0}\n",
             secret_path);
    expect_warnings(fixture, yaml, &config, 0, NULL);
    assert_string_equal(config.events.endpoints[0].secret, "no-newline");
    assert_int_equal(config.events.spool_max_age_seconds, 0);
    assert_int_equal(config.events.spool_max_bytes, CONFIG_DEFAULT_EVENT_SPOOL_MAX_BYTES);
    config_release(&config);
    expect_warnings(fixture, "cairn:\n  events:\n    max_age: 3600\n", &config, 0, NULL);
    assert_int_equal(config.events.spool_max_age_seconds, 3600);
    config_release(&config);

    /* An empty or missing secret file is an error. */
    write_text(secret_path, "\nsecret on the second line\n");
    expect_error(fixture, yaml,
                 "config.yml:3: notifications.endpoints[0].secret_file: the first "
                 "line of");
    snprintf(yaml, sizeof yaml,
             "notifications:\n"
             "  endpoints:\n"
             "    - {name: a, url: 'http://h.example', secret_file: '%s/none'}\n",
             fixture->root);
    expect_error(fixture, yaml,
                 "config.yml:3: notifications.endpoints[0].secret_file: cannot open");
}

/* No notifications: no endpoints, the spool's defaults. */
static void test_events_defaults(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    config_defaults(&config);
    assert_int_equal(config.events.include_references, 0);
    assert_int_equal(config.events.endpoint_count, 0);
    assert_null(config.events.endpoints);
    assert_null(config.events.spool_directory);
    assert_int_equal(config.events.spool_max_bytes, 1ULL << 30);
    assert_int_equal(config.events.spool_max_age_seconds, 168 * 3600);
    config_release(&config);

    static const char *const texts[] = {"version: 0.1\n", "notifications:\n",
                                        "notifications:\n  endpoints: []\n  events: ~\n",
                                        "cairn:\n  events:\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        expect_warnings(fixture, texts[i], &config, 0, NULL);
        assert_int_equal(config.events.endpoint_count, 0);
        assert_int_equal(config.events.include_references, 0);
        assert_null(config.events.spool_directory);
        assert_int_equal(config.events.spool_max_bytes, CONFIG_DEFAULT_EVENT_SPOOL_MAX_BYTES);
        assert_int_equal(config.events.spool_max_age_seconds,
                         CONFIG_DEFAULT_EVENT_SPOOL_MAX_AGE_SECONDS);
        config_release(&config);
    }
}

static void test_notifications_errors(void **state)
{
    struct fixture *fixture = *state;
#define ENDPOINT "notifications:\n  endpoints:\n    - name: a\n      url: http://a.example\n"
    expect_error(fixture, "notifications:\n  endpoints:\n    - url: http://a.example\n",
                 "config.yml:3: notifications.endpoints[0]: name is required");
    expect_error(fixture, "notifications:\n  endpoints:\n    - name: a\n      disabled: true\n",
                 "config.yml:3: notifications.endpoints[0]: url is required");
    expect_error(fixture,
                 "notifications:\n  endpoints:\n    - name: a\n      url: ftp://a.example\n",
                 "config.yml:4: notifications.endpoints[0].url: expected an http:// or https:// "
                 "URL with a host");
    static const char *const bad_urls[] = {"https://",
                                           "http:///path",
                                           "https://:80/x",
                                           "https://a.example:0/",
                                           "https://a.example:x",
                                           "'https://a b.example/'",
                                           "'https://[::1/x'",
                                           "https://user@/x",
                                           "a.example/hook",
                                           "HTTPS://a.example"};
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, "notifications:\n  endpoints:\n    - name: a\n      url: %s\n",
                 bad_urls[i]);
        expect_error(fixture, yaml, "config.yml:4: notifications.endpoints[0].url: expected an");
    }
    expect_error(fixture, ENDPOINT "    - name: a\n      url: http://b.example\n",
                 "config.yml:5: notifications.endpoints[1]: the name \"a\" is already the name of "
                 "notifications.endpoints[0]");
    expect_error(fixture, ENDPOINT "      colour: blue\n",
                 "config.yml:5: notifications.endpoints[0].colour: unknown key (an endpoint has "
                 "name, disabled, url,");
    expect_error(fixture, ENDPOINT "      ignore:\n        actions: [pull, tag]\n",
                 "config.yml:6: notifications.endpoints[0].ignore.actions[1]: expected pull, push, "
                 "mount or delete, got \"tag\"");
    expect_error(fixture, ENDPOINT "      ignore:\n        verbs: [pull]\n",
                 "config.yml:6: notifications.endpoints[0].ignore.verbs: unknown key (ignore has "
                 "mediatypes and actions)");
    expect_error(fixture, ENDPOINT "      timeout: soon\n",
                 "config.yml:5: notifications.endpoints[0].timeout: expected a duration such as "
                 "500ms");
    expect_error(fixture, ENDPOINT "      timeout: 5\n",
                 "config.yml:5: notifications.endpoints[0].timeout: a duration needs a unit");
    expect_error(fixture, ENDPOINT "      backoff: -1s\n",
                 "config.yml:5: notifications.endpoints[0].backoff: a duration cannot be negative");
    expect_error(fixture, ENDPOINT "      threshold: -1\n",
                 "config.yml:5: notifications.endpoints[0].threshold: expected a number from 0 to "
                 "1000000, got \"-1\"");
    expect_error(fixture, ENDPOINT "      secret: s\n      secret_file: /etc/cairn/hook.secret\n",
                 "config.yml:3: notifications.endpoints[0]: secret or secret_file, not both");
    expect_error(fixture, ENDPOINT "      headers:\n        X-A: \"one\\ntwo\"\n",
                 "config.yml:6: notifications.endpoints[0].headers.X-A: a header value cannot "
                 "hold a line break (CR, LF)");
    expect_error(fixture, ENDPOINT "      headers:\n        X-A: [ok, \"a\\r\\nX-B: b\"]\n",
                 "config.yml:6: notifications.endpoints[0].headers.X-A[1]: a header value cannot "
                 "hold a line break");
    expect_error(fixture, ENDPOINT "      headers:\n        X A: b\n",
                 "config.yml:6: notifications.endpoints[0].headers.X A: a header name is letters, "
                 "digits");
    expect_error(fixture, ENDPOINT "      headers: [X-A]\n",
                 "config.yml:5: notifications.endpoints[0].headers: expected a mapping");
    expect_error(fixture, ENDPOINT "      repositories: [team-a/**, Team-B/*]\n",
                 "config.yml:5: notifications.endpoints[0].repositories[1]: repository pattern "
                 "\"Team-B/*\": character 'T'");
    expect_error(fixture, ENDPOINT "      repositories: [\"a/***\"]\n",
                 "config.yml:5: notifications.endpoints[0].repositories[0]: \"***\"");
    expect_error(fixture, ENDPOINT "      repositories: []\n",
                 "config.yml:5: notifications.endpoints[0].repositories: must not be empty");
    expect_error(fixture, "notifications:\n  endpoints:\n    name: a\n",
                 "config.yml:3: notifications.endpoints: expected a list of endpoints");
    expect_error(fixture, "notifications:\n  endpoints:\n    - a\n",
                 "config.yml:3: notifications.endpoints[0]: expected a mapping with name and url");
    expect_error(fixture, "notifications:\n  threshold: 3\n",
                 "config.yml:2: notifications.threshold: unknown key (notifications has events "
                 "and endpoints)");
    expect_error(fixture, "notifications:\n  events:\n    includereferences: maybe\n",
                 "config.yml:3: notifications.events.includereferences: expected true or false");
    expect_error(fixture, "notifications:\n  events:\n    references: true\n",
                 "config.yml:3: notifications.events.references: unknown key (notifications.events "
                 "has includereferences)");
    expect_error(fixture, "cairn:\n  events:\n    spool_dir: /x\n",
                 "config.yml:3: cairn.events.spool_dir: unknown key (cairn.events has spool, "
                 "max_bytes and max_age)");
    expect_error(fixture, "cairn:\n  events:\n    max_bytes: lots\n",
                 "config.yml:3: cairn.events.max_bytes: expected a size");
    expect_error(fixture, "cairn:\n  events:\n    max_age: soon\n",
                 "config.yml:3: cairn.events.max_age: expected a duration");
    expect_error(fixture, "cairn:\n  events: [spool]\n",
                 "config.yml:2: cairn.events: expected a mapping");
#undef ENDPOINT
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test_setup_teardown(test_empty_file_is_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_cairn_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yaml_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unused_distribution_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_cipher_suites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_drivers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_disables_purging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_without_auth_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_booleans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durations, setup, teardown),
        cmocka_unit_test(test_durations_milliseconds),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test_setup_teardown(test_distribution_config, setup, teardown),
        cmocka_unit_test(test_split_listen),
        cmocka_unit_test_setup_teardown(test_options_over_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proxy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mirrors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notifications, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notifications_cairn_extras, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notifications_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

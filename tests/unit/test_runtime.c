/* Unit tests for src/config/runtime.h: snapshots built from a configuration
 * in a temporary directory (htpasswd, TLS certificate and key, token root
 * bundle, access rules), what makes runtime_build/runtime_check refuse one
 * and with which message, the restart-only rule of a rebuild, and
 * references, publishing and the publish hook. */
#include "test_support.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "layout/error.h"
#include "src/config/config.h"
#include "src/config/runtime.h"

struct fixture {
    char *root;
    char config[PATH_MAX];
    char htpasswd[PATH_MAX];
    char certificate[PATH_MAX]; /* self-signed P-256: TLS certificate and token root */
    char key[PATH_MAX];
    char other_key[PATH_MAX]; /* a key of no certificate */
};

static EVP_PKEY *new_key(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(key);
    return key;
}

static void write_key(const char *path, EVP_PKEY *key)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_int_equal(PEM_write_PrivateKey(file, key, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(file), 0);
}

static void write_certificate(const char *path, EVP_PKEY *key)
{
    X509 *certificate = X509_new();
    assert_non_null(certificate);
    assert_int_equal(X509_set_version(certificate, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(certificate), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(certificate), 86400));
    X509_NAME *name = X509_get_subject_name(certificate);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"localhost", -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(certificate, name), 1);
    assert_int_equal(X509_set_pubkey(certificate, key), 1);
    assert_true(X509_sign(certificate, key, EVP_sha256()) > 0);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_int_equal(PEM_write_X509(file, certificate), 1);
    assert_int_equal(fclose(file), 0);
    X509_free(certificate);
}

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_true(fputs(text, file) >= 0);
    assert_int_equal(fclose(file), 0);
}

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    fixture->root = support_root_create();
    support_path(fixture->config, "%s/config.yml", fixture->root);
    support_path(fixture->htpasswd, "%s/htpasswd", fixture->root);
    support_path(fixture->certificate, "%s/server.crt", fixture->root);
    support_path(fixture->key, "%s/server.key", fixture->root);
    support_path(fixture->other_key, "%s/other.key", fixture->root);

    char setting[CRYPT_GENSALT_OUTPUT_SIZE], line[128];
    assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, setting, sizeof setting));
    struct crypt_data *data = calloc(1, sizeof *data);
    assert_non_null(data);
    const char *hash = crypt_rn("alice-secret", setting, data, (int)sizeof *data);
    assert_non_null(hash);
    snprintf(line, sizeof line, "alice:%s\n", hash);
    free(data);
    write_text(fixture->htpasswd, line);

    EVP_PKEY *key = new_key(), *other = new_key();
    write_key(fixture->key, key);
    write_key(fixture->other_key, other);
    write_certificate(fixture->certificate, key);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
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

/* Loads `yaml` into `config`, with @HTPASSWD@, @CERTIFICATE@, @KEY@ and
 * @OTHER_KEY@ replaced by the fixture's paths. */
static void load(struct fixture *fixture, const char *yaml, struct config *config)
{
    static const char *const names[] = {"@HTPASSWD@", "@CERTIFICATE@", "@KEY@", "@OTHER_KEY@"};
    const char *const values[] = {fixture->htpasswd, fixture->certificate, fixture->key,
                                  fixture->other_key};
    char text[8192];
    size_t length = 0;
    while (*yaml != '\0') {
        size_t i = 0;
        while (i < 4 && strncmp(yaml, names[i], strlen(names[i])) != 0)
            i++;
        const char *piece = i < 4 ? values[i] : yaml;
        size_t piece_length = i < 4 ? strlen(values[i]) : 1;
        assert_true(length + piece_length < sizeof text);
        memcpy(text + length, piece, piece_length);
        length += piece_length;
        yaml += i < 4 ? strlen(names[i]) : 1;
    }
    text[length] = '\0';
    write_text(fixture->config, text);
    if (config_load(fixture->config, config) != 0)
        fail_msg("config:\n%s\nfailed: %s", text, error_message());
}

static const char htpasswd_tls_rules[] = "http:\n"
                                         "  addr: 127.0.0.1:5001\n"
                                         "  tls:\n"
                                         "    certificate: @CERTIFICATE@\n"
                                         "    key: @KEY@\n"
                                         "auth:\n"
                                         "  htpasswd:\n"
                                         "    realm: test\n"
                                         "    path: @HTPASSWD@\n"
                                         "cairn:\n"
                                         "  groups:\n"
                                         "    team: [alice]\n"
                                         "  access:\n"
                                         "    - subjects: [group:team]\n"
                                         "      repositories: [\"team/**\"]\n"
                                         "      actions: [pull, push]\n";

static void test_build_loads_what_the_config_names(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    load(fixture, htpasswd_tls_rules, &config);
    assert_int_equal(runtime_check(&config), 0);

    struct runtime *runtime = NULL;
    char changes[256] = "untouched";
    assert_int_equal(runtime_build(&config, NULL, &runtime, changes, sizeof changes), 0);
    assert_string_equal(changes, ""); /* nothing to compare with */
    assert_non_null(runtime->tls_context);
    assert_non_null(runtime->htpasswd);
    assert_null(runtime->token_verifier);
    assert_non_null(runtime->access_rules);
    assert_int_equal(atomic_load(&runtime->references), 1);
    assert_string_equal(runtime->config.listen_address, "127.0.0.1:5001");
    assert_string_equal(runtime->config.source_path, fixture->config);
    runtime_release(runtime);

    /* Token authentication: the certificate is the issuer's root. */
    load(fixture,
         "auth:\n"
         "  token:\n"
         "    realm: https://auth.example/token\n"
         "    service: registry\n"
         "    issuer: auth.example\n"
         "    rootcertbundle: @CERTIFICATE@\n",
         &config);
    assert_int_equal(runtime_build(&config, NULL, &runtime, changes, sizeof changes), 0);
    assert_non_null(runtime->token_verifier);
    assert_null(runtime->htpasswd);
    assert_null(runtime->tls_context);
    assert_null(runtime->access_rules);
    runtime_release(runtime);

    /* Without a file: the defaults, nothing loaded. */
    config_defaults(&config);
    assert_int_equal(runtime_build(&config, NULL, &runtime, changes, sizeof changes), 0);
    assert_null(runtime->tls_context);
    assert_null(runtime->htpasswd);
    runtime_release(runtime);
}

/* Builds from `yaml`, which must fail with `expected` in the message. */
static void expect_refused(struct fixture *fixture, const char *yaml, const char *expected)
{
    struct config config;
    load(fixture, yaml, &config);
    int checked = runtime_check(&config);
    if (checked >= 0 || strstr(error_message(), expected) == NULL)
        fail_msg("runtime_check: %d \"%s\", wanted \"%s\"", checked, error_message(), expected);

    struct runtime *runtime = (struct runtime *)(uintptr_t)1; /* must stay */
    char changes[64];
    int built = runtime_build(&config, NULL, &runtime, changes, sizeof changes);
    assert_int_equal(built, checked);
    assert_ptr_equal(runtime, (struct runtime *)(uintptr_t)1);
    assert_non_null(strstr(error_message(), expected));
    /* runtime_build took the config over, even on failure (nothing to release). */

    /* runtime_check_file: the same refusal, the output untouched. */
    memset(&config, 0x5a, sizeof config);
    struct config before = config;
    assert_int_equal(runtime_check_file(fixture->config, &config), checked);
    assert_non_null(strstr(error_message(), expected));
    assert_memory_equal(&config, &before, sizeof config);
}

static void test_refusals(void **state)
{
    struct fixture *fixture = *state;
    char missing[PATH_MAX];
    support_path(missing, "%s/missing", fixture->root);

    expect_refused(fixture, "auth:\n  htpasswd:\n    path: @HTPASSWD@.missing\n",
                   "htpasswd.missing");
    expect_refused(fixture, "auth:\n  htpasswd:\n    path: @HTPASSWD@.missing\n", "cannot open");

    write_text(missing, "alice:$apr1$8i6A9ZjJ$yWOxZJ/w9wG0Uf/cE0Dju1\n");
    char yaml[PATH_MAX + 128];
    snprintf(yaml, sizeof yaml, "auth:\n  htpasswd:\n    path: %s\n", missing);
    expect_refused(fixture, yaml, missing);

    expect_refused(fixture,
                   "http:\n  tls:\n    certificate: @CERTIFICATE@.missing\n    key: @KEY@\n",
                   "TLS: cannot load certificate");
    expect_refused(fixture, "http:\n  tls:\n    certificate: @CERTIFICATE@\n    key: @OTHER_KEY@\n",
                   "TLS: cannot load key ");
    /* (OpenSSL itself sees that the key is not the certificate's.) */
    expect_refused(fixture, "http:\n  tls:\n    certificate: @CERTIFICATE@\n    key: @OTHER_KEY@\n",
                   "other.key");
    expect_refused(fixture,
                   "http:\n  tls:\n    certificate: @CERTIFICATE@\n    key: @KEY@\n"
                   "    clientcas: [@CERTIFICATE@.missing]\n",
                   "server.crt.missing");
    expect_refused(fixture,
                   "auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n"
                   "    rootcertbundle: @CERTIFICATE@.missing\n",
                   "server.crt.missing");
    expect_refused(fixture,
                   "auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n"
                   "    jwks: @HTPASSWD@\n",
                   "htpasswd");

    /* The S3 settings are checked as the store checks them. */
    struct config config;
    setenv("AWS_ACCESS_KEY_ID", "a", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
    load(fixture, "storage:\n  s3:\n    bucket: b\n", &config);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_int_equal(runtime_check(&config), 0);
    config.s3.secret_key[0] = '\0';
    assert_int_equal(runtime_check(&config), -EINVAL);
    assert_non_null(strstr(error_message(), "no S3 credentials"));
    config_release(&config);
}

/* Mirrors: one upstream client per entry, credentials files read when the
 * snapshot is built (a missing or malformed one refuses it), and a change
 * of cairn.mirrors applies live. */
static void test_mirrors(void **state)
{
    struct fixture *fixture = *state;
    char credentials[PATH_MAX], yaml[2 * PATH_MAX + 256];
    support_path(credentials, "%s/hub.credentials", fixture->root);
    snprintf(yaml, sizeof yaml,
             "cairn:\n  mirrors:\n    - prefix: hub\n      url: https://registry-1.docker.io\n"
             "      credentials_file: %s\n",
             credentials);
    expect_refused(fixture, yaml, "hub.credentials: cannot open");
    write_text(credentials, "no colon here\n");
    expect_refused(fixture, yaml, "expected a first line username:password");
    expect_refused(fixture,
                   "cairn:\n  mirrors:\n    - prefix: hub\n      url: https://a.example\n"
                   "      ca_bundle: @CERTIFICATE@.missing\n",
                   "cannot open the CA bundle");

    write_text(credentials, "bot:pass:with:colons\n");
    struct config config;
    struct runtime *first, *second;
    char changes[1024];
    load(fixture, yaml, &config);
    assert_int_equal(runtime_build(&config, NULL, &first, changes, sizeof changes), 0);
    assert_int_equal(first->upstream_count, 1);
    load(fixture, yaml, &config);
    assert_int_equal(runtime_build(&config, first, &second, changes, sizeof changes), 0);
    assert_string_equal(changes, "");
    runtime_release(second);
    load(fixture,
         "proxy:\n  remoteurl: http://127.0.0.1:1\n"
         "cairn:\n  mirrors:\n    - prefix: hub\n      url: https://registry-1.docker.io\n"
         "      ttl: 1h\n",
         &config);
    assert_int_equal(runtime_build(&config, first, &second, changes, sizeof changes), 0);
    assert_string_equal(changes, "cairn.mirrors/proxy");
    assert_int_equal(second->upstream_count, 2);
    assert_int_equal(second->config.mirrors[1].ttl_seconds, 3600);
    runtime_release(second);
    runtime_release(first);
}

static void test_rebuild_keeps_restart_settings(void **state)
{
    struct fixture *fixture = *state;
    struct config config;
    struct runtime *first, *second;
    char changes[1024];
    setenv("AWS_ACCESS_KEY_ID", "a", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
    load(fixture,
         "storage:\n  filesystem:\n    rootdirectory: /srv/one\n"
         "  s3:\n    bucket: one\n    attempts: 2\n"
         "http:\n  addr: 127.0.0.1:5001\n"
         "cairn:\n  workers: 2\n",
         &config);
    assert_int_equal(runtime_build(&config, NULL, &first, changes, sizeof changes), 0);

    /* Same file: nothing changed. */
    load(fixture,
         "storage:\n  filesystem:\n    rootdirectory: /srv/one\n"
         "  s3:\n    bucket: one\n    attempts: 2\n"
         "http:\n  addr: 127.0.0.1:5001\n"
         "cairn:\n  workers: 2\n",
         &config);
    assert_int_equal(runtime_build(&config, first, &second, changes, sizeof changes), 0);
    assert_string_equal(changes, "");
    runtime_release(second);

    load(fixture,
         "log:\n  level: debug\n"
         "storage:\n  filesystem:\n    rootdirectory: /srv/two\n"
         "  s3:\n    bucket: two\n    attempts: 3\n    secretkey: rotated\n"
         "http:\n  addr: 127.0.0.1:5002\n"
         "cairn:\n  workers: 8\n",
         &config);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_int_equal(runtime_build(&config, first, &second, changes, sizeof changes), 0);
    assert_string_equal(changes,
                        "storage.filesystem.rootdirectory (needs restart, kept), storage.s3 "
                        "driver, bucket, endpoint, region, rootdirectory or addressing (needs "
                        "restart, kept), http.addr (needs restart, kept), cairn.workers (needs "
                        "restart, kept), log.level, storage.s3 credentials, storage.s3 "
                        "timeouts, attempts, parts or presignexpiry");
    /* Kept: where things are. Taken: what may change while running. */
    assert_string_equal(second->config.root_directory, "/srv/one");
    assert_string_equal(second->config.s3.bucket, "one");
    assert_string_equal(second->config.listen_address, "127.0.0.1:5001");
    assert_int_equal(second->config.workers, 2);
    assert_int_equal(second->config.log_level, LOG_LEVEL_DEBUG);
    assert_string_equal(second->config.s3.secret_key, "rotated");
    assert_int_equal(second->config.s3.attempts, 3);
    /* The previous snapshot is not touched. */
    assert_string_equal(first->config.s3.secret_key, "s");
    assert_int_equal(first->config.log_level, LOG_LEVEL_INFO);
    runtime_release(second);

    /* Turning S3 off needs a restart: all of it is kept. */
    load(fixture, "storage:\n  filesystem:\n    rootdirectory: /srv/one\n", &config);
    assert_int_equal(runtime_build(&config, first, &second, changes, sizeof changes), 0);
    assert_non_null(strstr(changes, "storage.s3 driver"));
    assert_int_equal(second->config.s3_enabled, 1);
    assert_string_equal(second->config.s3.secret_key, "s");
    runtime_release(second);

    /* A summary that does not fit is cut, never overrun. */
    char small[16];
    memset(small, 'x', sizeof small);
    load(fixture, "cairn:\n  workers: 9\n  threads: 3\n", &config);
    assert_int_equal(runtime_build(&config, first, &second, small, sizeof small), 0);
    assert_true(memchr(small, '\0', sizeof small) != NULL);
    runtime_release(second);
    runtime_release(first);
}

struct hook_record {
    int calls;
    const struct runtime *seen;
    unsigned long generation_at_call;
};

static void record_publish(const struct runtime *runtime, void *context)
{
    struct hook_record *record = context;
    record->calls++;
    record->seen = runtime;
    record->generation_at_call = runtime_current_generation();
}

static void test_publish_and_references(void **state)
{
    (void)state;
    struct config config;
    struct runtime *first, *second;
    char changes[256];
    struct hook_record record = {0};

    assert_null(runtime_current());
    assert_int_equal(runtime_current_generation(), 0);
    config_defaults(&config);
    assert_int_equal(runtime_build(&config, NULL, &first, changes, sizeof changes), 0);
    runtime_set_publish_hook(record_publish, &record);
    runtime_publish(first); /* takes our reference */
    assert_int_equal(record.calls, 1);
    assert_ptr_equal(record.seen, first);
    assert_int_equal(record.generation_at_call, 0); /* before it becomes current */
    assert_int_equal(runtime_current_generation(), 1);
    assert_int_equal(first->generation, 1);

    struct runtime *mine = runtime_current();
    assert_ptr_equal(mine, first);
    assert_int_equal(atomic_load(&first->references), 2);
    runtime_acquire(mine);
    assert_int_equal(atomic_load(&first->references), 3);
    runtime_release(mine);
    assert_int_equal(atomic_load(&first->references), 2);

    /* A new snapshot: requests that hold the old one keep it. */
    config_defaults(&config);
    config.delete_enabled = 0;
    assert_int_equal(runtime_build(&config, first, &second, changes, sizeof changes), 0);
    assert_string_equal(changes, "storage.delete.enabled");
    runtime_publish(second);
    assert_int_equal(record.calls, 2);
    assert_ptr_equal(record.seen, second);
    assert_int_equal(runtime_current_generation(), 2);
    assert_int_equal(atomic_load(&first->references), 1); /* only `mine` now */
    assert_int_equal(mine->config.delete_enabled, 1);
    runtime_release(mine); /* the last reference: freed (ASan would see a leak) */

    struct runtime *now = runtime_current();
    assert_ptr_equal(now, second);
    assert_int_equal(now->config.delete_enabled, 0);
    runtime_release(now);

    runtime_set_publish_hook(NULL, NULL);
    config_defaults(&config);
    assert_int_equal(runtime_build(&config, second, &first, changes, sizeof changes), 0);
    runtime_publish(first);
    assert_int_equal(record.calls, 2); /* the hook was removed */
    assert_int_equal(runtime_current_generation(), 3);
    runtime_release(NULL); /* harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_build_loads_what_the_config_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mirrors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_keeps_restart_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_and_references, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

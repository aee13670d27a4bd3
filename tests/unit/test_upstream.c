/* Unit tests for drivers/upstream.h: the parsers of what an upstream sends
 * (WWW-Authenticate, token responses, Content-Range) and the mapping of names. The
 * requests themselves are tested against real registries in
 * tests/e2e/test_mirror.py. */
#include "test_support.h"

#include <errno.h>

#include "drivers/upstream.h"
#include "layout/error.h"

static int parse(const char *text, struct upstream_challenge *challenge)
{
    return upstream_parse_challenge(text, strlen(text), challenge);
}

static void test_bearer_challenge(void **state)
{
    (void)state;
    struct upstream_challenge challenge;
    assert_int_equal(parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry."
                           "docker.io\",scope=\"repository:library/alpine:pull\"",
                           &challenge),
                     0);
    assert_int_equal(challenge.scheme, UPSTREAM_SCHEME_BEARER);
    assert_string_equal(challenge.realm, "https://auth.docker.io/token");
    assert_string_equal(challenge.service, "registry.docker.io");
    assert_string_equal(challenge.scope, "repository:library/alpine:pull");

    /* Case, blanks, unquoted values, escapes, unknown parameters. */
    assert_int_equal(parse("  bearer  Realm = \"https://ghcr.io/token\" , error=invalid_token, "
                           "SERVICE=ghcr.io,scope=\"a\\\"b\"",
                           &challenge),
                     0);
    assert_int_equal(challenge.scheme, UPSTREAM_SCHEME_BEARER);
    assert_string_equal(challenge.realm, "https://ghcr.io/token");
    assert_string_equal(challenge.service, "ghcr.io");
    assert_string_equal(challenge.scope, "a\"b");

    /* Only the first challenge of a header counts. */
    assert_int_equal(parse("Basic realm=\"r\", Bearer realm=\"x\"", &challenge), 0);
    assert_int_equal(challenge.scheme, UPSTREAM_SCHEME_BASIC);
    assert_string_equal(challenge.realm, "r");
}

static void test_other_challenges(void **state)
{
    (void)state;
    struct upstream_challenge challenge;
    assert_int_equal(parse("Basic realm=\"Registry Realm\"", &challenge), 0);
    assert_int_equal(challenge.scheme, UPSTREAM_SCHEME_BASIC);
    assert_string_equal(challenge.realm, "Registry Realm");
    assert_string_equal(challenge.service, "");
    assert_int_equal(parse("Negotiate", &challenge), 0);
    assert_int_equal(challenge.scheme, UPSTREAM_SCHEME_OTHER);
    assert_int_equal(parse("Bearer", &challenge), 0);
    assert_int_equal(challenge.scheme, UPSTREAM_SCHEME_BEARER);
    assert_string_equal(challenge.realm, "");
}

static void test_bad_challenges(void **state)
{
    (void)state;
    struct upstream_challenge challenge;
    static const char *const bad[] = {
        "",
        "   ",
        "\"Bearer\"",
        "Bearer realm=\"unterminated",
        "Bearer realm=\"escape at the end\\",
        "Bearer realm=\"x\", =y",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(bad[i], &challenge) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);

    char long_value[UPSTREAM_CHALLENGE_VALUE_MAX + 64];
    int length = snprintf(long_value, sizeof long_value, "Bearer realm=\"");
    memset(long_value + length, 'a', UPSTREAM_CHALLENGE_VALUE_MAX);
    strcpy(long_value + length + UPSTREAM_CHALLENGE_VALUE_MAX, "\"");
    assert_int_equal(parse(long_value, &challenge), -EINVAL);

    /* `length` bounds the read: the quote after it is not seen. */
    assert_int_equal(upstream_parse_challenge("Bearer realm=\"abc\"", 16, &challenge), -EINVAL);
    /* A NUL inside a quoted value is refused, not truncated silently. */
    assert_int_equal(upstream_parse_challenge("Bearer realm=\"a\0b\"", 18, &challenge), -EINVAL);
}

static void test_token_response(void **state)
{
    (void)state;
    char *token = NULL;
    uint64_t lifetime = 0;
    const char *docker = "{\"token\":\"abc.def\",\"access_token\":\"abc.def\",\"expires_in\":300,"
                         "\"issued_at\":\"2026-12-03T14:00:00Z\"}";
    assert_int_equal(upstream_parse_token_response(docker, strlen(docker), &token, &lifetime), 0);
    assert_string_equal(token, "abc.def");
    assert_int_equal(lifetime, 300);
    free(token);
    const char *oauth = "{\"access_token\":\"xyz\"}";
    assert_int_equal(upstream_parse_token_response(oauth, strlen(oauth), &token, &lifetime), 0);
    assert_string_equal(token, "xyz");
    assert_int_equal(lifetime, UPSTREAM_TOKEN_DEFAULT_LIFETIME_SECONDS);
    free(token);

    static const char *const bad[] = {
        "",
        "[]",
        "{}",
        "{\"token\":\"\"}",
        "{\"token\":5}",
        "{\"token\":\"a b\"}",
        "{\"token\":\"a\\r\\nX-Injected: 1\"}",
        "{\"token\":\"a\",\"token\":\"b\"}",
        "{\"token\":\"a\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (upstream_parse_token_response(bad[i], strlen(bad[i]), &token, &lifetime) != -EINVAL)
            fail_msg("accepted %s", bad[i]);
}

static void test_remote_names(void **state)
{
    (void)state;
    char out[UPSTREAM_NAME_MAX];
    struct upstream_settings hub = {.prefix = "hub", .url = "https://registry-1.docker.io"};
    assert_int_equal(upstream_remote_name(&hub, "hub/alpine", out, sizeof out), 1);
    assert_string_equal(out, "library/alpine");
    assert_int_equal(upstream_remote_name(&hub, "hub/bitnami/redis", out, sizeof out), 1);
    assert_string_equal(out, "bitnami/redis");
    assert_int_equal(upstream_remote_name(&hub, "hubble/alpine", out, sizeof out), 0);
    assert_int_equal(upstream_remote_name(&hub, "hub", out, sizeof out), 0);
    assert_int_equal(upstream_remote_name(&hub, "local/app", out, sizeof out), 0);

    char *hosts[] = {"docker.io"};
    struct upstream_settings named = {
        .prefix = "dh", .url = "http://127.0.0.1:5001", .hosts = hosts, .host_count = 1};
    assert_int_equal(upstream_remote_name(&named, "dh/alpine", out, sizeof out), 1);
    assert_string_equal(out, "library/alpine");

    struct upstream_settings other = {.prefix = "mirror/ghcr", .url = "https://ghcr.io"};
    assert_int_equal(upstream_remote_name(&other, "mirror/ghcr/app", out, sizeof out), 1);
    assert_string_equal(out, "app");
    assert_int_equal(upstream_remote_name(&other, "mirror/app", out, sizeof out), 0);

    struct upstream_settings proxy = {.prefix = "", .url = "https://registry-1.docker.io"};
    assert_int_equal(upstream_remote_name(&proxy, "alpine", out, sizeof out), 1);
    assert_string_equal(out, "library/alpine");
    assert_int_equal(upstream_remote_name(&proxy, "alpine", out, 10), -ENAMETOOLONG);
}

static int content_range(const char *text, int64_t *first, int64_t *last, int64_t *total)
{
    return upstream_parse_content_range(text, strlen(text), first, last, total);
}

static void test_content_range(void **state)
{
    (void)state;
    int64_t first, last, total;
    assert_int_equal(content_range("bytes 1572864-3145727/3145728", &first, &last, &total), 0);
    assert_int_equal(first, 1572864);
    assert_int_equal(last, 3145727);
    assert_int_equal(total, 3145728);
    assert_int_equal(content_range("bytes 5-9/*", &first, &last, &total), 0);
    assert_int_equal(total, -1);
    static const char *const bad[] = {"",
                                      "bytes",
                                      "bytes 5-9",
                                      "bytes 9-5/10",
                                      "bytes 5-10/10",
                                      "items 0-1/2",
                                      "bytes -9/10",
                                      "bytes 5-9/10 ",
                                      "bytes 5-9/1x",
                                      "bytes 99999999999999999999-1/2",
                                      "bytes */10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(content_range(bad[i], &first, &last, &total), -EINVAL);
    /* Never past the length given. */
    assert_int_equal(upstream_parse_content_range("bytes 0-1/2", 9, &first, &last, &total),
                     -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer_challenge), cmocka_unit_test(test_other_challenges),
        cmocka_unit_test(test_bad_challenges),   cmocka_unit_test(test_token_response),
        cmocka_unit_test(test_remote_names),     cmocka_unit_test(test_content_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

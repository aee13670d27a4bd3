/* Unit tests for layout/object_key.h. */
#include "test_support.h"

#include <errno.h>
#include <string.h>

#include "layout/error.h"
#include "layout/object_key.h"

#define HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static struct digest digest_of(const char *text)
{
    struct digest digest;
    assert_int_equal(digest_parse(text, strlen(text), &digest), 0);
    return digest;
}

static void test_prefix_normalized(void **state)
{
    (void)state;
    char out[OBJECT_KEY_MAX];
    assert_int_equal(object_key_prefix_normalize("/registry/", out), 0);
    assert_string_equal(out, "registry");
    assert_int_equal(object_key_prefix_normalize("a/b-c_d.e", out), 0);
    assert_string_equal(out, "a/b-c_d.e");
    assert_int_equal(object_key_prefix_normalize("", out), 0);
    assert_string_equal(out, "");
    assert_int_equal(object_key_prefix_normalize("/", out), 0);
    assert_string_equal(out, "");
    assert_int_equal(object_key_prefix_normalize(NULL, out), 0);
    assert_string_equal(out, "");
}

static void test_prefix_refused(void **state)
{
    (void)state;
    char out[OBJECT_KEY_MAX], long_prefix[2000];
    const char *bad[] = {"a//b", "a/../b", "./a", "a b", "a\\b", "a?b", "a#b", "a/\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(object_key_prefix_normalize(bad[i], out), -EINVAL);
        assert_true(strlen(error_message()) > 0);
    }
    memset(long_prefix, 'a', sizeof long_prefix - 1);
    long_prefix[sizeof long_prefix - 1] = '\0';
    assert_int_equal(object_key_prefix_normalize(long_prefix, out), -ENAMETOOLONG);
}

static void test_blob_keys(void **state)
{
    (void)state;
    char key[OBJECT_KEY_MAX];
    struct digest digest = digest_of("sha256:" HEX);
    assert_int_equal(object_key_blob_data("registry", &digest, key), 0);
    assert_string_equal(key, "registry/docker/registry/v2/blobs/sha256/e3/" HEX "/data");
    assert_int_equal(object_key_blob_data("", &digest, key), 0);
    assert_string_equal(key, "docker/registry/v2/blobs/sha256/e3/" HEX "/data");
    assert_int_equal(object_key_blobs_prefix("x/y", key), 0);
    assert_string_equal(key, "x/y/docker/registry/v2/blobs/");
}

static void test_clock_probe(void **state)
{
    (void)state;
    char key[OBJECT_KEY_MAX];
    assert_int_equal(object_key_clock_probe("p", "12-ab", key), 0);
    assert_string_equal(key, "p/docker/registry/v2/.cairn-clock-12-ab");
    assert_int_equal(object_key_clock_probe("", "x", key), 0);
    assert_string_equal(key, "docker/registry/v2/.cairn-clock-x");
    assert_int_equal(object_key_clock_probe("p", "../x", key), -EINVAL);
    assert_int_equal(object_key_clock_probe("p", "", key), -EINVAL);
}

static void test_parse_round_trip(void **state)
{
    (void)state;
    char key[OBJECT_KEY_MAX];
    struct digest digest = digest_of("sha256:" HEX), parsed;
    assert_int_equal(object_key_blob_data("p", &digest, key), 0);
    assert_int_equal(object_key_parse_blob_data("p", key, &parsed), 0);
    assert_true(digest_equal(&digest, &parsed));
    assert_int_equal(object_key_blob_data("", &digest, key), 0);
    assert_int_equal(object_key_parse_blob_data("", key, &parsed), 0);
    assert_true(digest_equal(&digest, &parsed));
}

static void test_parse_refuses_others(void **state)
{
    (void)state;
    struct digest parsed;
    const char *bad[] = {
        "p/docker/registry/v2/blobs/sha256/e3/" HEX "/data.tmp",
        "p/docker/registry/v2/blobs/sha256/e4/" HEX "/data",
        "p/docker/registry/v2/blobs/sha256/e3/" HEX,
        "p/docker/registry/v2/blobs/md5/e3/" HEX "/data",
        "q/docker/registry/v2/blobs/sha256/e3/" HEX "/data",
        "p/docker/registry/v2/blobs/sha256/E3/E3B0/data",
        "p/docker/registry/v2/repositories/x/_layers/link",
        "p/docker/registry/v2/blobs/",
        "p/docker/registry/v2/blobs/sha256/e3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(object_key_parse_blob_data("p", bad[i], &parsed), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_normalized), cmocka_unit_test(test_prefix_refused),
        cmocka_unit_test(test_blob_keys),         cmocka_unit_test(test_clock_probe),
        cmocka_unit_test(test_parse_round_trip),  cmocka_unit_test(test_parse_refuses_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for src/http/query.h. */
#include "test_support.h"

#include <errno.h>

#include "src/http/query.h"

static int get(const char *query, const char *key, char *out, size_t size)
{
    return query_get(query, strlen(query), key, out, size);
}

static void test_get(void **state)
{
    (void)state;
    char value[128];
    assert_int_equal(get("digest=sha256%3Aabc&n=2", "digest", value, sizeof value), 1);
    assert_string_equal(value, "sha256:abc");
    assert_int_equal(get("digest=sha256%3Aabc&n=2", "n", value, sizeof value), 1);
    assert_string_equal(value, "2");
    assert_int_equal(get("digest=x", "n", value, sizeof value), 0);
    assert_int_equal(get("nn=1&n=3", "n", value, sizeof value), 1);
    assert_string_equal(value, "3");
    assert_int_equal(get("flag&x=1", "flag", value, sizeof value), 1);
    assert_string_equal(value, "");
    assert_int_equal(get("a=b+c", "a", value, sizeof value), 1);
    assert_string_equal(value, "b c");
}

static void test_rejections(void **state)
{
    (void)state;
    char value[8];
    assert_int_equal(get("a=%00", "a", value, sizeof value), -EINVAL);
    assert_int_equal(get("a=%4", "a", value, sizeof value), -EINVAL);
    assert_int_equal(get("a=%zz", "a", value, sizeof value), -EINVAL);
    assert_int_equal(get("a=123456789", "a", value, sizeof value), -EINVAL);
}

static void test_encode(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(query_encode("a/b c:d", out, sizeof out), 9);
    assert_string_equal(out, "a/b%20c:d");
    char small[4];
    assert_int_equal(query_encode("abcdef", small, sizeof small), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

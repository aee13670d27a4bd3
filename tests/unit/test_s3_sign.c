/* Unit tests for drivers/s3_sign.h. */
#include "test_support.h"

#include <errno.h>

#include "drivers/s3_sign.h"
#include "layout/error.h"

/* AWS's documented example, "Authenticating Requests: Using Query Parameters
 * (AWS Signature Version 4)" in the S3 API reference. */
#define EXAMPLE_ACCESS_KEY "AKIAIOSFODNN7EXAMPLE"
#define EXAMPLE_SECRET_KEY "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EXAMPLE_NOW ((time_t)1369353600) /* 2013-05-24T00:00:00Z */
#define EXAMPLE_QUERY                                                                              \
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"                                                             \
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"            \
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
#define EXAMPLE_CANONICAL_REQUEST                                                                  \
    "GET\n"                                                                                        \
    "/test.txt\n" EXAMPLE_QUERY "\n"                                                               \
    "host:examplebucket.s3.amazonaws.com\n"                                                        \
    "\n"                                                                                           \
    "host\n"                                                                                       \
    "UNSIGNED-PAYLOAD"
#define EXAMPLE_STRING_TO_SIGN                                                                     \
    "AWS4-HMAC-SHA256\n"                                                                           \
    "20130524T000000Z\n"                                                                           \
    "20130524/us-east-1/s3/aws4_request\n"                                                         \
    "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
#define EXAMPLE_SIGNATURE "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
#define EXAMPLE_URL                                                                                \
    "https://examplebucket.s3.amazonaws.com/test.txt?" EXAMPLE_QUERY                               \
    "&X-Amz-Signature=" EXAMPLE_SIGNATURE
/* HMAC chain over "AWS4"<secret>, 20130524, us-east-1, s3, aws4_request,
 * computed with Python's hmac module. */
#define EXAMPLE_SIGNING_KEY "dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378"

/* A second request, path style against a local server with a port, signed
 * by botocore 1.29 (S3SigV4QueryAuth) at 2024-02-29T13:05:09Z. */
#define LOCAL_SECRET_KEY "cairn-secret/+="
#define LOCAL_NOW ((time_t)1709211909)
#define LOCAL_QUERY                                                                                \
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"                                                             \
    "&X-Amz-Credential=cairn-access%2F20240229%2Feu-west-1%2Fs3%2Faws4_request"                    \
    "&X-Amz-Date=20240229T130509Z&X-Amz-Expires=1200&X-Amz-SignedHeaders=host"

static struct s3_presign_request example_request(void)
{
    return (struct s3_presign_request){
        .method = "GET",
        .scheme = "https",
        .host = "examplebucket.s3.amazonaws.com",
        .path = "/test.txt",
        .access_key = EXAMPLE_ACCESS_KEY,
        .secret_key = EXAMPLE_SECRET_KEY,
        .region = "us-east-1",
        .now = EXAMPLE_NOW,
        .expires_seconds = 86400,
    };
}

static struct s3_presign_request local_request(const char *path)
{
    return (struct s3_presign_request){
        .method = "GET",
        .scheme = "http",
        .host = "127.0.0.1:4569",
        .path = path,
        .access_key = "cairn-access",
        .secret_key = LOCAL_SECRET_KEY,
        .region = "eu-west-1",
        .now = LOCAL_NOW,
        .expires_seconds = 1200,
    };
}

static void hex(const unsigned char *bytes, size_t length, char *out)
{
    for (size_t i = 0; i < length; i++)
        sprintf(out + 2 * i, "%02x", bytes[i]);
}

/* Encodes a NUL-terminated string. */
static const char *encode(const char *text, int encode_slash)
{
    static char out[1024];
    assert_int_equal(s3_uri_encode(text, strlen(text), encode_slash, out, sizeof out), 0);
    return out;
}

/* A failure left a message that names no secret. */
static void assert_failure_message(void)
{
    assert_true(strlen(error_message()) > 0);
    assert_null(strstr(error_message(), EXAMPLE_SECRET_KEY));
    assert_null(strstr(error_message(), EXAMPLE_SIGNATURE));
}

static void test_uri_encode_kept_and_encoded(void **state)
{
    (void)state;
    const char *unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    assert_string_equal(encode(unreserved, 0), unreserved);
    assert_string_equal(encode(unreserved, 1), unreserved);
    assert_string_equal(encode("sha256:abc", 0), "sha256%3Aabc");
    assert_string_equal(encode("a b", 0), "a%20b");
    assert_string_equal(encode("+!*'()&=?#%$,;@[]", 1),
                        "%2B%21%2A%27%28%29%26%3D%3F%23%25%24%2C%3B%40%5B%5D");
    /* Hex is uppercase; control and high bytes too. */
    assert_string_equal(encode("\x01\x1f\x7f\xff", 0), "%01%1F%7F%FF");
    assert_string_equal(encode("", 1), "");
}

static void test_uri_encode_slash(void **state)
{
    (void)state;
    const char *path = "/bucket/docker/registry/v2/blobs/sha256:ab/data";
    assert_string_equal(encode(path, 0), "/bucket/docker/registry/v2/blobs/sha256%3Aab/data");
    assert_string_equal(encode(path, 1),
                        "%2Fbucket%2Fdocker%2Fregistry%2Fv2%2Fblobs%2Fsha256%3Aab%2Fdata");
    assert_string_equal(encode("a/b c", 0), "a/b%20c");
    assert_string_equal(encode("a/b c", 1), "a%2Fb%20c");
}

static void test_uri_encode_utf8(void **state)
{
    (void)state;
    /* One %XX per byte of each character. */
    assert_string_equal(encode("\xc3\xa9t\xc3\xa9", 0), "%C3%A9t%C3%A9");             /* été */
    assert_string_equal(encode("\xe6\x97\xa5\xe6\x9c\xac", 0), "%E6%97%A5%E6%9C%AC"); /* 日本 */
    assert_string_equal(encode("\xf0\x9f\x90\xb3~", 0), "%F0%9F%90%B3~"); /* whale emoji */
}

static void test_uri_encode_length(void **state)
{
    (void)state;
    char out[16];
    /* Only `length` bytes count, a NUL among them included. */
    assert_int_equal(s3_uri_encode("a:bcdef", 2, 0, out, sizeof out), 0);
    assert_string_equal(out, "a%3A");
    assert_int_equal(s3_uri_encode("a\0b", 3, 0, out, sizeof out), 0);
    assert_string_equal(out, "a%00b");
    assert_int_equal(s3_uri_encode("ignored", 0, 0, out, sizeof out), 0);
    assert_string_equal(out, "");
}

static void test_uri_encode_bounds(void **state)
{
    (void)state;
    char out[8];
    /* "a%3Ab" is 5 characters: 6 bytes fit, 5 do not. */
    assert_int_equal(s3_uri_encode("a:b", 3, 0, out, 6), 0);
    assert_string_equal(out, "a%3Ab");
    memset(out, 'x', sizeof out);
    error_set(0, "%s", "");
    assert_int_equal(s3_uri_encode("a:b", 3, 0, out, 5), -ENAMETOOLONG);
    assert_string_equal(out, "");
    assert_non_null(strstr(error_message(), "needs 6 bytes"));
    /* A %XX cut in the middle does not fit either. */
    assert_int_equal(s3_uri_encode("ab:", 3, 0, out, 5), -ENAMETOOLONG);
    assert_string_equal(out, "");
    assert_int_equal(s3_uri_encode("a", 1, 0, out, 1), -ENAMETOOLONG);
    assert_int_equal(s3_uri_encode("", 0, 0, out, 1), 0);
    assert_int_equal(s3_uri_encode("", 0, 0, out, 0), -ENAMETOOLONG);
    assert_int_equal(s3_uri_encode("", 0, 0, NULL, 0), -ENAMETOOLONG);
    error_set(0, "%s", "");
    assert_int_equal(s3_uri_encode(NULL, 0, 0, out, sizeof out), -EINVAL);
    assert_true(strlen(error_message()) > 0);
}

static void test_canonical_query_sorted(void **state)
{
    (void)state;
    char out[256];
    const struct s3_query_parameter list[] = {
        {"prefix", "docker/registry/v2/blobs/"},
        {"list-type", "2"},
        {"continuation-token", "1/+a="},
        {"max-keys", "1000"},
    };
    assert_int_equal(s3_canonical_query(list, 4, out, sizeof out), 0);
    assert_string_equal(out, "continuation-token=1%2F%2Ba%3D&list-type=2&max-keys=1000"
                             "&prefix=docker%2Fregistry%2Fv2%2Fblobs%2F");
    /* The caller's array is not reordered. */
    assert_string_equal(list[0].name, "prefix");

    /* A NULL value is "name=". */
    const struct s3_query_parameter uploads[] = {{"uploads", NULL}};
    assert_int_equal(s3_canonical_query(uploads, 1, out, sizeof out), 0);
    assert_string_equal(out, "uploads=");

    /* Uppercase sorts before lowercase (byte order), and equal names sort by
     * value. */
    const struct s3_query_parameter mixed[] = {
        {"b", "2"}, {"a", "z"}, {"B", ""}, {"b", "1"}, {"a", "y"},
    };
    assert_int_equal(s3_canonical_query(mixed, 5, out, sizeof out), 0);
    assert_string_equal(out, "B=&a=y&a=z&b=1&b=2");

    /* The order is the encoded one: "%7B" ('{') before "z", though '{' > 'z';
     * "%2F" ('/') before "-" though '/' > '-'. */
    const struct s3_query_parameter encoded[] = {
        {"z", "1"}, {"{", "2"}, {"a-", "3"}, {"a/", "4"}, {"a", "5"},
    };
    assert_int_equal(s3_canonical_query(encoded, 5, out, sizeof out), 0);
    assert_string_equal(out, "%7B=2&a=5&a%2F=4&a-=3&z=1");

    /* Duplicates are all kept. */
    const struct s3_query_parameter duplicates[] = {{"a", "1"}, {"a", "1"}};
    assert_int_equal(s3_canonical_query(duplicates, 2, out, sizeof out), 0);
    assert_string_equal(out, "a=1&a=1");

    assert_int_equal(s3_canonical_query(NULL, 0, out, sizeof out), 0);
    assert_string_equal(out, "");
}

static void test_canonical_query_errors(void **state)
{
    (void)state;
    char out[16];
    const struct s3_query_parameter nameless[] = {{"a", "1"}, {NULL, "2"}};
    error_set(0, "%s", "");
    assert_int_equal(s3_canonical_query(nameless, 2, out, sizeof out), -EINVAL);
    assert_non_null(strstr(error_message(), "parameter 2"));
    assert_int_equal(s3_canonical_query(NULL, 1, out, sizeof out), -EINVAL);

    const struct s3_query_parameter list[] = {{"name", "a b"}}; /* name=a%20b: 10 */
    assert_int_equal(s3_canonical_query(list, 1, out, 11), 0);
    assert_string_equal(out, "name=a%20b");
    error_set(0, "%s", "");
    assert_int_equal(s3_canonical_query(list, 1, out, 10), -ENAMETOOLONG);
    assert_string_equal(out, "");
    assert_non_null(strstr(error_message(), "needs 11 bytes"));
}

static void test_signing_key(void **state)
{
    (void)state;
    unsigned char key[S3_SIGNING_KEY_SIZE];
    char key_hex[2 * S3_SIGNING_KEY_SIZE + 1];
    assert_int_equal(s3_signing_key(EXAMPLE_SECRET_KEY, "20130524", "us-east-1", key), 0);
    hex(key, sizeof key, key_hex);
    assert_string_equal(key_hex, EXAMPLE_SIGNING_KEY);

    assert_int_equal(s3_signing_key(EXAMPLE_SECRET_KEY, "2013052", "us-east-1", key), -EINVAL);
    assert_failure_message();
    assert_int_equal(s3_signing_key(EXAMPLE_SECRET_KEY, "2013-05-24", "us-east-1", key), -EINVAL);
    assert_int_equal(s3_signing_key(EXAMPLE_SECRET_KEY, "2013052x", "us-east-1", key), -EINVAL);
    assert_int_equal(s3_signing_key(EXAMPLE_SECRET_KEY, NULL, "us-east-1", key), -EINVAL);
    assert_int_equal(s3_signing_key(NULL, "20130524", "us-east-1", key), -EINVAL);
    assert_int_equal(s3_signing_key("", "20130524", "us-east-1", key), -EINVAL);
    assert_int_equal(s3_signing_key(EXAMPLE_SECRET_KEY, "20130524", NULL, key), -EINVAL);
    assert_int_equal(s3_signing_key(EXAMPLE_SECRET_KEY, "20130524", "us/east", key), -EINVAL);
    assert_failure_message();
}

static void test_aws_example(void **state)
{
    (void)state;
    struct s3_presign_request request = example_request();
    char text[1024];
    assert_int_equal(s3_presign_canonical_request(&request, text, sizeof text), 0);
    assert_string_equal(text, EXAMPLE_CANONICAL_REQUEST);
    assert_int_equal(s3_presign_string_to_sign(&request, text, sizeof text), 0);
    assert_string_equal(text, EXAMPLE_STRING_TO_SIGN);
    char signature[S3_SIGNATURE_HEX_LENGTH + 1];
    assert_int_equal(s3_presign_signature(&request, signature), 0);
    assert_string_equal(signature, EXAMPLE_SIGNATURE);
    assert_int_equal(s3_presign_url(&request, text, sizeof text), 0);
    assert_string_equal(text, EXAMPLE_URL);
}

static void test_local_server_blob(void **state)
{
    (void)state;
    struct s3_presign_request request =
        local_request("/cairn-test/docker/registry/v2/blobs/sha256/ab/ab00/data");
    char text[1024];
    assert_int_equal(s3_presign_canonical_request(&request, text, sizeof text), 0);
    assert_string_equal(
        text, "GET\n"
              "/cairn-test/docker/registry/v2/blobs/sha256/ab/ab00/data\n" LOCAL_QUERY "\n"
              "host:127.0.0.1:4569\n\nhost\nUNSIGNED-PAYLOAD");
    assert_int_equal(s3_presign_url(&request, text, sizeof text), 0);
    assert_string_equal(
        text, "http://127.0.0.1:4569/cairn-test/docker/registry/v2/blobs/sha256/ab/ab00/data"
              "?" LOCAL_QUERY
              "&X-Amz-Signature=413ff13597031536416e678d8e07946203c9c51b5c440ce1479d312087a9c941");
}

static void test_local_server_encoded_path(void **state)
{
    (void)state;
    /* ':' space, UTF-8 and '~' in the path: encoded once in both the
     * canonical request and the URL. */
    struct s3_presign_request request =
        local_request("/cairn-test/a b/sha256:abc/\xc3\xa9t\xc3\xa9~x");
    char text[1024];
    assert_int_equal(s3_presign_canonical_request(&request, text, sizeof text), 0);
    assert_string_equal(text, "GET\n"
                              "/cairn-test/a%20b/sha256%3Aabc/%C3%A9t%C3%A9~x\n" LOCAL_QUERY "\n"
                              "host:127.0.0.1:4569\n\nhost\nUNSIGNED-PAYLOAD");
    assert_int_equal(s3_presign_url(&request, text, sizeof text), 0);
    assert_string_equal(
        text, "http://127.0.0.1:4569/cairn-test/a%20b/sha256%3Aabc/%C3%A9t%C3%A9~x"
              "?" LOCAL_QUERY
              "&X-Amz-Signature=729e9ec3c0117f7aee3966eb9e7079252957bc60995e38a3fede8d15aa9dbe17");
}

static void test_signature_depends_on_every_field(void **state)
{
    (void)state;
    char reference[S3_SIGNATURE_HEX_LENGTH + 1], signature[S3_SIGNATURE_HEX_LENGTH + 1];
    struct s3_presign_request request = example_request();
    assert_int_equal(s3_presign_signature(&request, reference), 0);
    struct s3_presign_request changed[] = {
        example_request(), example_request(), example_request(), example_request(),
        example_request(), example_request(), example_request(), example_request(),
    };
    changed[0].method = "HEAD";
    changed[1].host = "otherbucket.s3.amazonaws.com";
    changed[2].path = "/test.txt2";
    changed[3].access_key = "AKIAIOSFODNN7EXAMPLF";
    changed[4].secret_key = EXAMPLE_SECRET_KEY "x";
    changed[5].region = "eu-west-1";
    changed[6].now = EXAMPLE_NOW + 1;
    changed[7].expires_seconds = 86401;
    for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
        assert_int_equal(s3_presign_signature(&changed[i], signature), 0);
        assert_string_not_equal(signature, reference);
    }
    /* The scheme is not signed (only the host header is). */
    request.scheme = "http";
    assert_int_equal(s3_presign_signature(&request, signature), 0);
    assert_string_equal(signature, reference);
}

static void test_url_bounds(void **state)
{
    (void)state;
    struct s3_presign_request request = example_request();
    size_t length = strlen(EXAMPLE_URL);
    char url[1024];
    assert_int_equal(s3_presign_url(&request, url, length + 1), 0);
    assert_string_equal(url, EXAMPLE_URL);
    error_set(0, "%s", "");
    assert_int_equal(s3_presign_url(&request, url, length), -ENAMETOOLONG);
    assert_string_equal(url, "");
    assert_failure_message();
    char expected[64];
    snprintf(expected, sizeof expected, "needs %zu bytes", length + 1);
    assert_non_null(strstr(error_message(), expected));
    assert_int_equal(s3_presign_url(&request, url, 0), -ENAMETOOLONG);
    assert_int_equal(s3_presign_url(&request, NULL, 0), -ENAMETOOLONG);

    size_t canonical_length = strlen(EXAMPLE_CANONICAL_REQUEST);
    assert_int_equal(s3_presign_canonical_request(&request, url, canonical_length + 1), 0);
    assert_int_equal(s3_presign_canonical_request(&request, url, canonical_length), -ENAMETOOLONG);
    assert_string_equal(url, "");
    size_t string_to_sign_length = strlen(EXAMPLE_STRING_TO_SIGN);
    assert_int_equal(s3_presign_string_to_sign(&request, url, string_to_sign_length + 1), 0);
    assert_int_equal(s3_presign_string_to_sign(&request, url, string_to_sign_length),
                     -ENAMETOOLONG);
    assert_string_equal(url, "");
}

/* Every presign function refuses `request` with -EINVAL, a message and an
 * empty output. */
static void assert_refused(const struct s3_presign_request *request)
{
    char text[1024], signature[S3_SIGNATURE_HEX_LENGTH + 1];
    memset(text, 'x', sizeof text);
    error_set(0, "%s", "");
    assert_int_equal(s3_presign_url(request, text, sizeof text), -EINVAL);
    assert_string_equal(text, "");
    assert_failure_message();
    memset(text, 'x', sizeof text);
    assert_int_equal(s3_presign_canonical_request(request, text, sizeof text), -EINVAL);
    assert_string_equal(text, "");
    memset(text, 'x', sizeof text);
    assert_int_equal(s3_presign_string_to_sign(request, text, sizeof text), -EINVAL);
    assert_string_equal(text, "");
    memset(signature, 'x', sizeof signature);
    assert_int_equal(s3_presign_signature(request, signature), -EINVAL);
    assert_string_equal(signature, "");
}

/* The example request with one field changed is refused. */
#define ASSERT_REFUSED_WITH(field, value)                                                          \
    do {                                                                                           \
        struct s3_presign_request changed = example_request();                                     \
        changed.field = (value);                                                                   \
        assert_refused(&changed);                                                                  \
    } while (0)

static void test_expiry_bounds(void **state)
{
    (void)state;
    struct s3_presign_request request = example_request();
    char url[1024];
    request.expires_seconds = 0;
    assert_refused(&request);
    assert_non_null(strstr(error_message(), "expiry"));
    request.expires_seconds = -1;
    assert_refused(&request);
    request.expires_seconds = S3_PRESIGN_EXPIRES_MAX + 1;
    assert_refused(&request);
    request.expires_seconds = 1;
    assert_int_equal(s3_presign_url(&request, url, sizeof url), 0);
    assert_non_null(strstr(url, "&X-Amz-Expires=1&"));
    request.expires_seconds = S3_PRESIGN_EXPIRES_MAX;
    assert_int_equal(s3_presign_url(&request, url, sizeof url), 0);
    assert_non_null(strstr(url, "&X-Amz-Expires=604800&"));
}

static void test_missing_fields(void **state)
{
    (void)state;
    assert_refused(NULL);
    ASSERT_REFUSED_WITH(method, NULL);
    assert_non_null(strstr(error_message(), "method"));
    ASSERT_REFUSED_WITH(scheme, NULL);
    ASSERT_REFUSED_WITH(host, NULL);
    assert_non_null(strstr(error_message(), "host"));
    ASSERT_REFUSED_WITH(path, NULL);
    ASSERT_REFUSED_WITH(access_key, NULL);
    ASSERT_REFUSED_WITH(secret_key, NULL);
    assert_non_null(strstr(error_message(), "secret key"));
    ASSERT_REFUSED_WITH(region, NULL);
    /* Empty is missing too. */
    ASSERT_REFUSED_WITH(method, "");
    ASSERT_REFUSED_WITH(host, "");
    ASSERT_REFUSED_WITH(path, "");
    ASSERT_REFUSED_WITH(access_key, "");
    ASSERT_REFUSED_WITH(secret_key, "");
    ASSERT_REFUSED_WITH(region, "");

    struct s3_presign_request request = example_request();
    error_set(0, "%s", "");
    assert_int_equal(s3_presign_signature(&request, NULL), -EINVAL);
    assert_true(strlen(error_message()) > 0);
}

static void test_malformed_fields(void **state)
{
    (void)state;
    ASSERT_REFUSED_WITH(method, "get");
    ASSERT_REFUSED_WITH(scheme, "ftp");
    ASSERT_REFUSED_WITH(scheme, "HTTPS");
    ASSERT_REFUSED_WITH(path, "test.txt");
    ASSERT_REFUSED_WITH(host, "bucket host");
    ASSERT_REFUSED_WITH(host, "host/path");
    ASSERT_REFUSED_WITH(host, "user@host");
    ASSERT_REFUSED_WITH(host, "host?");
    ASSERT_REFUSED_WITH(host, "host\r\nX: y");
    ASSERT_REFUSED_WITH(access_key, "AKIA/EXAMPLE");
    ASSERT_REFUSED_WITH(region, "us/east-1");
    ASSERT_REFUSED_WITH(region, "us east-1");
    char long_text[S3_SECRET_KEY_MAX + 2];
    memset(long_text, 'a', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    ASSERT_REFUSED_WITH(secret_key, long_text);
    ASSERT_REFUSED_WITH(access_key, long_text);
    long_text[S3_REGION_MAX + 1] = '\0';
    ASSERT_REFUSED_WITH(region, long_text);
    long_text[S3_REGION_MAX] = '\0';
    struct s3_presign_request request = example_request();
    request.region = long_text;
    char url[1024];
    assert_int_equal(s3_presign_url(&request, url, sizeof url), 0);

    /* Years 0 to 9999 only: the date has four digits. */
    ASSERT_REFUSED_WITH(now, (time_t)253402300800LL);
    assert_non_null(strstr(error_message(), "signing time"));
    request = example_request();
    request.now = (time_t)253402300799LL;
    assert_int_equal(s3_presign_url(&request, url, sizeof url), 0);
    assert_non_null(strstr(url, "X-Amz-Date=99991231T235959Z"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_encode_kept_and_encoded),
        cmocka_unit_test(test_uri_encode_slash),
        cmocka_unit_test(test_uri_encode_utf8),
        cmocka_unit_test(test_uri_encode_length),
        cmocka_unit_test(test_uri_encode_bounds),
        cmocka_unit_test(test_canonical_query_sorted),
        cmocka_unit_test(test_canonical_query_errors),
        cmocka_unit_test(test_signing_key),
        cmocka_unit_test(test_aws_example),
        cmocka_unit_test(test_local_server_blob),
        cmocka_unit_test(test_local_server_encoded_path),
        cmocka_unit_test(test_signature_depends_on_every_field),
        cmocka_unit_test(test_url_bounds),
        cmocka_unit_test(test_expiry_bounds),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_malformed_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

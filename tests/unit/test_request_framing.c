/* Unit tests for src/http/request_framing.h: the strict chunk decoder (fed
 * the way h2o feeds it, in every split of the input) and the marking of
 * requests whose headers frame them ambiguously. */
#include "test_support.h"

#include "src/http/request_framing.h"

#define MARKER "cairn:refused-framing"

/* ---- chunks */

struct decoded {
    ssize_t result; /* -1, -2, or the bytes left after the body */
    char data[256];
    size_t length;
    char rest[64]; /* the bytes after the body */
};

/* Decodes `input` handed over `piece` bytes at a time, as h2o does: each call
 * gets only the bytes that arrived since the last one. */
static struct decoded decode_in_pieces(const char *input, size_t piece)
{
    struct decoded out = {.result = -2};
    struct phr_chunked_decoder decoder;
    memset(&decoder, 0, sizeof decoder);
    decoder.consume_trailer = 1;
    size_t total = strlen(input);
    for (size_t at = 0; at < total && out.result == -2; at += piece) {
        char buffer[512];
        size_t size = total - at < piece ? total - at : piece;
        memcpy(buffer, input + at, size);
        out.result = phr_decode_chunked(&decoder, buffer, &size);
        assert_true(out.length + size <= sizeof out.data);
        memcpy(out.data + out.length, buffer, size);
        out.length += size;
        if (out.result >= 0) {
            assert_true((size_t)out.result < sizeof out.rest);
            memcpy(out.rest, buffer + size, (size_t)out.result);
            out.rest[out.result] = '\0';
        }
    }
    return out;
}

static void assert_decodes(const char *input, const char *data, const char *rest)
{
    size_t total = strlen(input);
    for (size_t piece = 1; piece <= total; piece++) {
        struct decoded out = decode_in_pieces(input, piece);
        if (out.result < 0)
            fail_msg("%s in pieces of %zu: %zd", input, piece, out.result);
        assert_int_equal(out.length, strlen(data));
        assert_memory_equal(out.data, data, out.length);
        /* The bytes after the body arrive with the piece that ends it. */
        size_t last_piece_end = ((total - strlen(rest) - 1) / piece + 1) * piece;
        size_t expect_rest =
            (last_piece_end < total ? last_piece_end : total) - (total - strlen(rest));
        assert_int_equal((size_t)out.result, expect_rest);
        assert_memory_equal(out.rest, rest, expect_rest);
    }
}

static void assert_refused_chunks(const char *input)
{
    size_t total = strlen(input);
    for (size_t piece = 1; piece <= total; piece++) {
        struct decoded out = decode_in_pieces(input, piece);
        if (out.result != -1)
            fail_msg("%s in pieces of %zu: %zd, want -1", input, piece, out.result);
    }
}

static void test_chunks_accepted(void **unused)
{
    (void)unused;
    assert_decodes("3\r\nabc\r\n0\r\n\r\n", "abc", "");
    assert_decodes("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "abcde",
                   "GET / HTTP/1.1\r\n");
    assert_decodes("A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", "01234567890123456789", "");
    assert_decodes("003;name=value\r\nabc\r\n2 ; x\r\nde\r\n0 \r\n\r\n", "abcde", "");
    assert_decodes("3\r\nabc\r\n0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\nrest", "abc", "rest");
    assert_decodes("0\r\n\r\n", "", "");
}

static void test_chunks_refused(void **unused)
{
    (void)unused;
    assert_refused_chunks("0x3\r\nabc\r\n0\r\n\r\n"); /* the finding */
    assert_refused_chunks("3 x\r\nabc\r\n0\r\n\r\n");
    assert_refused_chunks("3\nabc\n0\n\n"); /* bare LF */
    assert_refused_chunks("3\r\nabc\n0\r\n\r\n");
    assert_refused_chunks("3\r\nabc\r\n0\r\n\n");
    assert_refused_chunks("3\r\nabc\r\n0\r\nX: 1\n\r\n");
    assert_refused_chunks("-3\r\nabc\r\n0\r\n\r\n");
    assert_refused_chunks("+3\r\nabc\r\n0\r\n\r\n");
    assert_refused_chunks(" 3\r\nabc\r\n0\r\n\r\n");
    assert_refused_chunks("\r\n");
    assert_refused_chunks("3\r\nabcd\r\n0\r\n\r\n");
    assert_refused_chunks("3;a\x01\r\nabc\r\n0\r\n\r\n");
    assert_refused_chunks("3;a\nabc\r\n0\r\n\r\n");
    assert_refused_chunks("10000000000000000\r\n"); /* 17 hex digits */
}

static void test_state_is_the_librarys(void **unused)
{
    (void)unused;
    struct phr_chunked_decoder decoder;
    memset(&decoder, 0, sizeof decoder);
    decoder.consume_trailer = 1;
    char buffer[] = "5\r\nab";
    size_t size = strlen(buffer);
    assert_int_equal(phr_decode_chunked(&decoder, buffer, &size), -2);
    assert_int_equal(size, 2);
    assert_true(phr_decode_chunked_is_in_data(&decoder)); /* libh2o's own */
    char more[] = "c\r\n";
    size = strlen(more);
    assert_int_equal(phr_decode_chunked(&decoder, more, &size), -2);
    assert_false(phr_decode_chunked_is_in_data(&decoder));
}

static void test_trailer_left_to_the_caller(void **unused)
{
    (void)unused;
    struct phr_chunked_decoder decoder;
    memset(&decoder, 0, sizeof decoder);
    char buffer[] = "3\r\nabc\r\n0\r\nX: 1\r\n\r\n";
    size_t size = strlen(buffer);
    assert_int_equal(phr_decode_chunked(&decoder, buffer, &size), 8);
    assert_int_equal(size, 3);
    assert_memory_equal(buffer, "abcX: 1\r\n\r\n", 11);
}

/* ---- headers */

struct parsed {
    int result;
    struct phr_header headers[16];
    size_t count;
};

static struct parsed parse(const char *request)
{
    struct parsed out;
    const char *method, *path;
    size_t method_length, path_length;
    int minor_version;
    out.count = 16;
    out.result = phr_parse_request(request, strlen(request), &method, &method_length, &path,
                                   &path_length, &minor_version, out.headers, &out.count, 0);
    return out;
}

static int has_header(const struct parsed *p, const char *lowercase)
{
    for (size_t i = 0; i < p->count; i++)
        if (p->headers[i].name_len == strlen(lowercase) &&
            strncasecmp(p->headers[i].name, lowercase, p->headers[i].name_len) == 0)
            return 1;
    return 0;
}

static void assert_refused_headers(const char *request, const char *why)
{
    struct parsed p = parse(request);
    assert_true(p.result > 0);
    assert_int_equal(p.headers[0].name_len, strlen(MARKER));
    assert_memory_equal(p.headers[0].name, MARKER, strlen(MARKER));
    char value[128];
    snprintf(value, sizeof value, "%.*s", (int)p.headers[0].value_len, p.headers[0].value);
    if (strstr(value, why) == NULL)
        fail_msg("%s: %s, want %s", request, value, why);
    /* h2o sees no body, no upgrade. */
    assert_false(has_header(&p, "content-length"));
    assert_false(has_header(&p, "transfer-encoding"));
    assert_false(has_header(&p, "upgrade"));
    assert_true(has_header(&p, "host"));
}

static void assert_accepted_headers(const char *request, size_t count)
{
    struct parsed p = parse(request);
    assert_true(p.result > 0);
    assert_int_equal(p.count, count);
    for (size_t i = 0; i < p.count; i++)
        assert_false(p.headers[i].name_len == strlen(MARKER) &&
                     memcmp(p.headers[i].name, MARKER, strlen(MARKER)) == 0);
}

static void test_headers_refused(void **unused)
{
    (void)unused;
    assert_refused_headers("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                           "Content-Length: 20\r\n\r\n",
                           "more than one Content-Length");
    assert_refused_headers("GET / HTTP/1.1\r\nContent-Length: 3\r\nHost: x\r\n"
                           "content-length: 3\r\n\r\n",
                           "more than one Content-Length");
    assert_refused_headers("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n",
                           "not a number");
    assert_refused_headers("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n",
                           "not a number");
    assert_refused_headers("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                           "Transfer-Encoding: chunked\r\nUpgrade: h2c\r\n\r\n",
                           "Content-Length with Transfer-Encoding");
    assert_refused_headers("POST / HTTP/1.1\r\nHost: x\r\nTRANSFER-ENCODING:\tChunked\r\n"
                           "Content-Length: 5\r\n\r\n",
                           "Content-Length with Transfer-Encoding");
    assert_refused_headers("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                           "other than chunked");
    assert_refused_headers("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
                           "other than chunked");
    assert_refused_headers("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n",
                           "other than chunked");
    assert_refused_headers("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n",
                           "more than one Transfer-Encoding");
    assert_refused_headers("POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                           "HTTP/1.0");
    assert_refused_headers(
        "POST / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\nContent-Length: 3\r\n\r\n", "folded");
}

static void test_headers_accepted(void **unused)
{
    (void)unused;
    assert_accepted_headers("GET / HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", 2);
    assert_accepted_headers("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0012\r\n\r\n", 2);
    assert_accepted_headers("PATCH / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 2);
    assert_accepted_headers("PATCH / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: CHUNKED\r\n\r\n", 2);
    assert_accepted_headers("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n"
                            "Content-Length-X: 1\r\n\r\n",
                            3);
    assert_accepted_headers("POST / HTTP/1.0\r\nHost: x\r\nContent-Length: 3\r\n\r\n", 2);
    /* Incomplete and malformed requests are the library's answer. */
    assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 3\r\n").result, -2);
    assert_int_equal(parse("GE T / HTTP/1.1\r\n\r\n").result, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunks_accepted),
        cmocka_unit_test(test_chunks_refused),
        cmocka_unit_test(test_state_is_the_librarys),
        cmocka_unit_test(test_trailer_left_to_the_caller),
        cmocka_unit_test(test_headers_refused),
        cmocka_unit_test(test_headers_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for src/auth/htpasswd.h. */
#include "test_support.h"

#include <crypt.h>
#include <errno.h>
#include <time.h>

#include <openssl/evp.h>

#include "layout/error.h"
#include "src/auth/htpasswd.h"

/* A bcrypt hash of `password` with `prefix` ("$2b$", "$2y$", "$2a$") and `cost`. */
static void make_hash(const char *prefix, int cost, const char *password, char *out, size_t size)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    assert_non_null(
        crypt_gensalt_rn(prefix, (unsigned long)cost, NULL, 0, setting, sizeof setting));
    struct crypt_data *data = calloc(1, sizeof *data);
    assert_non_null(data);
    const char *hash = crypt_rn(password, setting, data, (int)sizeof *data);
    assert_non_null(hash);
    assert_int_equal(strlen(hash), 60);
    snprintf(out, size, "%s", hash);
    free(data);
}

struct fixture {
    char *root;
    char path[PATH_MAX];
};

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    fixture->root = support_root_create();
    support_path(fixture->path, "%s/htpasswd", fixture->root);
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

static void test_load_and_check(void **state)
{
    struct fixture *fixture = *state;
    char alice[64], bob[64], carol[64], content[1024];
    make_hash("$2b$", 5, "alice-secret", alice, sizeof alice);
    make_hash("$2y$", 5, "b:o:b", bob, sizeof bob);
    make_hash("$2a$", 4, "", carol, sizeof carol);
    snprintf(content, sizeof content,
             "# users of the registry\n"
             "\n"
             "alice:%s\n"
             "   \t\n"
             "  # indented comment\n"
             "bob:%s\r\n"
             "  carol:%s  \n",
             alice, bob, carol);
    support_write_string(fixture->path, content);

    struct htpasswd *table = NULL;
    assert_int_equal(htpasswd_load(fixture->path, &table), 0);
    assert_int_equal(htpasswd_user_count(table), 3);
    assert_int_equal(htpasswd_check(table, "alice", "alice-secret"), 0);
    assert_int_equal(htpasswd_check(table, "bob", "b:o:b"), 0);
    assert_int_equal(htpasswd_check(table, "carol", ""), 0);

    assert_int_equal(htpasswd_check(table, "alice", "alice-secreT"), -EACCES);
    assert_int_equal(htpasswd_check(table, "alice", ""), -EACCES);
    assert_int_equal(htpasswd_check(table, "alice", "b:o:b"), -EACCES);
    assert_null(strstr(error_message(), "b:o:b"));
    assert_int_equal(htpasswd_check(table, "Alice", "alice-secret"), -EACCES);
    assert_int_equal(htpasswd_check(table, "mallory", "alice-secret"), -EACCES);
    assert_null(strstr(error_message(), "alice-secret"));
    assert_int_equal(htpasswd_check(table, "", ""), -EACCES);
    assert_int_equal(htpasswd_check(table, NULL, "x"), -EACCES);
    assert_int_equal(htpasswd_check(table, "carol", NULL), 0); /* NULL counts as "" */
    htpasswd_free(table);
    htpasswd_free(NULL);
}

static double seconds_of(const struct htpasswd *table, const char *user, const char *password)
{
    double best = 1e9;
    for (int i = 0; i < 3; i++) {
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        (void)htpasswd_check(table, user, password);
        clock_gettime(CLOCK_MONOTONIC, &end);
        double elapsed =
            (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
        if (elapsed < best)
            best = elapsed;
    }
    return best;
}

/* An unknown user costs a bcrypt computation at the file's highest cost. */
static void test_unknown_user_spends_bcrypt(void **state)
{
    struct fixture *fixture = *state;
    char hash[64], content[256];
    make_hash("$2b$", 9, "pw", hash, sizeof hash);
    snprintf(content, sizeof content, "dave:%s\n", hash);
    support_write_string(fixture->path, content);
    struct htpasswd *table = NULL;
    assert_int_equal(htpasswd_load(fixture->path, &table), 0);
    /* Best of three each, measured alternately, and bounds wide enough for a
     * loaded machine: a cost-9 bcrypt takes tens of milliseconds, no check
     * at all microseconds, which is what this tells apart. */
    double known = seconds_of(table, "dave", "wrong");
    double unknown = seconds_of(table, "nobody", "wrong");
    double known_again = seconds_of(table, "dave", "wrong");
    if (known_again < known)
        known = known_again;
    assert_true(unknown > known * 0.25);
    assert_true(unknown < known * 4.0 + 0.05);
    htpasswd_free(table);
}

static void test_empty_file(void **state)
{
    struct fixture *fixture = *state;
    support_write_string(fixture->path, "# nobody yet\n\n");
    struct htpasswd *table = NULL;
    assert_int_equal(htpasswd_load(fixture->path, &table), 0);
    assert_int_equal(htpasswd_user_count(table), 0);
    assert_int_equal(htpasswd_check(table, "anyone", "x"), -EACCES);
    htpasswd_free(table);
}

/* Loads `content` and expects -EINVAL with ":<line>:" and `reason` in the message. */
static void expect_refused(struct fixture *fixture, const char *content, int line,
                           const char *reason)
{
    support_write_string(fixture->path, content);
    struct htpasswd *table = NULL;
    assert_int_equal(htpasswd_load(fixture->path, &table), -EINVAL);
    assert_null(table);
    char where[PATH_MAX + 16];
    snprintf(where, sizeof where, "%s:%d: ", fixture->path, line);
    if (strstr(error_message(), where) == NULL || strstr(error_message(), reason) == NULL)
        fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", error_message(), where, reason);
}

static void test_refused_lines(void **state)
{
    struct fixture *fixture = *state;
    char good[64], content[512];
    make_hash("$2b$", 4, "pw", good, sizeof good);

    snprintf(content, sizeof content, "# c\nok:%s\nsha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", good);
    expect_refused(fixture, content, 3, "SHA-1");
    assert_null(strstr(error_message(), "W6ph5Mm5"));
    expect_refused(fixture, "md5:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n", 1, "$apr1$");
    assert_null(strstr(error_message(), "HqJZ"));
    expect_refused(fixture, "\n\nplain:secret\n", 3, "plain text");
    assert_null(strstr(error_message(), "secret"));
    expect_refused(fixture, "sha512:$6$salt$abcdef\n", 1, "$6$");
    expect_refused(fixture, "md5crypt:$1$salt$abcdef\n", 1, "$1$");
    snprintf(content, sizeof content, "x:$2x$%s\n", good + 4);
    expect_refused(fixture, content, 1, "$2x$");

    /* bcrypt, but malformed */
    snprintf(content, sizeof content, "ok:%s\ncut:%.50s\n", good, good);
    expect_refused(fixture, content, 2, "malformed bcrypt");
    snprintf(content, sizeof content, "costly:$2b$31$%s\n", good + 7);
    expect_refused(fixture, content, 1, "cost 31");
    snprintf(content, sizeof content, "cheap:$2b$03$%s\n", good + 7);
    expect_refused(fixture, content, 1, "cost 3");
    snprintf(content, sizeof content, "bad:%.59s!\n", good);
    expect_refused(fixture, content, 1, "malformed bcrypt");

    /* the line itself */
    expect_refused(fixture, "no colon here\n", 1, "user:hash");
    snprintf(content, sizeof content, ":%s\n", good);
    expect_refused(fixture, content, 1, "user name is empty");
    char long_user[400];
    memset(long_user, 'u', 300);
    long_user[300] = '\0';
    snprintf(content, sizeof content, "%s:%s\n", long_user, good);
    expect_refused(fixture, content, 1, "longer than 255");
    snprintf(content, sizeof content, "a\x01:%s\n", good);
    expect_refused(fixture, content, 1, "control character");
    snprintf(content, sizeof content, "twice:%s\nother:%s\ntwice:%s\n", good, good, good);
    support_write_string(fixture->path, content);
    struct htpasswd *table = NULL;
    assert_int_equal(htpasswd_load(fixture->path, &table), -EINVAL);
    assert_non_null(strstr(error_message(), "\"twice\" is listed twice"));
}

static void test_missing_file(void **state)
{
    struct fixture *fixture = *state;
    struct htpasswd *table = NULL;
    assert_int_equal(htpasswd_load(fixture->path, &table), -ENOENT);
    assert_null(table);
    assert_int_equal(htpasswd_load(fixture->root, &table), -EINVAL); /* a directory */
    support_write_string(fixture->path, "");
    assert_int_equal(truncate(fixture->path, (off_t)HTPASSWD_FILE_MAX + 1), 0); /* sparse */
    assert_int_equal(htpasswd_load(fixture->path, &table), -EFBIG);
    assert_null(table);
}

/* "Basic " + base64(text) */
static void basic_header(const char *text, size_t length, char *out)
{
    strcpy(out, "Basic ");
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)text, (int)length);
}

static int parse(const char *header, char *user, size_t user_size, char *password,
                 size_t password_size)
{
    return basic_credentials_parse(header, strlen(header), user, user_size, password,
                                   password_size);
}

static void test_basic_parse(void **state)
{
    (void)state;
    char header[4096], user[HTPASSWD_USER_MAX + 1], password[HTPASSWD_PASSWORD_MAX + 1];

    basic_header("alice:open sesame", 17, header);
    assert_int_equal(parse(header, user, sizeof user, password, sizeof password), 0);
    assert_string_equal(user, "alice");
    assert_string_equal(password, "open sesame");

    /* RFC 7617's example, scheme in another case, extra spaces */
    assert_int_equal(parse("basic   QWxhZGRpbjpvcGVuIHNlc2FtZQ==  ", user, sizeof user, password,
                           sizeof password),
                     0);
    assert_string_equal(user, "Aladdin");
    assert_string_equal(password, "open sesame");

    /* the password may hold ':'; it may be empty; UTF-8 passes */
    basic_header("bob:a:b:c", 9, header);
    assert_int_equal(parse(header, user, sizeof user, password, sizeof password), 0);
    assert_string_equal(user, "bob");
    assert_string_equal(password, "a:b:c");
    basic_header("bob:", 4, header);
    assert_int_equal(parse(header, user, sizeof user, password, sizeof password), 0);
    assert_string_equal(password, "");
    basic_header("j\xc3\xb6rg:p\xc3\xa4ss", 11, header);
    assert_int_equal(parse(header, user, sizeof user, password, sizeof password), 0);
    assert_string_equal(user, "j\xc3\xb6rg");
}

static void test_basic_parse_rejections(void **state)
{
    (void)state;
    char header[4096], user[HTPASSWD_USER_MAX + 1], password[HTPASSWD_PASSWORD_MAX + 1];
#define REFUSED(text)                                                                              \
    assert_int_equal(parse(text, user, sizeof user, password, sizeof password), -EINVAL)

    REFUSED("");
    REFUSED("Basic");
    REFUSED("Basic ");
    REFUSED("Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    REFUSED("BasicQWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    REFUSED("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ");    /* padding missing */
    REFUSED("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=");   /* wrong padding */
    REFUSED("Basic QWxhZGRp bjpvcGVuIHNlc2FtZQ=="); /* space inside */
    REFUSED("Basic QWxhZGRpbjpvcGVuIHNlc2FtZR==");  /* stray bits (R, not Q) */
    REFUSED("Basic QWxh=GRpbjpvcGVuIHNlc2FtZQ==");  /* '=' inside */
    REFUSED("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ-_");  /* base64url alphabet */
    REFUSED("Basic ====");
    REFUSED("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== x");

    basic_header("no-colon", 8, header);
    REFUSED(header);
    assert_null(strstr(error_message(), "no-colon"));
    basic_header(":password", 9, header);
    REFUSED(header);
    basic_header("us\x01r:pw", 7, header);
    REFUSED(header);
    basic_header("user:p\nw", 8, header);
    REFUSED(header);
    basic_header("user:p\0w", 8, header);
    REFUSED(header);
    assert_null(strstr(error_message(), "user"));

    /* lengths: the caller's buffers, and the module's bounds */
    basic_header("alice:secret", 12, header);
    assert_int_equal(parse(header, user, 5, password, sizeof password), -EINVAL);
    assert_int_equal(parse(header, user, 6, password, 6), -EINVAL);
    assert_int_equal(parse(header, user, 6, password, 7), 0);
    char big[2048];
    memset(big, 'p', sizeof big);
    memcpy(big, "u:", 2);
    basic_header(big, HTPASSWD_PASSWORD_MAX + 3, header);
    REFUSED(header);
    basic_header(big, HTPASSWD_PASSWORD_MAX + 2, header);
    assert_int_equal(parse(header, user, sizeof user, password, sizeof password), 0);
    assert_int_equal(strlen(password), HTPASSWD_PASSWORD_MAX);
    /* the header length is honoured: no reading past it */
    basic_header("alice:secret", 12, header);
    assert_int_equal(basic_credentials_parse(header, strlen(header) - 2, user, sizeof user,
                                             password, sizeof password),
                     -EINVAL);
#undef REFUSED
}

static void test_basic_challenge(void **state)
{
    (void)state;
    char out[128];
    assert_int_equal(basic_challenge_format(out, sizeof out, "Registry Realm"), 44);
    assert_string_equal(out, "Basic realm=\"Registry Realm\",charset=\"UTF-8\"");
    assert_true(basic_challenge_format(out, sizeof out, "a\"b\\c") > 0);
    assert_string_equal(out, "Basic realm=\"a\\\"b\\\\c\",charset=\"UTF-8\"");
    assert_int_equal(basic_challenge_format(out, sizeof out, "evil\r\nSet-Cookie: x"), -EINVAL);
    assert_int_equal(basic_challenge_format(out, 20, "Registry Realm"), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_and_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_user_spends_bcrypt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test(test_basic_parse),
        cmocka_unit_test(test_basic_parse_rejections),
        cmocka_unit_test(test_basic_challenge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

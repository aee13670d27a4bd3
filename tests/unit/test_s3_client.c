/* Unit tests for drivers/s3_client.h, against a real S3-compatible server
 * that verifies SigV4 (tests/s3/s3-server.js, @20minutes/s3rver), plus a tiny
 * scripted HTTP server in this file for what a real server will not do on
 * demand (5xx, a dropped body, a Range ignored, an answer that never comes).
 *
 *     test_s3_client <tests/s3 directory>
 *
 * Exits 77 (skipped) when node or tests/s3/node_modules is missing. */
#include "test_support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include <curl/curl.h>

#include "drivers/s3_client.h"
#include "layout/error.h"
#include "s3_test_server.h"

#define ACCESS_KEY S3_TEST_ACCESS_KEY
#define SECRET_KEY S3_TEST_SECRET_KEY
#define BUCKET S3_TEST_BUCKET
#define MEBIBYTE (1024 * 1024)

static const char *s3_directory;
static struct s3_test_server server = {.pid = -1};
static int server_port;

/* A call that must succeed; on failure the module's message is shown. */
#define assert_ok(call)                                                                            \
    do {                                                                                           \
        long long assert_ok_result = (long long)(call);                                            \
        if (assert_ok_result != 0)                                                                 \
            fail_msg("%s = %lld: %s", #call, assert_ok_result, error_message());                   \
    } while (0)

/* ---- the launcher (s3_test_server.h) ----------------------------------- */

static int server_start(void)
{
    int result = s3_test_server_start(&server, s3_directory);
    server_port = server.port;
    return result;
}

static void server_stop(void)
{
    if (server.pid > 0) {
        kill(server.pid, SIGTERM);
        waitpid(server.pid, NULL, 0);
        server.pid = -1;
    }
}

/* ---- helpers ------------------------------------------------------------- */

static void settings_for(struct s3_settings *settings, int port)
{
    s3_settings_defaults(settings);
    snprintf(settings->endpoint, sizeof settings->endpoint, "http://127.0.0.1:%d", port);
    snprintf(settings->bucket, sizeof settings->bucket, BUCKET);
    snprintf(settings->access_key, sizeof settings->access_key, ACCESS_KEY);
    snprintf(settings->secret_key, sizeof settings->secret_key, SECRET_KEY);
    settings->part_size = 5 * MEBIBYTE;
}

static struct s3_client *client_for(int port)
{
    struct s3_settings settings;
    settings_for(&settings, port);
    struct s3_client *client;
    assert_ok(s3_client_create(&settings, &client));
    return client;
}

static int starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

static double now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Deterministic bytes that differ at every offset (a xorshift stream). */
static unsigned char *pattern(size_t length, uint64_t seed)
{
    unsigned char *data = malloc(length ? length : 1);
    assert_non_null(data);
    uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < length; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data[i] = (unsigned char)(state >> 24);
    }
    return data;
}

struct collected {
    unsigned char *data;
    size_t length;
};

static int collect(void *context, const void *data, size_t length)
{
    struct collected *collected = context;
    collected->data = realloc(collected->data, collected->length + length + 1);
    assert_non_null(collected->data);
    memcpy(collected->data + collected->length, data, length);
    collected->length += length;
    return 0;
}

/* Compares the streamed bytes with `expected` as they come (bounded memory). */
struct comparison {
    const unsigned char *expected;
    size_t length, position;
    size_t largest_piece;
};

static int compare(void *context, const void *data, size_t length)
{
    struct comparison *comparison = context;
    if (comparison->position + length > comparison->length ||
        memcmp(comparison->expected + comparison->position, data, length) != 0)
        return -EBADMSG;
    comparison->position += length;
    if (length > comparison->largest_piece)
        comparison->largest_piece = length;
    return 0;
}

struct listing {
    char keys[64][128];
    struct s3_object_info infos[64];
    int count;
    int stop_after;
};

static int list_visit(const char *key, const struct s3_object_info *info, void *context)
{
    struct listing *listing = context;
    assert_true(listing->count < 64);
    snprintf(listing->keys[listing->count], sizeof listing->keys[0], "%s", key);
    listing->infos[listing->count] = *info;
    listing->count++;
    return listing->count == listing->stop_after ? 5 : 0;
}

/* ---- against s3rver ------------------------------------------------------ */

static void test_put_head_get_range(void **state)
{
    (void)state;
    struct s3_client *client = client_for(server_port);
    const char *alphabet = "abcdefghijklmnopqrstuvwxyz";
    const char *key = "docker/registry/v2/blobs/sha256/ab/abc/data";
    struct s3_object_info info;
    assert_int_equal(s3_head_object(client, key, &info), -ENOENT);
    assert_non_null(strstr(error_message(), key));
    assert_ok(s3_put_memory(client, key, alphabet, 26));
    assert_ok(s3_head_object(client, key, &info));
    assert_int_equal(info.size, 26);
    assert_true(llabs(info.last_modified - (long long)time(NULL)) < 60);

    char buffer[64];
    assert_int_equal(s3_get_range(client, key, 0, buffer, 26), 26);
    assert_memory_equal(buffer, alphabet, 26);
    assert_int_equal(s3_get_range(client, key, 0, buffer, sizeof buffer), 26);
    assert_memory_equal(buffer, alphabet, 26);
    assert_int_equal(s3_get_range(client, key, 10, buffer, 5), 5);
    assert_memory_equal(buffer, "klmno", 5);
    assert_int_equal(s3_get_range(client, key, 25, buffer, 1), 1);
    assert_memory_equal(buffer, "z", 1);
    /* The exact end, past it, and a range that runs over it. */
    assert_int_equal(s3_get_range(client, key, 20, buffer, 6), 6);
    assert_memory_equal(buffer, "uvwxyz", 6);
    assert_int_equal(s3_get_range(client, key, 20, buffer, sizeof buffer), 6);
    assert_memory_equal(buffer, "uvwxyz", 6);
    assert_ok(s3_get_range(client, key, 26, buffer, 10));
    assert_ok(s3_get_range(client, key, 1000, buffer, 10));
    assert_ok(s3_get_range(client, key, 3, buffer, 0));
    assert_int_equal(s3_get_range(client, key, -1, buffer, 1), -EINVAL);
    assert_int_equal(s3_get_range(client, "missing/object", 0, buffer, 10), -ENOENT);

    /* Overwrite, then an empty object. */
    assert_ok(s3_put_memory(client, key, "0123456789", 10));
    assert_int_equal(s3_get_range(client, key, 0, buffer, sizeof buffer), 10);
    assert_memory_equal(buffer, "0123456789", 10);
    assert_ok(s3_put_memory(client, "empty", "", 0));
    assert_ok(s3_head_object(client, "empty", &info));
    assert_int_equal(info.size, 0);
    assert_ok(s3_get_range(client, "empty", 0, buffer, 10));

    assert_int_equal(s3_head_object(client, "", &info), -EINVAL);
    s3_client_destroy(client);
}

static void test_awkward_keys(void **state)
{
    (void)state;
    struct s3_client *client = client_for(server_port);
    /* ':' '+' '=' '%' ' ' and UTF-8 all go out percent-encoded. (Not '&',
     * '<', '>' or '\'': s3rver escapes them twice in listings.) */
    const char *keys[] = {"odd/sha256:0123 45+6=7%8", "odd/caf\xc3\xa9/~_-.x", "odd/a;b,c@d$e"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        struct s3_object_info info;
        char buffer[64];
        assert_ok(s3_put_memory(client, keys[i], keys[i], strlen(keys[i])));
        assert_ok(s3_head_object(client, keys[i], &info));
        assert_int_equal(info.size, strlen(keys[i]));
        assert_int_equal(s3_get_range(client, keys[i], 0, buffer, sizeof buffer), strlen(keys[i]));
        assert_memory_equal(buffer, keys[i], strlen(keys[i]));
        /* s3rver decodes x-amz-copy-source with decodeURI, which leaves
         * %3A %2B %3D %26 %24 %2C %3B %40 encoded: only the key without
         * them can be copied there. S3 decodes them all. */
        if (i == 1)
            assert_ok(s3_touch_object(client, keys[i]));
    }
    struct listing listing = {0};
    assert_ok(s3_list_objects(client, "odd/", list_visit, &listing));
    assert_int_equal(listing.count, 3);
    assert_string_equal(listing.keys[0], keys[2]);
    assert_string_equal(listing.keys[1], keys[1]);
    assert_string_equal(listing.keys[2], keys[0]);
    s3_client_destroy(client);
}

static int stop_with_42(void *context, const void *data, size_t length)
{
    (void)data;
    (void)length;
    (*(int *)context)++;
    return 42;
}

static void test_get_stream(void **state)
{
    (void)state;
    struct s3_client *client = client_for(server_port);
    size_t size = 3 * MEBIBYTE + 123;
    unsigned char *data = pattern(size, 1);
    assert_ok(s3_put_memory(client, "stream/object", data, size));

    struct comparison whole = {data, size, 0, 0};
    assert_ok(s3_get_stream(client, "stream/object", 0, -1, compare, &whole));
    assert_int_equal(whole.position, size);
    assert_true(whole.largest_piece <= 1 * MEBIBYTE); /* pieces, not the whole */

    struct comparison middle = {data + 1000, 5000, 0, 0};
    assert_ok(s3_get_stream(client, "stream/object", 1000, 5000, compare, &middle));
    assert_int_equal(middle.position, 5000);

    struct comparison tail = {data + size - 10, 10, 0, 0};
    assert_ok(s3_get_stream(client, "stream/object", (int64_t)size - 10, -1, compare, &tail));
    assert_int_equal(tail.position, 10);

    struct collected nothing = {0};
    assert_ok(s3_get_stream(client, "stream/object", (int64_t)size, -1, collect, &nothing));
    assert_int_equal(nothing.length, 0);
    free(nothing.data);

    int calls = 0;
    assert_int_equal(s3_get_stream(client, "stream/object", 0, -1, stop_with_42, &calls), 42);
    assert_int_equal(calls, 1);
    assert_int_equal(s3_get_stream(client, "stream/missing", 0, -1, collect, &nothing), -ENOENT);
    free(data);
    s3_client_destroy(client);
}

static void test_list_pagination(void **state)
{
    (void)state;
    struct s3_settings settings;
    settings_for(&settings, server_port);
    settings.list_max_keys = 2;
    struct s3_client *client;
    assert_ok(s3_client_create(&settings, &client));
    /* Put out of order; "list/a-b" sorts before "list/a/b" in bytes. */
    const char *keys[] = {"list/e", "list/a/b", "list/c", "list/a-b",
                          "list/b", "list/d:1", "list/f"};
    const char *sorted[] = {"list/a-b", "list/a/b", "list/b", "list/c",
                            "list/d:1", "list/e",   "list/f"};
    for (size_t i = 0; i < 7; i++)
        assert_ok(s3_put_memory(client, keys[i], keys[i], i + 1));
    assert_ok(s3_put_memory(client, "listing-not/x", "x", 1));

    struct listing listing = {0};
    assert_ok(s3_list_objects(client, "list/", list_visit, &listing));
    assert_int_equal(listing.count, 7);
    for (int i = 0; i < 7; i++) {
        assert_string_equal(listing.keys[i], sorted[i]);
        size_t put_index = 0;
        while (strcmp(keys[put_index], sorted[i]) != 0)
            put_index++;
        assert_int_equal(listing.infos[i].size, put_index + 1);
        assert_true(llabs(listing.infos[i].last_modified - (long long)time(NULL)) < 60);
    }

    /* A visitor's non-zero return stops the listing (here in the 2nd page). */
    struct listing stopped = {.stop_after = 3};
    assert_int_equal(s3_list_objects(client, "list/", list_visit, &stopped), 5);
    assert_int_equal(stopped.count, 3);

    struct listing none = {0};
    assert_ok(s3_list_objects(client, "nothing-here/", list_visit, &none));
    assert_int_equal(none.count, 0);

    /* The default page size and the whole bucket. */
    settings.list_max_keys = 0;
    assert_ok(s3_client_update(client, &settings));
    struct listing all = {0};
    assert_ok(s3_list_objects(client, "list", list_visit, &all));
    assert_int_equal(all.count, 8);
    assert_string_equal(all.keys[7], "listing-not/x");
    settings.list_max_keys = 1001;
    assert_int_equal(s3_client_update(client, &settings), -EINVAL);
    s3_client_destroy(client);
}

static void test_touch(void **state)
{
    (void)state;
    struct s3_client *client = client_for(server_port);
    const char *key = "touch/blob";
    assert_ok(s3_put_memory(client, key, "touch me", 8));
    struct s3_object_info before, after;
    assert_ok(s3_head_object(client, key, &before));
    /* LastModified has one-second resolution. */
    sleep(2);
    assert_ok(s3_touch_object(client, key));
    assert_ok(s3_head_object(client, key, &after));
    assert_true(after.last_modified >= before.last_modified + 2);
    assert_int_equal(after.size, 8);
    char buffer[16];
    assert_int_equal(s3_get_range(client, key, 0, buffer, sizeof buffer), 8);
    assert_memory_equal(buffer, "touch me", 8);
    /* The listing sees it too. */
    struct listing listing = {0};
    assert_ok(s3_list_objects(client, "touch/", list_visit, &listing));
    assert_int_equal(listing.count, 1);
    assert_true(listing.infos[0].last_modified >= before.last_modified + 2);

    assert_int_equal(s3_touch_object(client, "touch/missing"), -ENOENT);
    s3_client_destroy(client);
}

static void test_delete(void **state)
{
    (void)state;
    struct s3_client *client = client_for(server_port);
    struct s3_object_info info;
    assert_ok(s3_put_memory(client, "delete/me", "x", 1));
    assert_ok(s3_delete_object(client, "delete/me"));
    assert_int_equal(s3_head_object(client, "delete/me", &info), -ENOENT);
    assert_ok(s3_delete_object(client, "delete/me"));
    assert_ok(s3_delete_object(client, "delete/never-was"));
    s3_client_destroy(client);
}

static char *write_file(const char *root, const char *name, const void *data, size_t length)
{
    char path[PATH_MAX];
    support_path(path, "%s/%s", root, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, length), (ssize_t)length);
    close(fd);
    return strdup(path);
}

static void test_put_file_single(void **state)
{
    (void)state;
    struct s3_client *client = client_for(server_port);
    char *root = support_root_create();
    const char *text = "a layer, small enough for one PUT";
    char *path = write_file(root, "small", text, strlen(text));
    struct digest digest;
    assert_int_equal(digest_of_buffer(DIGEST_SHA256, text, strlen(text), &digest), 0);
    assert_ok(s3_put_file(client, "file/hashed", path, digest_hex(&digest)));
    assert_ok(s3_put_file(client, "file/unsigned", path, NULL));
    char buffer[64];
    assert_int_equal(s3_get_range(client, "file/hashed", 0, buffer, sizeof buffer), strlen(text));
    assert_memory_equal(buffer, text, strlen(text));
    assert_int_equal(s3_get_range(client, "file/unsigned", 0, buffer, sizeof buffer), strlen(text));
    assert_int_equal(s3_put_file(client, "file/x", path, "ABC"), -EINVAL);
    assert_int_equal(s3_put_file(client, "file/x", "/nonexistent/file", NULL), -ENOENT);

    char *empty = write_file(root, "empty", "", 0);
    assert_ok(s3_put_file(client, "file/empty", empty, HEX_EMPTY));
    struct s3_object_info info;
    assert_ok(s3_head_object(client, "file/empty", &info));
    assert_int_equal(info.size, 0);
    free(empty);
    free(path);
    support_root_remove(root);
    s3_client_destroy(client);
}

static void test_multipart(void **state)
{
    (void)state;
    struct s3_client *client = client_for(server_port);
    char *root = support_root_create();
    size_t size = 17 * MEBIBYTE;
    unsigned char *data = pattern(size, 17);
    char *path = write_file(root, "large", data, size);
    /* Exactly one part size is still a single PUT; 17 MiB is four parts. */
    char *five = write_file(root, "five", data, 5 * MEBIBYTE);
    assert_ok(s3_put_file(client, "multipart/five", five, NULL));
    double start = now_seconds();
    assert_ok(s3_put_file(client, "multipart/large", path, NULL));
    fprintf(stderr, "17 MiB multipart upload: %.2f s\n", now_seconds() - start);

    struct s3_object_info info;
    assert_ok(s3_head_object(client, "multipart/large", &info));
    assert_int_equal(info.size, size);
    struct comparison whole = {data, size, 0, 0};
    assert_ok(s3_get_stream(client, "multipart/large", 0, -1, compare, &whole));
    assert_int_equal(whole.position, size);
    /* Across the first part boundary. */
    struct comparison boundary = {data + 5 * MEBIBYTE - 100, 200, 0, 0};
    assert_int_equal(
        s3_get_stream(client, "multipart/large", 5 * MEBIBYTE - 100, 200, compare, &boundary), 0);
    assert_int_equal(boundary.position, 200);
    assert_ok(s3_head_object(client, "multipart/five", &info));
    assert_int_equal(info.size, 5 * MEBIBYTE);

    /* One part at a time gives the same bytes. */
    struct s3_settings settings;
    settings_for(&settings, server_port);
    settings.upload_concurrency = 1;
    assert_ok(s3_client_update(client, &settings));
    assert_ok(s3_put_file(client, "multipart/serial", path, NULL));
    struct comparison serial = {data, size, 0, 0};
    assert_ok(s3_get_stream(client, "multipart/serial", 0, -1, compare, &serial));
    assert_int_equal(serial.position, size);

    free(five);
    free(path);
    free(data);
    support_root_remove(root);
    s3_client_destroy(client);
}

struct fetched {
    long status;
    struct collected body;
};

static size_t fetch_write(char *data, size_t size, size_t count, void *pointer)
{
    collect(pointer, data, size * count);
    return size * count;
}

/* A plain GET with libcurl: no credentials, no signing. */
static struct fetched fetch(const char *url)
{
    struct fetched fetched = {0};
    CURL *handle = curl_easy_init();
    assert_non_null(handle);
    curl_easy_setopt(handle, CURLOPT_URL, url);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, fetch_write);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &fetched.body);
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    assert_int_equal(curl_easy_perform(handle), CURLE_OK);
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &fetched.status);
    curl_easy_cleanup(handle);
    return fetched;
}

static void test_presign(void **state)
{
    (void)state;
    struct s3_client *client = client_for(server_port);
    const char *key = "docker/registry/v2/blobs/sha256:presigned/data";
    const char *content = "bytes behind a presigned URL";
    assert_ok(s3_put_memory(client, key, content, strlen(content)));
    char url[4096];
    assert_ok(s3_presign_get(client, key, time(NULL), url, sizeof url));
    char prefix[128];
    snprintf(prefix, sizeof prefix, "http://127.0.0.1:%d/" BUCKET "/docker/", server_port);
    assert_memory_equal(url, prefix, strlen(prefix));
    assert_non_null(strstr(url, "sha256%3Apresigned/data?"));
    assert_non_null(strstr(url, "X-Amz-Expires=1200&"));
    char *signature = strstr(url, "&X-Amz-Signature=");
    assert_non_null(signature);
    assert_int_equal(strlen(signature), strlen("&X-Amz-Signature=") + 64);

    struct fetched fetched = fetch(url);
    assert_int_equal(fetched.status, 200);
    assert_int_equal(fetched.body.length, strlen(content));
    assert_memory_equal(fetched.body.data, content, strlen(content));
    free(fetched.body.data);

    /* One character of the signature changed. */
    char *last = url + strlen(url) - 1;
    *last = *last == '0' ? '1' : '0';
    fetched = fetch(url);
    assert_int_equal(fetched.status, 403);
    free(fetched.body.data);

    /* Signed an hour ago for 1200 s: expired. */
    assert_ok(s3_presign_get(client, key, time(NULL) - 3600, url, sizeof url));
    fetched = fetch(url);
    assert_int_equal(fetched.status, 403);
    free(fetched.body.data);

    assert_int_equal(s3_presign_get(client, key, time(NULL), url, 40), -ENAMETOOLONG);
    s3_client_destroy(client);
}

static void test_wrong_credentials(void **state)
{
    (void)state;
    struct s3_settings settings;
    settings_for(&settings, server_port);
    snprintf(settings.secret_key, sizeof settings.secret_key, "not-the-secret-Zq9");
    struct s3_client *client;
    assert_ok(s3_client_create(&settings, &client));
    double start = now_seconds();
    assert_int_equal(s3_put_memory(client, "wrong/secret", "x", 1), -EACCES);
    assert_true(now_seconds() - start < 2.0); /* a 403 is never retried */
    assert_non_null(strstr(error_message(), "S3 refused: SignatureDoesNotMatch"));
    assert_null(strstr(error_message(), "not-the-secret-Zq9"));
    struct s3_object_info info;
    assert_int_equal(s3_head_object(client, "wrong/secret", &info), -EACCES);
    assert_null(strstr(error_message(), "not-the-secret-Zq9"));
    char buffer[4];
    assert_int_equal(s3_get_range(client, "wrong/secret", 0, buffer, 4), -EACCES);
    struct listing listing = {0};
    assert_int_equal(s3_list_objects(client, "", list_visit, &listing), -EACCES);
    assert_null(strstr(error_message(), "not-the-secret-Zq9"));

    /* A reload with the right secret. */
    assert_ok(s3_client_set_credentials(client, ACCESS_KEY, SECRET_KEY));
    assert_ok(s3_put_memory(client, "wrong/secret", "x", 1));
    /* An unknown access key. */
    assert_ok(s3_client_set_credentials(client, "nobody", SECRET_KEY));
    assert_int_equal(s3_put_memory(client, "wrong/secret", "x", 1), -EACCES);
    assert_non_null(strstr(error_message(), "InvalidAccessKeyId"));
    assert_int_equal(s3_client_set_credentials(client, "", SECRET_KEY), -EINVAL);
    s3_client_destroy(client);
}

struct worker {
    struct s3_client *client;
    int index;
    int failures;
    char message[ERROR_MESSAGE_MAX];
};

static void *worker_run(void *pointer)
{
    struct worker *worker = pointer;
    for (int round = 0; round < 10; round++) {
        char key[64], content[64], buffer[64];
        snprintf(key, sizeof key, "threads/%d/%d", worker->index, round);
        int length = snprintf(content, sizeof content, "worker %d round %d", worker->index, round);
        struct s3_object_info info;
        if (s3_put_memory(worker->client, key, content, (size_t)length) != 0 ||
            s3_head_object(worker->client, key, &info) != 0 || info.size != length ||
            s3_get_range(worker->client, key, 0, buffer, sizeof buffer) != length ||
            memcmp(buffer, content, (size_t)length) != 0 ||
            s3_delete_object(worker->client, key) != 0) {
            worker->failures++;
            snprintf(worker->message, sizeof worker->message, "%s", error_message());
        }
    }
    return NULL;
}

/* Connections to the server's port, in any state, in /proc/net/tcp. */
static int connections_to_server(void)
{
    FILE *table = fopen("/proc/net/tcp", "r");
    if (table == NULL)
        return -1;
    char line[512];
    int count = 0;
    while (fgets(line, sizeof line, table)) {
        unsigned remote_port;
        if (sscanf(line, "%*d: %*x:%*x %*x:%x", &remote_port) == 1 &&
            (int)remote_port == server_port)
            count++;
    }
    fclose(table);
    return count;
}

static void test_threads_and_keep_alive(void **state)
{
    (void)state;
    struct s3_client *client = client_for(server_port);
    /* s3rver's DELETE removes emptied directories with a recursive rm that
     * races with a PUT below them: keep "threads/" never empty. */
    assert_ok(s3_put_memory(client, "threads/keep", "x", 1));
    struct worker workers[8];
    pthread_t threads[8];
    for (int i = 0; i < 8; i++) {
        workers[i] = (struct worker){.client = client, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_run, &workers[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < 8; i++) {
        if (workers[i].failures != 0)
            fail_msg("worker %d: %d failures, last: %s", i, workers[i].failures,
                     workers[i].message);
    }

    /* Sequential calls reuse one kept-alive connection: 50 calls, not 50
     * new connections. */
    assert_ok(s3_put_memory(client, "keep-alive", "x", 1));
    int before = connections_to_server();
    if (before >= 0) {
        struct s3_object_info info;
        for (int i = 0; i < 50; i++)
            assert_ok(s3_head_object(client, "keep-alive", &info));
        int after = connections_to_server();
        if (after - before > 2)
            fail_msg("50 calls opened %d connections", after - before);
    }
    s3_client_destroy(client);
}

/* Last: stops the server. */
static void test_server_stopped(void **state)
{
    (void)state;
    struct s3_client *client = client_for(server_port);
    struct s3_object_info info;
    assert_ok(s3_put_memory(client, "stopped", "x", 1));
    assert_ok(s3_head_object(client, "stopped", &info)); /* a pooled connection */
    server_stop();
    double start = now_seconds();
    assert_int_equal(s3_head_object(client, "stopped", &info), -ECONNREFUSED);
    double elapsed = now_seconds() - start;
    /* Four attempts: 100 + 200 + 400 ms of backoff. */
    assert_true(elapsed < 2.0);
    assert_non_null(strstr(error_message(), "stopped"));
    char buffer[4];
    assert_int_equal(s3_get_range(client, "stopped", 0, buffer, 4), -ECONNREFUSED);
    assert_int_equal(s3_delete_object(client, "stopped"), -ECONNREFUSED);
    s3_client_destroy(client);
}

/* ---- against a scripted HTTP server -------------------------------------- */

#define SCRIPT_MAX 8

/* Answers connection i with responses[i] (each connection one request, then
 * closed), records the requests. */
struct scripted_server {
    int listener, port;
    const char *responses[SCRIPT_MAX];
    size_t response_lengths[SCRIPT_MAX]; /* 0: strlen */
    int count;
    char requests[SCRIPT_MAX][4096];
    int served;
    pthread_t thread;
};

static void *scripted_run(void *pointer)
{
    struct scripted_server *server = pointer;
    for (int i = 0; i < server->count; i++) {
        int connection = accept(server->listener, NULL, NULL);
        if (connection < 0)
            return NULL;
        size_t used = 0;
        char *request = server->requests[i];
        while (used + 1 < sizeof server->requests[i]) {
            ssize_t got = read(connection, request + used, sizeof server->requests[i] - 1 - used);
            if (got <= 0)
                break;
            used += (size_t)got;
            request[used] = '\0';
            char *headers_end = strstr(request, "\r\n\r\n");
            if (headers_end == NULL)
                continue;
            /* A small body sent without Expect: read it too. */
            const char *content_length = strcasestr(request, "\r\nContent-Length:");
            size_t body_length = content_length && content_length < headers_end
                                     ? strtoul(content_length + 17, NULL, 10)
                                     : 0;
            size_t have = used - (size_t)(headers_end + 4 - request);
            if (strcasestr(request, "\r\nExpect:") != NULL || have >= body_length ||
                (size_t)(headers_end + 4 - request) + body_length + 1 > sizeof server->requests[i])
                break;
        }
        size_t length = server->response_lengths[i] ? server->response_lengths[i]
                                                    : strlen(server->responses[i]);
        ssize_t written = write(connection, server->responses[i], length);
        (void)written;
        server->served++;
        shutdown(connection, SHUT_WR);
        /* Let the client read to the end before closing. */
        char drain[256];
        while (read(connection, drain, sizeof drain) > 0)
            ;
        close(connection);
    }
    return NULL;
}

static int listener_on_free_port(int *port)
{
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(listener >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(listener, (struct sockaddr *)&address, sizeof address), 0);
    assert_int_equal(listen(listener, 16), 0);
    socklen_t length = sizeof address;
    assert_int_equal(getsockname(listener, (struct sockaddr *)&address, &length), 0);
    *port = ntohs(address.sin_port);
    return listener;
}

static void scripted_start(struct scripted_server *server)
{
    server->listener = listener_on_free_port(&server->port);
    assert_int_equal(pthread_create(&server->thread, NULL, scripted_run, server), 0);
}

static void scripted_finish(struct scripted_server *server)
{
    shutdown(server->listener, SHUT_RDWR);
    pthread_join(server->thread, NULL);
    close(server->listener);
}

#define SLOW_DOWN                                                                                  \
    "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: 88\r\n"            \
    "Connection: close\r\n\r\n"                                                                    \
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>\n"
#define HEAD_OK                                                                                    \
    "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n"  \
    "Connection: close\r\n\r\n"

static void test_retry_then_success(void **state)
{
    (void)state;
    struct scripted_server server = {.responses = {SLOW_DOWN, SLOW_DOWN, HEAD_OK}, .count = 3};
    scripted_start(&server);
    struct s3_client *client = client_for(server.port);
    struct s3_object_info info;
    double start = now_seconds();
    assert_ok(s3_head_object(client, "docker/sha256:ab", &info));
    double elapsed = now_seconds() - start;
    assert_true(elapsed >= 0.29); /* 100 ms, then 200 ms */
    assert_int_equal(info.size, 1234);
    assert_int_equal(info.last_modified, 1445412480);
    scripted_finish(&server);
    assert_int_equal(server.served, 3);
    s3_client_destroy(client);

    /* What every request carries. */
    const char *request = server.requests[0];
    assert_true(starts_with(request, "HEAD /" BUCKET "/docker/sha256%3Aab HTTP/1.1\r\n"));
    assert_non_null(strstr(request, "x-amz-content-sha256: " HEX_EMPTY "\r\n"));
    assert_non_null(strstr(request, "Authorization: AWS4-HMAC-SHA256 Credential=" ACCESS_KEY "/"));
    assert_non_null(strstr(request, "/us-east-1/s3/aws4_request"));
    assert_null(strstr(request, SECRET_KEY));
    assert_null(strstr(request, "Expect:"));
}

static void test_retries_give_up(void **state)
{
    (void)state;
    const char *server_error = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
    struct scripted_server server = {
        .responses = {server_error, server_error, server_error, server_error}, .count = 4};
    scripted_start(&server);
    struct s3_client *client = client_for(server.port);
    assert_int_equal(s3_delete_object(client, "a/key"), -EIO);
    assert_non_null(strstr(error_message(), "HTTP 500"));
    assert_non_null(strstr(error_message(), "DELETE a/key"));
    scripted_finish(&server);
    assert_int_equal(server.served, 4);
    s3_client_destroy(client);

    /* A 4xx is an answer: one request only. */
    const char *bad_request =
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 81\r\nConnection: close\r\n\r\n"
        "<Error><Code>InvalidArgument</Code><Message>a &amp; b &lt;c&gt;</Message></Error>";
    struct scripted_server once = {.responses = {bad_request}, .count = 1};
    scripted_start(&once);
    struct s3_settings settings;
    settings_for(&settings, once.port);
    settings.request_timeout_ms = 2000; /* a wrong retry would wait in the backlog */
    assert_ok(s3_client_create(&settings, &client));
    assert_int_equal(s3_delete_object(client, "a/key"), -EIO);
    assert_non_null(strstr(error_message(), "InvalidArgument: a & b <c>"));
    scripted_finish(&once);
    assert_int_equal(once.served, 1);
    s3_client_destroy(client);
}

static void test_copy_error_after_200(void **state)
{
    (void)state;
    /* CopyObject may fail after its 200: that is an error, and retried. */
    const char *failed_copy =
        "HTTP/1.1 200 OK\r\nContent-Length: 93\r\nConnection: close\r\n\r\n"
        "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message>"
        "</Error>";
    const char *copied = "HTTP/1.1 200 OK\r\nContent-Length: 108\r\nConnection: close\r\n\r\n"
                         "<CopyObjectResult><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
                         "<ETag>\"abc\"</ETag></CopyObjectResult>";
    struct scripted_server server = {.responses = {failed_copy, copied}, .count = 2};
    scripted_start(&server);
    struct s3_client *client = client_for(server.port);
    assert_ok(s3_touch_object(client, "copy/me"));
    scripted_finish(&server);
    assert_int_equal(server.served, 2);
    s3_client_destroy(client);
    assert_true(starts_with(server.requests[0], "PUT /" BUCKET "/copy/me HTTP/1.1\r\n"));
    assert_non_null(strstr(server.requests[0], "x-amz-copy-source: /" BUCKET "/copy/me\r\n"));
    assert_non_null(strstr(server.requests[0], "x-amz-metadata-directive: REPLACE\r\n"));
}

#define OK_CLOSE "HTTP/1.1 200 OK\r\nConnection: close\r\n"
#define CREATED                                                                                    \
    OK_CLOSE "Content-Length: 137\r\n\r\n"                                                         \
             "<InitiateMultipartUploadResult><Bucket>cairn-test</Bucket><Key>big</Key>"            \
             "<UploadId>up/load+id=1</UploadId></InitiateMultipartUploadResult>"
#define UPLOAD_ID "up%2Fload%2Bid%3D1"

/* A file of 6 MiB (two parts of at most 5 MiB). */
static char *six_mebibytes(char *root)
{
    unsigned char *data = pattern(6 * MEBIBYTE, 6);
    char *path = write_file(root, "six", data, 6 * MEBIBYTE);
    free(data);
    return path;
}

static void test_multipart_part_fails(void **state)
{
    (void)state;
    const char *refused = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 71\r\n"
                          "\r\n<Error><Code>InvalidPart</Code><Message>part refused</Message>"
                          "</Error>\n";
    const char *not_allowed = "HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\n"
                              "Content-Length: 0\r\n\r\n";
    struct scripted_server server = {.responses = {CREATED, refused, not_allowed}, .count = 3};
    scripted_start(&server);
    struct s3_settings settings;
    settings_for(&settings, server.port);
    settings.upload_concurrency = 1;
    struct s3_client *client;
    assert_ok(s3_client_create(&settings, &client));
    char *root = support_root_create();
    char *path = six_mebibytes(root);
    assert_int_equal(s3_put_file(client, "big", path, NULL), -EIO);
    /* The part's error, not the abort's. */
    assert_non_null(strstr(error_message(), "part 1/2 of big"));
    assert_non_null(strstr(error_message(), "InvalidPart: part refused"));
    scripted_finish(&server);
    assert_int_equal(server.served, 3);
    assert_true(starts_with(server.requests[0], "POST /" BUCKET "/big?uploads= HTTP/1.1\r\n"));
    assert_true(starts_with(server.requests[1],
                            "PUT /" BUCKET "/big?partNumber=1&uploadId=" UPLOAD_ID
                            " HTTP/1.1\r\n"));
    assert_non_null(strstr(server.requests[1], "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"));
    assert_true(starts_with(server.requests[2],
                            "DELETE /" BUCKET "/big?uploadId=" UPLOAD_ID " HTTP/1.1\r\n"));
    free(path);
    support_root_remove(root);
    s3_client_destroy(client);
}

static void test_multipart_complete_fails(void **state)
{
    (void)state;
    const char *part_1 = OK_CLOSE "ETag: \"e1\"\r\nContent-Length: 0\r\n\r\n";
    const char *part_2 = OK_CLOSE "ETag: \"e2\"\r\nContent-Length: 0\r\n\r\n";
    /* CompleteMultipartUpload may fail after its 200. */
    const char *failed = OK_CLOSE "Content-Length: 93\r\n\r\n"
                                  "<Error><Code>InternalError</Code><Message>We encountered an "
                                  "internal error.</Message></Error>";
    const char *aborted = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    struct scripted_server server = {.responses = {CREATED, part_1, part_2, failed, aborted},
                                     .count = 5};
    scripted_start(&server);
    struct s3_settings settings;
    settings_for(&settings, server.port);
    settings.upload_concurrency = 1;
    settings.attempts = 1;
    struct s3_client *client;
    assert_ok(s3_client_create(&settings, &client));
    char *root = support_root_create();
    char *path = six_mebibytes(root);
    assert_int_equal(s3_put_file(client, "big", path, NULL), -EIO);
    assert_non_null(strstr(error_message(), "multipart complete big"));
    assert_non_null(strstr(error_message(), "InternalError"));
    scripted_finish(&server);
    assert_int_equal(server.served, 5);
    assert_true(starts_with(server.requests[2],
                            "PUT /" BUCKET "/big?partNumber=2&uploadId=" UPLOAD_ID
                            " HTTP/1.1\r\n"));
    const char *complete = server.requests[3];
    assert_true(starts_with(complete, "POST /" BUCKET "/big?uploadId=" UPLOAD_ID " HTTP/1.1\r\n"));
    assert_non_null(strstr(complete, "<Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag>"
                                     "</Part><Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;"
                                     "</ETag></Part></CompleteMultipartUpload>"));
    assert_null(strstr(complete, "UNSIGNED-PAYLOAD"));
    assert_true(starts_with(server.requests[4], "DELETE /" BUCKET "/big?uploadId=" UPLOAD_ID));
    free(path);
    support_root_remove(root);
    s3_client_destroy(client);
}

static void test_stream_resumes(void **state)
{
    (void)state;
    /* 20 bytes promised, 8 sent, connection closed: the retry asks for the
     * rest with a Range and the consumer sees each byte once. */
    const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\nConnection: close\r\n\r\n"
                      "01234567";
    const char *rest = "HTTP/1.1 206 Partial Content\r\nContent-Length: 12\r\n"
                       "Content-Range: bytes 8-19/20\r\nConnection: close\r\n\r\n"
                       "89abcdefghij";
    struct scripted_server server = {.responses = {cut, rest}, .count = 2};
    scripted_start(&server);
    struct s3_client *client = client_for(server.port);
    struct collected collected = {0};
    assert_ok(s3_get_stream(client, "resume/me", 0, -1, collect, &collected));
    scripted_finish(&server);
    assert_int_equal(collected.length, 20);
    assert_memory_equal(collected.data, "0123456789abcdefghij", 20);
    assert_null(strstr(server.requests[0], "Range:"));
    assert_non_null(strstr(server.requests[1], "Range: bytes=8-\r\n"));
    free(collected.data);
    s3_client_destroy(client);
}

static void test_range_ignored(void **state)
{
    (void)state;
    /* A server that ignores Range and sends the whole object. */
    const char *whole = "HTTP/1.1 200 OK\r\nContent-Length: 26\r\nConnection: close\r\n\r\n"
                        "abcdefghijklmnopqrstuvwxyz";
    struct scripted_server server = {.responses = {whole}, .count = 1};
    scripted_start(&server);
    struct s3_client *client = client_for(server.port);
    char buffer[8];
    assert_int_equal(s3_get_range(client, "ignored/range", 10, buffer, 5), 5);
    assert_memory_equal(buffer, "klmno", 5);
    scripted_finish(&server);
    assert_non_null(strstr(server.requests[0], "Range: bytes=10-14\r\n"));
    s3_client_destroy(client);
}

static void test_timeout(void **state)
{
    (void)state;
    /* Connected (the backlog accepts) but never answered. */
    int port;
    int listener = listener_on_free_port(&port);
    struct s3_settings settings;
    settings_for(&settings, port);
    settings.request_timeout_ms = 300;
    settings.attempts = 2;
    struct s3_client *client;
    assert_ok(s3_client_create(&settings, &client));
    struct s3_object_info info;
    double start = now_seconds();
    assert_int_equal(s3_head_object(client, "slow", &info), -ETIMEDOUT);
    double elapsed = now_seconds() - start;
    assert_true(elapsed >= 0.6 && elapsed < 3.0);
    s3_client_destroy(client);
    close(listener);
}

static void test_settings(void **state)
{
    (void)state;
    struct s3_settings settings;
    struct s3_client *client;
    settings_for(&settings, 1);
    assert_ok(s3_client_create(&settings, &client));
    s3_client_destroy(client);
    s3_client_destroy(NULL);

    const char *bad_endpoints[] = {"",        "127.0.0.1:9000", "ftp://host",
                                   "http://", "http://h/path",  "http://user@host"};
    for (size_t i = 0; i < sizeof bad_endpoints / sizeof bad_endpoints[0]; i++) {
        settings_for(&settings, 1);
        snprintf(settings.endpoint, sizeof settings.endpoint, "%s", bad_endpoints[i]);
        assert_int_equal(s3_client_create(&settings, &client), -EINVAL);
        assert_null(client);
    }
    settings_for(&settings, 1);
    snprintf(settings.endpoint, sizeof settings.endpoint, "https://s3.amazonaws.com/");
    assert_ok(s3_client_create(&settings, &client));
    s3_client_destroy(client);

    settings_for(&settings, 1);
    settings.part_size = 5 * MEBIBYTE - 1;
    assert_int_equal(s3_client_create(&settings, &client), -EINVAL);
    settings_for(&settings, 1);
    settings.bucket[0] = '\0';
    assert_int_equal(s3_client_create(&settings, &client), -EINVAL);
    settings_for(&settings, 1);
    settings.secret_key[0] = '\0';
    assert_int_equal(s3_client_create(&settings, &client), -EINVAL);
    settings_for(&settings, 1);
    settings.presign_expiry_seconds = 604801;
    assert_int_equal(s3_client_create(&settings, &client), -EINVAL);
    settings_for(&settings, 1);
    snprintf(settings.secret_key, sizeof settings.secret_key, "bad secret");
    assert_int_equal(s3_client_create(&settings, &client), -EINVAL);
    assert_null(strstr(error_message(), "bad secret"));

    /* Virtual-hosted presigned URLs: the bucket goes into the host. */
    settings_for(&settings, 1);
    settings.path_style = 0;
    snprintf(settings.endpoint, sizeof settings.endpoint, "https://s3.eu-west-1.amazonaws.com");
    snprintf(settings.region, sizeof settings.region, "eu-west-1");
    assert_ok(s3_client_create(&settings, &client));
    char url[2048];
    assert_ok(s3_presign_get(client, "a/sha256:b", 1700000000, url, sizeof url));
    const char *expected = "https://" BUCKET ".s3.eu-west-1.amazonaws.com/a/sha256%3Ab?"
                           "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" ACCESS_KEY
                           "%2F20231114%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20231114T221320Z"
                           "&X-Amz-Expires=1200&X-Amz-SignedHeaders=host&X-Amz-Signature=";
    assert_memory_equal(url, expected, strlen(expected));
    s3_client_destroy(client);
}

static int group_setup(void **state)
{
    (void)state;
    return server_start() == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    s3_test_server_stop(&server);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <tests/s3 directory>\n", argv[0]);
        return 2;
    }
    s3_directory = argv[1];
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);

    const struct CMUnitTest offline[] = {
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_retry_then_success),
        cmocka_unit_test(test_retries_give_up),
        cmocka_unit_test(test_copy_error_after_200),
        cmocka_unit_test(test_multipart_part_fails),
        cmocka_unit_test(test_multipart_complete_fails),
        cmocka_unit_test(test_stream_resumes),
        cmocka_unit_test(test_range_ignored),
        cmocka_unit_test(test_timeout),
    };
    int failures = cmocka_run_group_tests_name("s3_client_scripted", offline, NULL, NULL);

    if (!s3_test_server_available(s3_directory)) {
        printf("SKIP: the s3rver tests need node and `npm ci --prefix %s`\n", s3_directory);
        curl_global_cleanup();
        return failures ? 1 : 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_head_get_range),
        cmocka_unit_test(test_awkward_keys),
        cmocka_unit_test(test_get_stream),
        cmocka_unit_test(test_list_pagination),
        cmocka_unit_test(test_touch),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_put_file_single),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_presign),
        cmocka_unit_test(test_wrong_credentials),
        cmocka_unit_test(test_threads_and_keep_alive),
        cmocka_unit_test(test_server_stopped), /* last: stops the server */
    };
    failures += cmocka_run_group_tests_name("s3_client", tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failures ? 1 : 0;
}

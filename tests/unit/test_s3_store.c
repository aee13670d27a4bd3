/* Unit tests for drivers/s3.h, the S3 blob store, against the real
 * S3-compatible server of the unit tests (s3_test_server.h): blobs of
 * uploads go to the bucket under the keys docs/s3.md gives, manifests stay
 * in the tree; stat, reads, how a blob is served (a presigned URL that
 * works, a remote reader, -EWOULDBLOCK for an event loop), freshen, remove
 * and the listing.
 *
 *     test_s3_store <tests/s3 directory>
 *
 * Exits 77 (skipped) when node or tests/s3/node_modules is missing. */
#include "test_support.h"

#include <curl/curl.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>

#include "drivers/s3.h"
#include "layout/error.h"
#include "layout/gc_lock.h"
#include "s3_test_server.h"

static const char *s3_directory;
static struct s3_test_server server;

#define assert_ok(call)                                                                            \
    do {                                                                                           \
        long long assert_ok_result = (long long)(call);                                            \
        if (assert_ok_result != 0)                                                                 \
            fail_msg("%s = %lld: %s", #call, assert_ok_result, error_message());                   \
    } while (0)

struct fixture {
    char *root;
    struct tree tree;
    char prefix[32];          /* storage.s3.rootdirectory, one per test */
    struct blob_store *store; /* the store under test */
    struct s3_client *client; /* the same bucket, looked at directly */
    int uploads;
};

static void settings_for(struct s3_settings *settings, const char *prefix)
{
    s3_settings_defaults(settings);
    snprintf(settings->endpoint, sizeof settings->endpoint, "http://127.0.0.1:%d", server.port);
    snprintf(settings->bucket, sizeof settings->bucket, S3_TEST_BUCKET);
    snprintf(settings->access_key, sizeof settings->access_key, S3_TEST_ACCESS_KEY);
    snprintf(settings->secret_key, sizeof settings->secret_key, S3_TEST_SECRET_KEY);
    snprintf(settings->root_directory, sizeof settings->root_directory, "%s", prefix);
    settings->part_size = S3_MINIMUM_PART_SIZE;
}

static int setup(void **state)
{
    static int tests;
    struct fixture *fixture = calloc(1, sizeof *fixture);
    assert_non_null(fixture);
    fixture->root = support_root_create();
    assert_ok(tree_open(&fixture->tree, fixture->root, 1));
    snprintf(fixture->prefix, sizeof fixture->prefix, "store-%d-%d", (int)getpid(), ++tests);
    struct s3_settings settings;
    settings_for(&settings, fixture->prefix);
    assert_ok(blob_store_s3_create(&fixture->tree, &settings, &fixture->store));
    assert_ok(s3_client_create(&settings, &fixture->client));
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    blob_store_destroy(fixture->store);
    s3_client_destroy(fixture->client);
    support_root_remove(fixture->root);
    free(fixture);
    return 0;
}

/* Where docs/s3.md says a blob is: <rootdirectory>/docker/registry/v2/blobs/
 * <alg>/<xx>/<hex>/data. */
static void bucket_key(const struct fixture *fixture, const struct digest *digest, char *key,
                       size_t size)
{
    snprintf(key, size, "%s/docker/registry/v2/blobs/%s/%.2s/%s/data", fixture->prefix,
             digest_algorithm_name(digest->algorithm), digest_hex(digest), digest_hex(digest));
}

/* The digest of bytes never stored. */
static struct digest digest_of_text(const char *text)
{
    struct digest digest;
    assert_ok(digest_of_buffer(DIGEST_SHA256, text, strlen(text), &digest));
    return digest;
}

static int in_bucket(const struct fixture *fixture, const struct digest *digest, int64_t *size)
{
    char key[1024];
    struct s3_object_info info;
    bucket_key(fixture, digest, key, sizeof key);
    int result = s3_head_object(fixture->client, key, &info);
    if (result == 0 && size != NULL)
        *size = info.size;
    return result == 0;
}

static int in_tree(const struct fixture *fixture, const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    struct stat status;
    assert_ok(tree_path_blob_data(&fixture->tree, digest, path));
    return stat(path, &status) == 0;
}

/* An upload's verified file, as the server hands it to commit. */
static struct digest upload_file(struct fixture *fixture, const void *data, size_t length,
                                 char path[PATH_MAX])
{
    struct digest digest;
    assert_ok(digest_of_buffer(DIGEST_SHA256, data, length, &digest));
    support_path(path, "%s/upload-%d", fixture->root, ++fixture->uploads);
    support_write(path, data, length);
    return digest;
}

static struct digest commit_bytes(struct fixture *fixture, const void *data, size_t length)
{
    char path[PATH_MAX];
    struct digest digest = upload_file(fixture, data, length, path);
    assert_ok(blob_store_prepare(fixture->store, path, &digest));
    assert_ok(blob_store_commit(fixture->store, path, &digest));
    return digest;
}

static unsigned char *pattern(size_t length)
{
    unsigned char *data = malloc(length);
    assert_non_null(data);
    uint32_t state = 2463534242u;
    for (size_t i = 0; i < length; i++) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        data[i] = (unsigned char)state;
    }
    return data;
}

static void test_prepare_then_commit(void **state)
{
    struct fixture *fixture = *state;
    const char *bytes = "the bytes of a layer";
    char path[PATH_MAX];
    struct digest digest = upload_file(fixture, bytes, strlen(bytes), path);
    assert_false(in_bucket(fixture, &digest, NULL));

    /* prepare sends the bytes and leaves the file for the commit. */
    assert_ok(blob_store_prepare(fixture->store, path, &digest));
    int64_t size = 0;
    assert_true(in_bucket(fixture, &digest, &size));
    assert_int_equal(size, strlen(bytes));
    assert_int_equal(access(path, F_OK), 0);

    /* commit checks it, then the upload file goes; nothing in the tree. */
    assert_ok(blob_store_commit(fixture->store, path, &digest));
    assert_int_equal(access(path, F_OK), -1);
    assert_true(in_bucket(fixture, &digest, NULL));
    assert_false(in_tree(fixture, &digest));

    /* A commit alone (no prepare) sends it too; the same digest again only
     * drops the new file. */
    const char *other = "another layer";
    struct digest second = upload_file(fixture, other, strlen(other), path);
    assert_ok(blob_store_commit(fixture->store, path, &second));
    assert_true(in_bucket(fixture, &second, NULL));
    upload_file(fixture, other, strlen(other), path);
    assert_ok(blob_store_commit(fixture->store, path, &second));
    assert_int_equal(access(path, F_OK), -1);
}

static void test_stat(void **state)
{
    struct fixture *fixture = *state;
    const char *bytes = "twelve bytes";
    long long before = (long long)time(NULL);
    struct digest digest = commit_bytes(fixture, bytes, strlen(bytes));
    struct blob_info info;
    assert_ok(blob_store_stat(fixture->store, &digest, &info));
    assert_int_equal(info.size, 12);
    /* On our clock (docs/s3.md): never later than now. */
    assert_true(info.modified_seconds >= before - 120);
    assert_true(info.modified_seconds <= (long long)time(NULL) + 1);

    struct digest missing = digest_of_text("absent");
    assert_int_equal(blob_store_stat(fixture->store, &missing, &info), -ENOENT);
}

static void test_put_keeps_manifests_in_the_tree(void **state)
{
    struct fixture *fixture = *state;
    const char *manifest = "{\"schemaVersion\":2}";
    struct digest digest;
    assert_ok(digest_of_buffer(DIGEST_SHA256, manifest, strlen(manifest), &digest));
    assert_ok(blob_store_put(fixture->store, &digest, manifest, strlen(manifest)));
    assert_true(in_tree(fixture, &digest));
    assert_false(in_bucket(fixture, &digest, NULL));
    char *body;
    size_t length;
    assert_ok(blob_store_read_all(fixture->store, &digest, 4096, &body, &length));
    assert_int_equal(length, strlen(manifest));
    assert_memory_equal(body, manifest, length);
    free(body);

    /* Served from the tree, at once: an event loop may ask. */
    struct blob_serving serving;
    assert_ok(blob_store_serve(fixture->store, &digest,
                               BLOB_SERVE_BODY | BLOB_SERVE_REDIRECT_ALLOWED | BLOB_SERVE_NOW,
                               &serving));
    assert_int_equal(serving.kind, BLOB_SERVED_LOCALLY);
    assert_int_equal(serving.info.size, strlen(manifest));
    char buffer[64];
    assert_int_equal(blob_reader_read(serving.reader, buffer, sizeof buffer, 0), strlen(manifest));
    assert_memory_equal(buffer, manifest, strlen(manifest));
    blob_reader_close(serving.reader);
}

static void test_open_and_read_ranges(void **state)
{
    struct fixture *fixture = *state;
    size_t size = 300 * 1024;
    unsigned char *data = pattern(size);
    struct digest digest = commit_bytes(fixture, data, size);
    struct blob_reader *reader;
    struct blob_info info;
    assert_ok(blob_store_open(fixture->store, &digest, &reader, &info));
    assert_int_equal(info.size, size);
    unsigned char buffer[8192];
    assert_int_equal(blob_reader_read(reader, buffer, 5000, 1000), 5000);
    assert_memory_equal(buffer, data + 1000, 5000);
    assert_int_equal(blob_reader_read(reader, buffer, sizeof buffer, (int64_t)size - 10), 10);
    assert_memory_equal(buffer, data + size - 10, 10);
    assert_int_equal(blob_reader_read(reader, buffer, sizeof buffer, (int64_t)size), 0);
    assert_int_equal(blob_reader_read(reader, buffer, sizeof buffer, -1), -EINVAL);
    blob_reader_close(reader);

    char *whole;
    size_t length;
    assert_ok(blob_store_read_all(fixture->store, &digest, size, &whole, &length));
    assert_int_equal(length, size);
    assert_memory_equal(whole, data, size);
    free(whole);
    assert_int_equal(blob_store_read_all(fixture->store, &digest, size - 1, &whole, &length),
                     -EFBIG);

    struct digest missing = digest_of_text("not there");
    assert_int_equal(blob_store_open(fixture->store, &missing, &reader, &info), -ENOENT);
    free(data);
}

struct fetched {
    long status;
    char *body;
    size_t length;
};

static size_t fetch_write(char *data, size_t size, size_t count, void *pointer)
{
    struct fetched *fetched = pointer;
    char *grown = realloc(fetched->body, fetched->length + size * count + 1);
    assert_non_null(grown);
    memcpy(grown + fetched->length, data, size * count);
    fetched->body = grown;
    fetched->length += size * count;
    return size * count;
}

/* A plain GET, as a client following the 307 makes it. */
static struct fetched fetch(const char *url)
{
    struct fetched fetched = {0};
    CURL *handle = curl_easy_init();
    assert_non_null(handle);
    curl_easy_setopt(handle, CURLOPT_URL, url);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, fetch_write);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &fetched);
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    assert_int_equal(curl_easy_perform(handle), CURLE_OK);
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &fetched.status);
    curl_easy_cleanup(handle);
    return fetched;
}

static void test_serving(void **state)
{
    struct fixture *fixture = *state;
    const char *bytes = "layer bytes a client fetches from the bucket";
    struct digest digest = commit_bytes(fixture, bytes, strlen(bytes));
    struct blob_serving serving;
    const unsigned get = BLOB_SERVE_BODY | BLOB_SERVE_REDIRECT_ALLOWED;

    /* An event loop is told to ask again on a worker. */
    assert_int_equal(blob_store_serve(fixture->store, &digest, get | BLOB_SERVE_NOW, &serving),
                     -EWOULDBLOCK);
    assert_int_equal(blob_store_serve(fixture->store, &digest, BLOB_SERVE_NOW, &serving),
                     -EWOULDBLOCK);

    /* HEAD: the size only. */
    assert_ok(blob_store_serve(fixture->store, &digest, 0, &serving));
    assert_int_equal(serving.kind, BLOB_SERVED_INFO);
    assert_int_equal(serving.info.size, strlen(bytes));
    assert_null(serving.reader);

    /* GET: a presigned URL that serves the bytes. */
    assert_ok(blob_store_serve(fixture->store, &digest, get, &serving));
    assert_int_equal(serving.kind, BLOB_SERVED_BY_REDIRECT);
    assert_null(serving.reader);
    assert_int_equal(serving.info.size, strlen(bytes));
    char expected[2048], key[1024];
    bucket_key(fixture, &digest, key, sizeof key);
    snprintf(expected, sizeof expected, "http://127.0.0.1:%d/%s/%s?", server.port, S3_TEST_BUCKET,
             key);
    assert_memory_equal(serving.url, expected, strlen(expected));
    assert_non_null(strstr(serving.url, "X-Amz-Signature="));
    struct fetched fetched = fetch(serving.url);
    assert_int_equal(fetched.status, 200);
    assert_int_equal(fetched.length, strlen(bytes));
    assert_memory_equal(fetched.body, bytes, strlen(bytes));
    free(fetched.body);

    /* Redirects off (storage.redirect.disable): a reader of ranged GETs. */
    assert_ok(blob_store_serve(fixture->store, &digest, BLOB_SERVE_BODY, &serving));
    assert_int_equal(serving.kind, BLOB_SERVED_REMOTELY);
    assert_non_null(serving.reader);
    char buffer[128];
    assert_int_equal(blob_reader_read(serving.reader, buffer, sizeof buffer, 6), strlen(bytes) - 6);
    assert_memory_equal(buffer, bytes + 6, strlen(bytes) - 6);
    blob_reader_close(serving.reader);

    struct digest missing = digest_of_text("never pushed");
    assert_int_equal(blob_store_serve(fixture->store, &missing, get, &serving), -ENOENT);
    assert_int_equal(blob_store_serve(fixture->store, &missing, 0, &serving), -ENOENT);
    assert_int_equal(blob_store_serve(fixture->store, &missing, get | BLOB_SERVE_NOW, &serving),
                     -EWOULDBLOCK);
}

static void test_freshen(void **state)
{
    struct fixture *fixture = *state;
    const char *bytes = "a layer re-used by a push";
    struct digest digest = commit_bytes(fixture, bytes, strlen(bytes));
    assert_ok(blob_store_freshen(fixture->store, &digest));
    struct digest missing = digest_of_text("not pushed");
    assert_int_equal(blob_store_freshen(fixture->store, &missing), -ENOENT);

    /* While a cairn-gc run is announced, an object not clearly younger than
     * its mark start is copied onto itself (LastModified becomes now). */
    int run;
    assert_ok(gc_run_announce(&fixture->tree, &run));
    assert_ok(gc_run_record(run, (long long)time(NULL) + 3600));
    long long before = (long long)time(NULL);
    assert_ok(blob_store_freshen(fixture->store, &digest));
    struct blob_info info;
    assert_ok(blob_store_stat(fixture->store, &digest, &info));
    assert_true(info.modified_seconds >= before - 120);
    assert_int_equal(blob_store_freshen(fixture->store, &missing), -ENOENT);
    gc_run_withdraw(&fixture->tree, run);
    assert_int_equal(info.size, strlen(bytes));
}

static void test_remove(void **state)
{
    struct fixture *fixture = *state;
    const char *bytes = "a layer the GC sweeps";
    struct digest digest = commit_bytes(fixture, bytes, strlen(bytes));
    assert_ok(blob_store_remove(fixture->store, &digest));
    assert_false(in_bucket(fixture, &digest, NULL));
    struct blob_info info;
    assert_int_equal(blob_store_stat(fixture->store, &digest, &info), -ENOENT);

    const char *manifest = "{\"manifest\":1}";
    struct digest local;
    assert_ok(digest_of_buffer(DIGEST_SHA256, manifest, strlen(manifest), &local));
    assert_ok(blob_store_put(fixture->store, &local, manifest, strlen(manifest)));
    assert_ok(blob_store_remove(fixture->store, &local));
    assert_false(in_tree(fixture, &local));
}

struct listing {
    struct digest digests[8];
    int64_t sizes[8]; /* -1: listed without a blob_info (the tree's) */
    size_t count;
};

static int collect(const struct digest *digest, const struct blob_info *info, void *context)
{
    struct listing *listing = context;
    assert_true(listing->count < 8);
    listing->digests[listing->count] = *digest;
    listing->sizes[listing->count] = info != NULL ? info->size : -1;
    listing->count++;
    return 0;
}

static int64_t listed_size(const struct listing *listing, const struct digest *digest)
{
    for (size_t i = 0; i < listing->count; i++)
        if (digest_equal(&listing->digests[i], digest))
            return listing->sizes[i];
    return -2; /* not listed */
}

static void test_list(void **state)
{
    struct fixture *fixture = *state;
    assert_true(blob_store_keeps_blobs_outside_tree(fixture->store));
    struct digest first = commit_bytes(fixture, "first", 5);
    struct digest second = commit_bytes(fixture, "second!", 7);
    const char *manifest = "{}";
    struct digest local;
    assert_ok(digest_of_buffer(DIGEST_SHA256, manifest, strlen(manifest), &local));
    assert_ok(blob_store_put(fixture->store, &local, manifest, strlen(manifest)));
    /* Objects that are not blob data are not blobs. */
    char stray[1024];
    snprintf(stray, sizeof stray, "%s/docker/registry/v2/blobs/sha256/zz/not-a-digest/data",
             fixture->prefix);
    assert_ok(s3_put_memory(fixture->client, stray, "x", 1));
    snprintf(stray, sizeof stray, "%s/docker/registry/v2/blobs/sha256/%.2s/%s/startedat",
             fixture->prefix, digest_hex(&first), digest_hex(&first));
    assert_ok(s3_put_memory(fixture->client, stray, "x", 1));

    struct listing listing = {0};
    assert_ok(blob_store_list(fixture->store, collect, &listing));
    assert_int_equal(listing.count, 3);
    assert_int_equal(listed_size(&listing, &first), 5);
    assert_int_equal(listed_size(&listing, &second), 7);
    assert_int_equal(listed_size(&listing, &local), -1);
}

static int count_key(const char *key, const struct s3_object_info *info, void *context)
{
    (void)key;
    (void)info;
    (*(int *)context)++;
    return 0;
}

static void test_check(void **state)
{
    struct fixture *fixture = *state;
    assert_ok(blob_store_s3_check(fixture->store));
    /* The clock probe's scratch object is gone again. */
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/docker/registry/v2/.cairn", fixture->prefix);
    int count = 0;
    assert_ok(s3_list_objects(fixture->client, prefix, count_key, &count));
    assert_int_equal(count, 0);

    struct s3_settings settings;
    settings_for(&settings, fixture->prefix);
    snprintf(settings.secret_key, sizeof settings.secret_key, "wrong");
    settings.attempts = 1;
    assert_ok(blob_store_s3_update(fixture->store, &settings));
    assert_true(blob_store_s3_check(fixture->store) < 0);
}

static int group_setup(void **state)
{
    (void)state;
    return s3_test_server_start(&server, s3_directory) == 0 ? 0 : -1;
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
    if (!s3_test_server_available(s3_directory)) {
        printf("SKIP: the S3 store tests need node and `npm ci --prefix %s`\n", s3_directory);
        return 77;
    }
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prepare_then_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_keeps_manifests_in_the_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_and_read_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serving, setup, teardown),
        cmocka_unit_test_setup_teardown(test_freshen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check, setup, teardown),
    };
    int failures = cmocka_run_group_tests_name("s3_store", tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failures ? 1 : 0;
}

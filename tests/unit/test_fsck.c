/* Unit tests for tools/fsck.h (with fsck_blobs.h and fsck_links.h): a sound
 * tree is sound; each planted damage is found with its kind; --repair fixes
 * what it claims and a second run agrees; corrupt blobs keep their bytes in
 * the quarantine. Then the same tree over a fake remote store (an S3 store's
 * behaviour over an in-memory bucket): missing and resized blobs, --deep,
 * and --repair leaving the bucket alone. */
#include "test_support.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <time.h>

#include "drivers/fs.h"
#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/link_file.h"
#include "layout/manifest.h"
#include "layout/tree.h"
#include "tools/fsck.h"
#include "tools/fsck_blobs.h"

#define NAME "team/app"
#define UPLOAD_ID "00000000-0000-4000-8000-00000000000a"

struct fake_remote;

struct fixture {
    char *root;
    struct tree tree;
    struct blob_store *store;
    struct fake_remote *remote; /* the store, when it is the fake remote one */
    struct digest config, layer, extra, orphan, manifest, artifact;
    char extra_bytes[4096];
    size_t extra_length;
};

static struct digest put_blob(struct fixture *fixture, const void *data, size_t length)
{
    struct digest digest;
    assert_int_equal(digest_of_buffer(DIGEST_SHA256, data, length, &digest), 0);
    assert_int_equal(blob_store_put(fixture->store, &digest, data, length), 0);
    return digest;
}

/* --- a fake remote store ----------------------------------------------------
 *
 * What drivers/s3.c looks like to cairn-fsck, without S3: blobs stored with
 * blob_store_put (manifests) stay in the tree through the filesystem store,
 * every other blob is an object of an in-memory bucket. The listing gives the
 * tree's blobs first (info NULL), then the bucket's (size, time); stat, open
 * and read look in the tree first. Counts the calls that would cross the
 * network, and can fail reads or hide an object from the listing. */

#define BUCKET_CAPACITY 16
#define FAKE_REMOTE_NAME "fake-s3"

struct bucket_object {
    struct digest digest;
    unsigned char *bytes;
    size_t length;
    long long modified_seconds;
};

struct fake_remote {
    struct blob_store base;
    struct blob_store *local;
    struct bucket_object objects[BUCKET_CAPACITY];
    size_t count;
    int heads;                     /* stat and open that reached the bucket */
    int gets;                      /* reads from the bucket */
    int deletes;                   /* removals in the bucket */
    int fail_reads;                /* reads fail with -EREMOTEIO */
    int read_size_max;             /* the largest read asked for */
    const struct digest *unlisted; /* left out of the listing (pushed after it) */
    const struct digest *vanished; /* listed, but gone when opened */
};

struct fake_reader {
    struct blob_reader base;
    struct fake_remote *store;
    const struct bucket_object *object;
};

static const struct blob_store_operations fake_remote_operations;

static struct fake_remote *fake_of(struct blob_store *store)
{
    return (struct fake_remote *)store;
}

static struct bucket_object *bucket_find(struct fake_remote *fake, const struct digest *digest)
{
    for (size_t i = 0; i < fake->count; i++)
        if (digest_equal(&fake->objects[i].digest, digest))
            return &fake->objects[i];
    return NULL;
}

static int fake_stat(struct blob_store *store, const struct digest *digest, struct blob_info *out)
{
    struct fake_remote *fake = fake_of(store);
    int result = blob_store_stat(fake->local, digest, out);
    if (result != -ENOENT)
        return result;
    fake->heads++;
    const struct bucket_object *object = bucket_find(fake, digest);
    if (object == NULL || (fake->vanished != NULL && digest_equal(fake->vanished, digest)))
        return error_set(-ENOENT, "no object for %s", digest->string);
    out->size = (int64_t)object->length;
    out->modified_seconds = object->modified_seconds;
    return 0;
}

static int fake_open(struct blob_store *store, const struct digest *digest,
                     struct blob_reader **reader_out, struct blob_info *info_out)
{
    struct fake_remote *fake = fake_of(store);
    int result = blob_store_open(fake->local, digest, reader_out, info_out);
    if (result != -ENOENT)
        return result;
    struct blob_info info;
    if ((result = fake_stat(store, digest, &info)) < 0)
        return result;
    struct fake_reader *reader = calloc(1, sizeof *reader);
    if (reader == NULL)
        return error_set(-ENOMEM, "out of memory");
    reader->base.operations = &fake_remote_operations;
    reader->store = fake;
    reader->object = bucket_find(fake, digest);
    if (info_out != NULL)
        *info_out = info;
    *reader_out = &reader->base;
    return 0;
}

static ssize_t fake_read(struct blob_reader *base, void *buffer, size_t length, int64_t offset)
{
    struct fake_reader *reader = (struct fake_reader *)base;
    struct fake_remote *fake = reader->store;
    fake->gets++;
    if ((int)length > fake->read_size_max)
        fake->read_size_max = (int)length;
    if (fake->fail_reads)
        return error_set(-EREMOTEIO, "the bucket does not answer");
    const struct bucket_object *object = reader->object;
    if (offset < 0)
        return error_set(-EINVAL, "negative offset");
    if ((size_t)offset >= object->length)
        return 0;
    if (length > object->length - (size_t)offset)
        length = object->length - (size_t)offset;
    memcpy(buffer, object->bytes + offset, length);
    return (ssize_t)length;
}

static void fake_close(struct blob_reader *reader)
{
    free(reader);
}

static int fake_commit(struct blob_store *store, const char *file_path, const struct digest *digest)
{
    (void)store;
    (void)file_path;
    (void)digest;
    return error_set(-ENOTSUP, "the fake remote store takes no uploads");
}

static int fake_put(struct blob_store *store, const struct digest *digest, const void *data,
                    size_t length)
{
    return blob_store_put(fake_of(store)->local, digest, data, length);
}

static int fake_freshen(struct blob_store *store, const struct digest *digest)
{
    struct fake_remote *fake = fake_of(store);
    int result = blob_store_freshen(fake->local, digest);
    if (result != -ENOENT)
        return result;
    struct bucket_object *object = bucket_find(fake, digest);
    if (object == NULL)
        return error_set(-ENOENT, "no object for %s", digest->string);
    object->modified_seconds = (long long)time(NULL);
    return 0;
}

static int fake_remove(struct blob_store *store, const struct digest *digest)
{
    struct fake_remote *fake = fake_of(store);
    int result = blob_store_remove(fake->local, digest);
    if (result != -ENOENT)
        return result;
    fake->deletes++;
    struct bucket_object *object = bucket_find(fake, digest);
    if (object != NULL) {
        free(object->bytes);
        *object = fake->objects[--fake->count];
    }
    return 0;
}

static int fake_list(struct blob_store *store, blob_store_visit visit, void *context)
{
    struct fake_remote *fake = fake_of(store);
    int result = blob_store_list(fake->local, visit, context);
    for (size_t i = 0; result == 0 && i < fake->count; i++) {
        const struct bucket_object *object = &fake->objects[i];
        if (fake->unlisted != NULL && digest_equal(fake->unlisted, &object->digest))
            continue;
        struct blob_info info = {.size = (int64_t)object->length,
                                 .modified_seconds = object->modified_seconds};
        result = visit(&object->digest, &info, context);
    }
    return result;
}

static void fake_destroy(struct blob_store *store)
{
    struct fake_remote *fake = fake_of(store);
    for (size_t i = 0; i < fake->count; i++)
        free(fake->objects[i].bytes);
    blob_store_destroy(fake->local);
    free(fake);
}

static const struct blob_store_operations fake_remote_operations = {
    .name = FAKE_REMOTE_NAME,
    .flags = BLOB_STORE_OUTSIDE_TREE,
    .stat = fake_stat,
    .open = fake_open,
    .read = fake_read,
    .close = fake_close,
    .commit = fake_commit,
    .put = fake_put,
    .freshen = fake_freshen,
    .remove = fake_remove,
    .list = fake_list,
    .destroy = fake_destroy,
};

static struct fake_remote *fake_remote_create(const struct tree *tree)
{
    struct fake_remote *fake = calloc(1, sizeof *fake);
    assert_non_null(fake);
    fake->base.operations = &fake_remote_operations;
    assert_int_equal(blob_store_fs_create(tree, &fake->local), 0);
    return fake;
}

/* Puts `data` into the bucket as it would arrive from an upload. */
static struct digest bucket_put(struct fake_remote *fake, const void *data, size_t length)
{
    struct digest digest;
    assert_int_equal(digest_of_buffer(DIGEST_SHA256, data, length, &digest), 0);
    assert_null(bucket_find(fake, &digest));
    assert_true(fake->count < BUCKET_CAPACITY);
    struct bucket_object *object = &fake->objects[fake->count++];
    object->digest = digest;
    object->bytes = malloc(length ? length : 1);
    assert_non_null(object->bytes);
    memcpy(object->bytes, data, length);
    object->length = length;
    object->modified_seconds = (long long)time(NULL);
    return digest;
}

static void write_link(int path_result, const char *path, const struct digest *digest)
{
    assert_int_equal(path_result, 0);
    assert_int_equal(link_file_write(path, digest), 0);
}

static void link_layer(struct fixture *fixture, const char *name, const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    write_link(tree_path_layer_link(&fixture->tree, name, digest, path), path, digest);
}

static void link_revision(struct fixture *fixture, const char *name, const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    write_link(tree_path_revision_link(&fixture->tree, name, digest, path), path, digest);
}

static void link_tag(struct fixture *fixture, const char *name, const char *tag,
                     const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    write_link(tree_path_tag_index_link(&fixture->tree, name, tag, digest, path), path, digest);
    write_link(tree_path_tag_current_link(&fixture->tree, name, tag, path), path, digest);
}

/* An OCI image manifest over `config` and `layers`, stored as a blob. */
static struct digest put_manifest(struct fixture *fixture, const struct digest *config,
                                  size_t config_size, const struct digest *layers,
                                  const size_t *layer_sizes, size_t layer_count,
                                  const struct digest *subject)
{
    char body[8192];
    int length = snprintf(body, sizeof body,
                          "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\","
                          "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                          "\"digest\":\"%s\",\"size\":%zu},\"layers\":[",
                          config->string, config_size);
    for (size_t i = 0; i < layer_count; i++)
        length += snprintf(body + length, sizeof body - (size_t)length,
                           "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
                           "\"digest\":\"%s\",\"size\":%zu}",
                           i ? "," : "", layers[i].string, layer_sizes[i]);
    length += snprintf(body + length, sizeof body - (size_t)length, "]");
    if (subject != NULL)
        length += snprintf(body + length, sizeof body - (size_t)length,
                           ",\"subject\":{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST
                           "\",\"digest\":\"%s\",\"size\":10}",
                           subject->string);
    length += snprintf(body + length, sizeof body - (size_t)length, "}");
    assert_true(length > 0 && (size_t)length < sizeof body);
    return put_blob(fixture, body, (size_t)length);
}

/* A blob pushed by upload: into the tree, or the fake remote's bucket. */
static struct digest put_uploaded(struct fixture *fixture, const void *data, size_t length)
{
    if (fixture->remote != NULL)
        return bucket_put(fixture->remote, data, length);
    return put_blob(fixture, data, length);
}

/* The sound tree: team/app with an image tagged v1 (config + layer), an
 * artifact referring to it (untagged), one more linked layer ("extra") no
 * manifest uses, and one orphaned blob. With `remote`, the store is the fake
 * remote one: manifests in the tree, the four other blobs in its bucket. */
static int setup_with(void **state, int remote)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    assert_non_null(fixture);
    fixture->root = support_root_create();
    assert_int_equal(tree_open(&fixture->tree, fixture->root, 1), 0);
    if (remote) {
        fixture->remote = fake_remote_create(&fixture->tree);
        fixture->store = &fixture->remote->base;
    } else {
        assert_int_equal(blob_store_fs_create(&fixture->tree, &fixture->store), 0);
    }

    const char config[] = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
    const char layer[] = "layer bytes, layer bytes, layer bytes";
    fixture->config = put_uploaded(fixture, config, sizeof config - 1);
    fixture->layer = put_uploaded(fixture, layer, sizeof layer - 1);
    for (size_t i = 0; i < sizeof fixture->extra_bytes; i++)
        fixture->extra_bytes[i] = (char)('a' + i % 26);
    fixture->extra_length = sizeof fixture->extra_bytes;
    fixture->extra = put_uploaded(fixture, fixture->extra_bytes, fixture->extra_length);
    fixture->orphan = put_uploaded(fixture, "nobody links me", 15);
    link_layer(fixture, NAME, &fixture->config);
    link_layer(fixture, NAME, &fixture->layer);
    link_layer(fixture, NAME, &fixture->extra);

    size_t layer_size = sizeof layer - 1;
    fixture->manifest = put_manifest(fixture, &fixture->config, sizeof config - 1, &fixture->layer,
                                     &layer_size, 1, NULL);
    link_revision(fixture, NAME, &fixture->manifest);
    link_tag(fixture, NAME, "v1", &fixture->manifest);

    fixture->artifact = put_manifest(fixture, &fixture->config, sizeof config - 1, NULL, NULL, 0,
                                     &fixture->manifest);
    link_revision(fixture, NAME, &fixture->artifact);
    char path[TREE_PATH_MAX];
    write_link(
        tree_path_referrer_link(&fixture->tree, NAME, &fixture->manifest, &fixture->artifact, path),
        path, &fixture->artifact);
    *state = fixture;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 0);
}

static int setup_remote(void **state)
{
    return setup_with(state, 1);
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    blob_store_destroy(fixture->store);
    support_root_remove(fixture->root);
    free(fixture);
    return 0;
}

/* One run; the caller clears the report. */
static void run_deep(struct fixture *fixture, int repair, int deep, struct fsck_report *report)
{
    struct fsck_options options = {.repair = repair,
                                   .deep = deep,
                                   .jobs = 3,
                                   .now = (long long)time(NULL),
                                   .stale_upload_seconds = FSCK_STALE_UPLOAD_SECONDS};
    fsck_report_init(report);
    assert_int_equal(fsck_run(&fixture->tree, fixture->store, &options, report), 0);
}

static void run(struct fixture *fixture, int repair, struct fsck_report *report)
{
    run_deep(fixture, repair, 0, report);
}

static void print_problems(const struct fsck_report *report)
{
    for (size_t i = 0; i < report->problem_count; i++)
        print_message("  %s %s %s%s\n", fsck_problem_kind_name(report->problems[i].kind),
                      report->problems[i].path, report->problems[i].detail,
                      report->problems[i].repaired ? " repaired" : "");
}

static void assert_sound(struct fixture *fixture)
{
    struct fsck_report report;
    run(fixture, 0, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 0);
    fsck_report_clear(&report);
}

/* The problem of `kind` (exactly one), or fails. */
static const struct fsck_problem *only(const struct fsck_report *report,
                                       enum fsck_problem_kind kind)
{
    const struct fsck_problem *found = NULL;
    for (size_t i = 0; i < report->problem_count; i++)
        if (report->problems[i].kind == kind) {
            assert_null(found);
            found = &report->problems[i];
        }
    if (found == NULL)
        print_problems(report);
    assert_non_null(found);
    return found;
}

/* A check run finds exactly the problems of `kinds` (unrepaired), a repair
 * run repairs every one of them, and a third run finds the tree sound. */
static void check_repair_sound(struct fixture *fixture, const enum fsck_problem_kind *kinds,
                               size_t count)
{
    struct fsck_report report;
    run(fixture, 0, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, count);
    for (size_t i = 0; i < count; i++)
        assert_false(only(&report, kinds[i])->repaired);
    fsck_report_clear(&report);

    run(fixture, 1, &report);
    print_problems(&report);
    assert_true(report.problem_count >= count);
    for (size_t i = 0; i < count; i++)
        assert_true(only(&report, kinds[i])->repaired);
    assert_int_equal(fsck_report_repaired_count(&report), report.problem_count);
    fsck_report_clear(&report);
    assert_sound(fixture);
}

static void blob_data_path(struct fixture *fixture, const struct digest *digest,
                           char path[TREE_PATH_MAX])
{
    assert_int_equal(tree_path_blob_data(&fixture->tree, digest, path), 0);
}

/* The single file of R/.cairn-quarantine/<alg>/ that is not a .reason. */
static char *quarantined_file(struct fixture *fixture, const struct digest *digest)
{
    char directory[TREE_PATH_MAX], path[TREE_PATH_MAX];
    assert_int_equal(tree_path_quarantine_directory(&fixture->tree, directory), 0);
    support_path(path, "%s/sha256", directory);
    DIR *listing = opendir(path);
    assert_non_null(listing);
    char *found = NULL;
    struct dirent *entry;
    while ((entry = readdir(listing)) != NULL) {
        size_t length = strlen(entry->d_name);
        if (strncmp(entry->d_name, digest_hex(digest), 64) != 0 ||
            (length > 7 && strcmp(entry->d_name + length - 7, ".reason") == 0))
            continue;
        assert_null(found);
        found = malloc(PATH_MAX);
        support_path(found, "%s/%s", path, entry->d_name);
    }
    closedir(listing);
    assert_non_null(found);
    char reason[PATH_MAX + 8];
    snprintf(reason, sizeof reason, "%s.reason", found);
    char *text = support_read(reason, NULL);
    assert_non_null(strstr(text, digest->string));
    assert_non_null(strstr(text, "content hashes to"));
    free(text);
    return found;
}

/* --- the sound tree ------------------------------------------------------- */

static void test_sound_tree(void **state)
{
    struct fixture *fixture = *state;
    struct fsck_report report;
    run(fixture, 0, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 0);
    assert_int_equal(report.blobs_verified, 6);
    assert_true(report.blob_bytes > fixture->extra_length);
    /* 3 layers, 2 revisions, current + index, 1 referrer */
    assert_int_equal(report.links_checked, 8);
    assert_int_equal(report.orphaned_blobs.count, 1);
    assert_string_equal(report.orphaned_blobs.items[0].string, fixture->orphan.string);
    fsck_report_clear(&report);

    /* A repair run on a sound tree changes nothing and is sound too. */
    run(fixture, 1, &report);
    assert_int_equal(report.problem_count, 0);
    fsck_report_clear(&report);
}

static void test_read_only_without_repair(void **state)
{
    struct fixture *fixture = *state;
    char lock[TREE_PATH_MAX], quarantine[TREE_PATH_MAX];
    assert_int_equal(tree_path_gc_lock(&fixture->tree, lock), 0);
    assert_int_equal(tree_path_quarantine_directory(&fixture->tree, quarantine), 0);
    char data[TREE_PATH_MAX];
    blob_data_path(fixture, &fixture->extra, data);
    support_write(data, "not the bytes", 13);
    struct fsck_report report;
    run(fixture, 0, &report);
    assert_int_equal(only(&report, FSCK_CORRUPT_BLOB)->repaired, 0);
    assert_int_equal(report.problem_count, 1); /* its link is not "dangling" */
    fsck_report_clear(&report);
    assert_false(support_exists(lock));
    assert_false(support_exists(quarantine));
    assert_true(support_exists(data));
}

/* --- blobs ---------------------------------------------------------------- */

static void test_flipped_byte(void **state)
{
    struct fixture *fixture = *state;
    char data[TREE_PATH_MAX];
    blob_data_path(fixture, &fixture->extra, data);
    fixture->extra_bytes[1000] ^= 0x01;
    support_write(data, fixture->extra_bytes, fixture->extra_length);

    struct fsck_report report;
    run(fixture, 0, &report);
    const struct fsck_problem *problem = only(&report, FSCK_CORRUPT_BLOB);
    assert_string_equal(problem->path, data);
    assert_non_null(strstr(problem->detail, "content hashes to sha256:"));
    assert_non_null(strstr(problem->detail, "4096 bytes"));
    fsck_report_clear(&report);

    /* Repair: quarantined, then its layer link is dangling and goes too. */
    run(fixture, 1, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 2);
    assert_true(only(&report, FSCK_CORRUPT_BLOB)->repaired);
    assert_non_null(strstr(only(&report, FSCK_CORRUPT_BLOB)->detail, "moved to "));
    assert_true(only(&report, FSCK_DANGLING_LINK)->repaired);
    fsck_report_clear(&report);
    assert_false(support_exists(data));

    char *kept = quarantined_file(fixture, &fixture->extra);
    size_t length;
    char *bytes = support_read(kept, &length);
    assert_int_equal(length, fixture->extra_length);
    assert_memory_equal(bytes, fixture->extra_bytes, length); /* bytes intact, flip included */
    free(bytes);
    free(kept);
    assert_sound(fixture);
}

static void test_truncated_blob(void **state)
{
    struct fixture *fixture = *state;
    char data[TREE_PATH_MAX];
    blob_data_path(fixture, &fixture->extra, data);
    assert_int_equal(truncate(data, 100), 0);
    struct fsck_report report;
    run(fixture, 0, &report);
    assert_non_null(strstr(only(&report, FSCK_CORRUPT_BLOB)->detail, "100 bytes"));
    fsck_report_clear(&report);

    run(fixture, 1, &report);
    assert_true(only(&report, FSCK_CORRUPT_BLOB)->repaired);
    assert_true(only(&report, FSCK_DANGLING_LINK)->repaired);
    fsck_report_clear(&report);
    char *kept = quarantined_file(fixture, &fixture->extra);
    size_t length;
    char *bytes = support_read(kept, &length);
    assert_int_equal(length, 100);
    assert_memory_equal(bytes, fixture->extra_bytes, 100);
    free(bytes);
    free(kept);
    assert_sound(fixture);
}

/* A corrupt layer of a tagged image: the blob and its link go, the manifest
 * that needs it is reported and never "repaired" (it can be pushed again). */
static void test_corrupt_layer_of_an_image(void **state)
{
    struct fixture *fixture = *state;
    char data[TREE_PATH_MAX];
    blob_data_path(fixture, &fixture->layer, data);
    support_write(data, "LAYER bytes, layer bytes, layer bytes", 37);

    struct fsck_report report;
    run(fixture, 1, &report);
    print_problems(&report);
    assert_true(only(&report, FSCK_CORRUPT_BLOB)->repaired);
    assert_true(only(&report, FSCK_DANGLING_LINK)->repaired);
    const struct fsck_problem *missing = only(&report, FSCK_MANIFEST_REFERENCE_MISSING);
    assert_false(missing->repaired);
    assert_non_null(strstr(missing->detail, fixture->layer.string));
    assert_non_null(strstr(missing->detail, "layer"));
    fsck_report_clear(&report);

    run(fixture, 1, &report);
    assert_int_equal(report.problem_count, 1);
    assert_false(only(&report, FSCK_MANIFEST_REFERENCE_MISSING)->repaired);
    fsck_report_clear(&report);

    /* Pushing the layer again makes the image whole. */
    const char layer[] = "layer bytes, layer bytes, layer bytes";
    put_blob(fixture, layer, sizeof layer - 1);
    link_layer(fixture, NAME, &fixture->layer);
    assert_sound(fixture);
}

static void test_missing_blob_data(void **state)
{
    struct fixture *fixture = *state;
    char data[TREE_PATH_MAX], directory[TREE_PATH_MAX];
    blob_data_path(fixture, &fixture->orphan, data);
    assert_int_equal(unlink(data), 0);
    const enum fsck_problem_kind kinds[] = {FSCK_MISSING_BLOB_DATA};
    check_repair_sound(fixture, kinds, 1);
    assert_int_equal(tree_path_blob_directory(&fixture->tree, &fixture->orphan, directory), 0);
    assert_false(support_exists(directory));
}

static void test_misplaced_blob(void **state)
{
    struct fixture *fixture = *state;
    char directory[TREE_PATH_MAX], blobs[TREE_PATH_MAX], moved[TREE_PATH_MAX];
    assert_int_equal(tree_path_blob_directory(&fixture->tree, &fixture->orphan, directory), 0);
    assert_int_equal(tree_path_blobs(&fixture->tree, blobs), 0);
    const char *hex = digest_hex(&fixture->orphan);
    char parent[TREE_PATH_MAX];
    support_path(parent, "%s/sha256/%s", blobs, hex[0] == '0' ? "11" : "00");
    support_mkdir(parent);
    support_path(moved, "%s/%s", parent, hex);
    assert_int_equal(rename(directory, moved), 0);
    struct fsck_report report;
    run(fixture, 0, &report);
    assert_non_null(strstr(only(&report, FSCK_CORRUPT_BLOB)->detail, "misplaced"));
    fsck_report_clear(&report);
    const enum fsck_problem_kind kinds[] = {FSCK_CORRUPT_BLOB};
    check_repair_sound(fixture, kinds, 1);
    assert_false(support_exists(moved));
}

/* --- links ---------------------------------------------------------------- */

static void test_link_to_missing_blob(void **state)
{
    struct fixture *fixture = *state;
    struct digest missing = support_digest("sha256:" HEX_A);
    link_layer(fixture, NAME, &missing);
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_layer_link(&fixture->tree, NAME, &missing, path), 0);
    struct fsck_report report;
    run(fixture, 0, &report);
    const struct fsck_problem *problem = only(&report, FSCK_DANGLING_LINK);
    assert_string_equal(problem->path, path);
    assert_non_null(strstr(problem->detail, missing.string));
    fsck_report_clear(&report);
    const enum fsck_problem_kind kinds[] = {FSCK_DANGLING_LINK};
    check_repair_sound(fixture, kinds, 1);
    assert_false(support_exists(path));
}

static void test_garbage_in_a_link(void **state)
{
    struct fixture *fixture = *state;
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_layer_link(&fixture->tree, NAME, &fixture->extra, path), 0);
    support_write_string(path, "sha256:not a digest\n");
    const enum fsck_problem_kind kinds[] = {FSCK_INVALID_LINK};
    check_repair_sound(fixture, kinds, 1);
    assert_false(support_exists(path));
    /* The blob itself is untouched: now an orphan. */
    struct fsck_report report;
    run(fixture, 0, &report);
    assert_int_equal(report.orphaned_blobs.count, 2);
    fsck_report_clear(&report);
}

static void test_link_content_differs_from_path(void **state)
{
    struct fixture *fixture = *state;
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_layer_link(&fixture->tree, NAME, &fixture->extra, path), 0);
    assert_int_equal(link_file_write(path, &fixture->orphan), 0);
    struct fsck_report report;
    run(fixture, 0, &report);
    assert_non_null(strstr(only(&report, FSCK_INVALID_LINK)->detail, "(its path)"));
    fsck_report_clear(&report);
    const enum fsck_problem_kind kinds[] = {FSCK_INVALID_LINK};
    check_repair_sound(fixture, kinds, 1);
}

static void test_newline_in_a_tag_link(void **state)
{
    struct fixture *fixture = *state;
    char path[TREE_PATH_MAX], directory[TREE_PATH_MAX], text[DIGEST_STRING_MAX + 2];
    assert_int_equal(tree_path_tag_current_link(&fixture->tree, NAME, "v1", path), 0);
    snprintf(text, sizeof text, "%s\n", fixture->manifest.string); /* Distribution-style damage */
    support_write_string(path, text);
    const enum fsck_problem_kind kinds[] = {FSCK_INVALID_LINK};
    check_repair_sound(fixture, kinds, 1);
    assert_int_equal(tree_path_tag_directory(&fixture->tree, NAME, "v1", directory), 0);
    assert_false(support_exists(directory));
    /* The revision stayed. */
    assert_int_equal(tree_path_revision_link(&fixture->tree, NAME, &fixture->manifest, path), 0);
    assert_true(support_exists(path));
}

static void test_tag_to_missing_revision(void **state)
{
    struct fixture *fixture = *state;
    /* The blob exists (a layer), but it is no revision of the repository. */
    link_tag(fixture, NAME, "broken", &fixture->extra);
    char directory[TREE_PATH_MAX];
    assert_int_equal(tree_path_tag_directory(&fixture->tree, NAME, "broken", directory), 0);
    struct fsck_report report;
    run(fixture, 0, &report);
    const struct fsck_problem *problem = only(&report, FSCK_TAG_WITHOUT_REVISION);
    assert_string_equal(problem->path, directory);
    assert_non_null(strstr(problem->detail, "not a revision"));
    fsck_report_clear(&report);
    const enum fsck_problem_kind kinds[] = {FSCK_TAG_WITHOUT_REVISION};
    check_repair_sound(fixture, kinds, 1);
    assert_false(support_exists(directory));
}

static void test_tag_without_current_link(void **state)
{
    struct fixture *fixture = *state;
    char path[TREE_PATH_MAX];
    assert_int_equal(
        tree_path_tag_index_link(&fixture->tree, NAME, "half", &fixture->manifest, path), 0);
    assert_int_equal(link_file_write(path, &fixture->manifest), 0);
    const enum fsck_problem_kind kinds[] = {FSCK_TAG_WITHOUT_REVISION};
    check_repair_sound(fixture, kinds, 1);
}

/* A revision whose blob is gone: the revision link and the tag on it go. */
static void test_revision_to_missing_blob(void **state)
{
    struct fixture *fixture = *state;
    char data[TREE_PATH_MAX], directory[TREE_PATH_MAX];
    blob_data_path(fixture, &fixture->manifest, data);
    assert_int_equal(tree_path_blob_directory(&fixture->tree, &fixture->manifest, directory), 0);
    assert_int_equal(unlink(data), 0);
    assert_int_equal(rmdir(directory), 0);
    struct fsck_report report;
    run(fixture, 0, &report);
    print_problems(&report);
    /* revision link and tag index entry dangle; the referrer's subject is gone
     * but a subject need not exist */
    assert_int_equal(fsck_report_count(&report, FSCK_DANGLING_LINK), 2);
    assert_int_equal(report.problem_count, 2);
    fsck_report_clear(&report);

    /* Repair: the revision link goes first, so the tag names no revision and
     * goes whole (its index entry with it). */
    run(fixture, 1, &report);
    print_problems(&report);
    assert_true(only(&report, FSCK_DANGLING_LINK)->repaired);
    assert_true(only(&report, FSCK_TAG_WITHOUT_REVISION)->repaired);
    assert_int_equal(report.problem_count, 2);
    assert_int_equal(fsck_report_repaired_count(&report), report.problem_count);
    fsck_report_clear(&report);
    assert_sound(fixture);
}

static void test_manifest_references_missing_layer(void **state)
{
    struct fixture *fixture = *state;
    struct digest missing = support_digest("sha256:" HEX_B);
    size_t size = 10;
    struct digest manifest = put_manifest(fixture, &fixture->config, 37, &missing, &size, 1, NULL);
    link_revision(fixture, NAME, &manifest);
    struct fsck_report report;
    run(fixture, 1, &report);
    const struct fsck_problem *problem = only(&report, FSCK_MANIFEST_REFERENCE_MISSING);
    assert_false(problem->repaired);
    assert_non_null(strstr(problem->detail, missing.string));
    assert_non_null(strstr(problem->detail, "not linked"));
    assert_int_equal(report.problem_count, 1);
    fsck_report_clear(&report);
    /* Never repaired: the revision link and its blob stay. */
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_revision_link(&fixture->tree, NAME, &manifest, path), 0);
    assert_true(support_exists(path));
    run(fixture, 0, &report);
    assert_int_equal(fsck_report_count(&report, FSCK_MANIFEST_REFERENCE_MISSING), 1);
    fsck_report_clear(&report);
}

/* Sizes are checked the same way with the filesystem store: a descriptor
 * that gives a blob of the tree another size (its bytes re-hashed sound). */
static void test_size_mismatch_in_the_tree(void **state)
{
    struct fixture *fixture = *state;
    size_t size = 99;
    struct digest manifest =
        put_manifest(fixture, &fixture->config, 37, &fixture->layer, &size, 1, NULL);
    link_revision(fixture, NAME, &manifest);
    struct fsck_report report;
    run(fixture, 1, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 1);
    const struct fsck_problem *problem = only(&report, FSCK_BLOB_SIZE_MISMATCH);
    assert_non_null(strstr(problem->detail, fixture->layer.string));
    assert_non_null(strstr(problem->detail, "99 bytes"));
    assert_non_null(strstr(problem->detail, "the fs store has 37 bytes"));
    assert_non_null(strstr(problem->detail, "the descriptor is wrong"));
    assert_false(problem->repaired);
    assert_false(report.remote.examined);
    fsck_report_clear(&report);
}

static void test_manifest_invalid(void **state)
{
    struct fixture *fixture = *state;
    struct digest not_a_manifest = put_blob(fixture, "{\"schemaVersion\":1}", 19);
    link_revision(fixture, NAME, &not_a_manifest);
    struct fsck_report report;
    run(fixture, 1, &report);
    assert_false(only(&report, FSCK_MANIFEST_INVALID)->repaired);
    assert_int_equal(report.problem_count, 1);
    fsck_report_clear(&report);
}

static void test_dangling_referrer(void **state)
{
    struct fixture *fixture = *state;
    struct digest gone = support_digest("sha256:" HEX_C);
    char path[TREE_PATH_MAX];
    write_link(tree_path_referrer_link(&fixture->tree, NAME, &fixture->manifest, &gone, path), path,
               &gone);
    const enum fsck_problem_kind kinds[] = {FSCK_DANGLING_LINK};
    check_repair_sound(fixture, kinds, 1);
    assert_false(support_exists(path));
    /* The sound referrer entry stayed. */
    assert_int_equal(
        tree_path_referrer_link(&fixture->tree, NAME, &fixture->manifest, &fixture->artifact, path),
        0);
    assert_true(support_exists(path));
}

/* A link that cannot be read is reported, never removed. */
static void test_unreadable_link_is_left_alone(void **state)
{
    struct fixture *fixture = *state;
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_layer_link(&fixture->tree, NAME, &fixture->extra, path), 0);
    assert_int_equal(unlink(path), 0);
    support_mkdir(path); /* "link" is a directory: read() fails with EISDIR */
    struct fsck_report report;
    run(fixture, 1, &report);
    const struct fsck_problem *problem = only(&report, FSCK_INVALID_LINK);
    assert_false(problem->repaired);
    assert_non_null(strstr(problem->detail, "cannot be read"));
    assert_int_equal(report.problem_count, 1);
    fsck_report_clear(&report);
    assert_true(support_exists(path));
}

/* A revision directory without link is how Distribution deletes: fine. */
static void test_revision_directory_without_link_is_fine(void **state)
{
    struct fixture *fixture = *state;
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_revision_link(&fixture->tree, NAME, &fixture->artifact, path), 0);
    assert_int_equal(unlink(path), 0);
    struct fsck_report report;
    run(fixture, 0, &report);
    print_problems(&report);
    /* ...but the referrer entry of that manifest now dangles */
    assert_int_equal(report.problem_count, 1);
    assert_int_equal(only(&report, FSCK_DANGLING_LINK)->repaired, 0);
    fsck_report_clear(&report);
}

/* --- temporary files and uploads ------------------------------------------ */

static void test_temporary_file(void **state)
{
    struct fixture *fixture = *state;
    char directory[TREE_PATH_MAX], path[TREE_PATH_MAX], blob[TREE_PATH_MAX];
    assert_int_equal(tree_path_layers_directory(&fixture->tree, NAME, directory), 0);
    support_path(path, "%s/.cairn-tmp-Ab12Cd", directory);
    support_write_string(path, "half a link");
    assert_int_equal(tree_path_blob_directory(&fixture->tree, &fixture->extra, directory), 0);
    support_path(blob, "%s/.cairn-tmp-zzzzzz", directory);
    support_write_string(blob, "half a blob");
    struct fsck_report report;
    run(fixture, 0, &report);
    assert_int_equal(fsck_report_count(&report, FSCK_TEMPORARY_FILE), 2);
    assert_int_equal(report.problem_count, 2);
    fsck_report_clear(&report);
    run(fixture, 1, &report);
    assert_int_equal(fsck_report_count(&report, FSCK_TEMPORARY_FILE), 2);
    assert_int_equal(fsck_report_repaired_count(&report), 2);
    fsck_report_clear(&report);
    assert_false(support_exists(path));
    assert_false(support_exists(blob));
    assert_sound(fixture);
}

/* A put killed after its temporary was written: a blob directory holding
 * only a temporary is repaired in one pass (temporary, then directory). */
static void test_blob_directory_holding_only_a_temporary(void **state)
{
    struct fixture *fixture = *state;
    char data[TREE_PATH_MAX], directory[TREE_PATH_MAX], temporary[TREE_PATH_MAX];
    blob_data_path(fixture, &fixture->orphan, data);
    assert_int_equal(unlink(data), 0);
    assert_int_equal(tree_path_blob_directory(&fixture->tree, &fixture->orphan, directory), 0);
    support_path(temporary, "%s/.cairn-tmp-Ab12Cd", directory);
    support_write_string(temporary, "half a blob");
    const enum fsck_problem_kind kinds[] = {FSCK_MISSING_BLOB_DATA, FSCK_TEMPORARY_FILE};
    check_repair_sound(fixture, kinds, 2);
    assert_false(support_exists(directory));
}

/* A hidden ('.') entry of a tags directory is what an interrupted atomic tag
 * change leaves: a temporary_file, removed whole in one pass. */
static void test_hidden_tag_entry(void **state)
{
    struct fixture *fixture = *state;
    char tags[TREE_PATH_MAX], hidden[TREE_PATH_MAX], path[TREE_PATH_MAX];
    assert_int_equal(tree_path_tags_directory(&fixture->tree, NAME, tags), 0);
    support_path(hidden, "%s/.v2.removing", tags);
    support_path(path, "%s/current/link", hidden);
    write_link(0, path, &fixture->manifest);
    const enum fsck_problem_kind kinds[] = {FSCK_TEMPORARY_FILE};
    check_repair_sound(fixture, kinds, 1);
    assert_false(support_exists(hidden));
}

/* One --repair pass: a check run after it finds only what the pass
 * reported and could not repair (kind and path), nothing new. */
static void assert_one_repair_pass(struct fixture *fixture)
{
    struct fsck_report repaired, after;
    run(fixture, 1, &repaired);
    print_problems(&repaired);
    run(fixture, 0, &after);
    print_problems(&after);
    for (size_t i = 0; i < after.problem_count; i++) {
        int reported = 0;
        for (size_t j = 0; j < repaired.problem_count && !reported; j++)
            reported = !repaired.problems[j].repaired &&
                       repaired.problems[j].kind == after.problems[i].kind &&
                       strcmp(repaired.problems[j].path, after.problems[i].path) == 0;
        if (!reported)
            print_message("new after the repair pass: %s %s\n",
                          fsck_problem_kind_name(after.problems[i].kind), after.problems[i].path);
        assert_true(reported);
    }
    fsck_report_clear(&repaired);
    fsck_report_clear(&after);
}

/* An index whose child's revision link the repair removes (its blob is
 * gone): the index is checked after every revision link, in the same pass,
 * whatever the order of their digests. */
static void test_index_of_a_removed_child_in_one_pass(void **state)
{
    struct fixture *fixture = *state;
    char body[1024], data[TREE_PATH_MAX];
    struct digest index;
    for (int seed = 0;; seed++) { /* an index sorted before its child */
        snprintf(body, sizeof body,
                 "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_INDEX
                 "\",\"manifests\":[{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST
                 "\",\"digest\":\"%s\",\"size\":1}],\"annotations\":{\"seed\":\"%d\"}}",
                 fixture->manifest.string, seed);
        assert_int_equal(digest_of_buffer(DIGEST_SHA256, body, strlen(body), &index), 0);
        if (strcmp(index.string, fixture->manifest.string) < 0)
            break;
    }
    assert_int_equal(put_blob(fixture, body, strlen(body)).algorithm, index.algorithm);
    link_revision(fixture, NAME, &index);
    blob_data_path(fixture, &fixture->manifest, data);
    assert_int_equal(unlink(data), 0);
    assert_one_repair_pass(fixture);
}

/* What a killed server leaves, all at once, goes in one pass. */
static void test_crash_debris_in_one_pass(void **state)
{
    struct fixture *fixture = *state;
    char path[TREE_PATH_MAX], directory[TREE_PATH_MAX];
    /* a blob directory holding only a temporary, an empty one */
    blob_data_path(fixture, &fixture->orphan, path);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(tree_path_blob_directory(&fixture->tree, &fixture->orphan, directory), 0);
    support_path(path, "%s/.cairn-tmp-Ab12Cd", directory);
    support_write_string(path, "half a blob");
    blob_data_path(fixture, &fixture->extra, path);
    assert_int_equal(unlink(path), 0);
    /* a tag whose first write was cut short, with its temporary */
    assert_int_equal(tree_path_tag_current_link(&fixture->tree, NAME, "half", path), 0);
    *strrchr(path, '/') = '\0';
    assert_int_equal(directory_create(path), 0);
    support_path(directory, "%s/.cairn-tmp-Zz99Yy", path);
    support_write_string(directory, "sha256:");
    assert_one_repair_pass(fixture);
    assert_sound(fixture);
}

static void make_upload(struct fixture *fixture, const char *id, const char *started_at)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_upload_data(&fixture->tree, NAME, id, path), 0);
    support_write_string(path, "partial upload");
    assert_int_equal(tree_path_upload_started_at(&fixture->tree, NAME, id, path), 0);
    support_write_string(path, started_at);
}

static void test_stale_upload(void **state)
{
    struct fixture *fixture = *state;
    char fresh[40], directory[TREE_PATH_MAX];
    tree_format_started_at((long long)time(NULL) - 3600, 0, fresh);
    make_upload(fixture, UPLOAD_ID, "2020-01-02T03:04:05Z");
    make_upload(fixture, "00000000-0000-4000-8000-00000000000b", fresh);
    struct fsck_report report;
    run(fixture, 0, &report);
    const struct fsck_problem *problem = only(&report, FSCK_STALE_UPLOAD);
    assert_int_equal(tree_path_upload_directory(&fixture->tree, NAME, UPLOAD_ID, directory), 0);
    assert_string_equal(problem->path, directory);
    assert_non_null(strstr(problem->detail, "14 bytes"));
    fsck_report_clear(&report);
    const enum fsck_problem_kind kinds[] = {FSCK_STALE_UPLOAD};
    check_repair_sound(fixture, kinds, 1);
    assert_false(support_exists(directory));
    assert_int_equal(tree_path_upload_directory(&fixture->tree, NAME,
                                                "00000000-0000-4000-8000-00000000000b", directory),
                     0);
    assert_true(support_exists(directory));
}

/* --- everything at once, and the JSON ------------------------------------- */

static void test_every_damage_and_json(void **state)
{
    struct fixture *fixture = *state;
    char path[TREE_PATH_MAX], directory[TREE_PATH_MAX];
    blob_data_path(fixture, &fixture->extra, path);
    assert_int_equal(truncate(path, 1), 0);
    struct digest missing = support_digest("sha256:" HEX_A);
    link_layer(fixture, NAME, &missing);
    link_tag(fixture, NAME, "broken", &fixture->extra);
    assert_int_equal(tree_path_layers_directory(&fixture->tree, NAME, directory), 0);
    support_path(path, "%s/.cairn-tmp-qwerty", directory);
    support_write_string(path, "x");
    make_upload(fixture, UPLOAD_ID, "2020-01-02T03:04:05Z");

    struct fsck_report report;
    run(fixture, 0, &report);
    char *text = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&text, &length);
    assert_non_null(stream);
    fsck_report_print_json(stream, &report);
    fclose(stream);
    fsck_report_clear(&report);

    json_error_t error;
    json_t *document = json_loads(text, 0, &error);
    assert_non_null(document);
    free(text);
    assert_true(json_is_false(json_object_get(document, "sound")));
    json_t *blobs = json_object_get(document, "blobs");
    assert_int_equal(json_integer_value(json_object_get(blobs, "verified")), 6);
    assert_true(json_integer_value(json_object_get(blobs, "bytes")) > 0);
    assert_true(json_is_number(json_object_get(blobs, "seconds")));
    assert_true(json_is_number(json_object_get(blobs, "bytes_per_second")));
    assert_true(json_is_integer(json_object_get(json_object_get(document, "links"), "checked")));
    json_t *problems = json_object_get(document, "problems");
    /* In the order of the steps: temporaries first. */
    const char *expected[] = {"temporary_file", "corrupt_blob", "dangling_link",
                              "tag_without_revision", "stale_upload"};
    assert_int_equal(json_array_size(problems), 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *problem = json_array_get(problems, i);
        assert_string_equal(json_string_value(json_object_get(problem, "kind")), expected[i]);
        assert_true(json_is_string(json_object_get(problem, "path")));
        assert_true(json_is_string(json_object_get(problem, "detail")));
        assert_true(json_is_false(json_object_get(problem, "repaired")));
    }
    json_t *orphans = json_object_get(document, "orphaned_blobs");
    assert_int_equal(json_array_size(orphans), 1);
    assert_string_equal(json_string_value(json_array_get(orphans, 0)), fixture->orphan.string);
    json_decref(document);

    run(fixture, 1, &report);
    print_problems(&report);
    assert_int_equal(fsck_report_repaired_count(&report), report.problem_count);
    fsck_report_clear(&report);
    assert_sound(fixture);
}

static void test_human_report(void **state)
{
    struct fixture *fixture = *state;
    struct digest missing = support_digest("sha256:" HEX_A);
    link_layer(fixture, NAME, &missing);
    struct fsck_report report;
    run(fixture, 1, &report);
    char *text = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&text, &length);
    fsck_report_print_human(stream, &report);
    fclose(stream);
    fsck_report_clear(&report);
    assert_non_null(strstr(text, "dangling_link "));
    assert_non_null(strstr(text, "  repaired\n"));
    assert_non_null(strstr(text, "blobs: 6 verified"));
    assert_non_null(strstr(text, "problems: 1 found, 1 repaired"));
    assert_non_null(strstr(text, "the tree has problems"));
    free(text);
}

/* A tree whose directory is not there is an error, not "sound". */
static void test_no_tree(void **state)
{
    (void)state;
    struct tree tree;
    struct blob_store *store;
    assert_int_equal(tree_open(&tree, "/nonexistent/cairn-fsck-test", 0), 0);
    assert_int_equal(blob_store_fs_create(&tree, &store), 0);
    struct fsck_options options = {.jobs = 1, .stale_upload_seconds = 1};
    struct fsck_report report;
    fsck_report_init(&report);
    assert_true(fsck_run(&tree, store, &options, &report) < 0);
    fsck_report_clear(&report);
    blob_store_destroy(store);
}

/* --- a remote store (the fake one above) --------------------------------- */

/* The report as text (`json`: the JSON document); free() it. */
static char *render(const struct fsck_report *report, int json)
{
    char *text = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&text, &length);
    assert_non_null(stream);
    if (json)
        fsck_report_print_json(stream, report);
    else
        fsck_report_print_human(stream, report);
    fclose(stream);
    return text;
}

/* How problems name a blob of the remote store: "fake-s3:sha256:...". */
static void remote_name(const struct digest *digest, char out[TREE_PATH_MAX])
{
    snprintf(out, TREE_PATH_MAX, "%s:%s", FAKE_REMOTE_NAME, digest->string);
}

static void reset_counters(struct fake_remote *fake)
{
    fake->heads = fake->gets = fake->deletes = fake->read_size_max = 0;
}

static void test_remote_sound_tree(void **state)
{
    struct fixture *fixture = *state;
    struct fake_remote *fake = fixture->remote;
    struct fsck_report report;
    run(fixture, 0, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 0);
    assert_int_equal(report.blobs_verified, 2); /* the manifests, in the tree */
    assert_true(report.remote.examined);
    assert_string_equal(report.remote.store, FAKE_REMOTE_NAME);
    assert_false(report.remote.deep);
    assert_int_equal(report.remote.listed, 4);
    assert_int_equal(report.remote.listed_bytes, 37 + 37 + 4096 + 15);
    assert_int_equal(report.remote.verified, 0);
    assert_int_equal(report.links_checked, 8);
    /* The orphan in the bucket is one too. */
    assert_int_equal(report.orphaned_blobs.count, 1);
    assert_string_equal(report.orphaned_blobs.items[0].string, fixture->orphan.string);
    /* Existence and sizes came from the listing: not one round trip per link. */
    assert_int_equal(fake->heads, 0);
    assert_int_equal(fake->gets, 0);

    char *text = render(&report, 0);
    assert_non_null(strstr(text, "remote blobs (" FAKE_REMOTE_NAME "): 4 listed"));
    assert_non_null(strstr(text, "--deep re-hashes them"));
    assert_non_null(strstr(text, "the tree is sound"));
    free(text);
    text = render(&report, 1);
    json_error_t error;
    json_t *document = json_loads(text, 0, &error);
    assert_non_null(document);
    free(text);
    json_t *remote = json_object_get(document, "remote");
    assert_string_equal(json_string_value(json_object_get(remote, "store")), FAKE_REMOTE_NAME);
    assert_int_equal(json_integer_value(json_object_get(remote, "listed")), 4);
    assert_true(json_is_false(json_object_get(remote, "deep")));
    assert_true(json_is_true(json_object_get(document, "sound")));
    json_decref(document);
    fsck_report_clear(&report);

    /* --deep reads every bucket blob, in large pieces, and finds them sound. */
    reset_counters(fake);
    run_deep(fixture, 0, 1, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 0);
    assert_true(report.remote.deep);
    assert_int_equal(report.remote.verified, 4);
    assert_int_equal(report.remote.verified_bytes, 37 + 37 + 4096 + 15);
    assert_int_equal(report.remote.served_locally, 0);
    assert_true(fake->gets >= 4);
    assert_int_equal(fake->read_size_max, FSCK_REMOTE_READ_SIZE);
    text = render(&report, 0);
    assert_non_null(strstr(text, "4 re-hashed"));
    free(text);
    fsck_report_clear(&report);

    run_deep(fixture, 1, 1, &report);
    assert_int_equal(report.problem_count, 0);
    fsck_report_clear(&report);
    assert_int_equal(fake->deletes, 0);
}

/* A referenced blob missing from the bucket: its layer link dangles (and
 * goes with --repair); the manifest that needs it is reported, never
 * repaired. */
static void test_remote_missing_blob(void **state)
{
    struct fixture *fixture = *state;
    struct fake_remote *fake = fixture->remote;
    assert_int_equal(blob_store_remove(fixture->store, &fixture->layer), 0);
    reset_counters(fake);
    char link[TREE_PATH_MAX];
    assert_int_equal(tree_path_layer_link(&fixture->tree, NAME, &fixture->layer, link), 0);

    struct fsck_report report;
    run(fixture, 0, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 2);
    const struct fsck_problem *dangling = only(&report, FSCK_DANGLING_LINK);
    assert_string_equal(dangling->path, link);
    assert_non_null(strstr(dangling->detail, fixture->layer.string));
    assert_false(dangling->repaired);
    const struct fsck_problem *missing = only(&report, FSCK_MANIFEST_REFERENCE_MISSING);
    assert_non_null(strstr(missing->detail, "is linked but its blob does not exist"));
    assert_int_equal(report.remote.listed, 3);
    /* Only what the listing lacks is asked about (a push since the listing?). */
    assert_true(fake->heads > 0);
    fsck_report_clear(&report);

    run(fixture, 1, &report);
    print_problems(&report);
    assert_true(only(&report, FSCK_DANGLING_LINK)->repaired);
    assert_false(only(&report, FSCK_MANIFEST_REFERENCE_MISSING)->repaired);
    fsck_report_clear(&report);
    assert_false(support_exists(link));
    assert_int_equal(fake->deletes, 0);

    run(fixture, 0, &report);
    assert_int_equal(report.problem_count, 1);
    assert_non_null(
        strstr(only(&report, FSCK_MANIFEST_REFERENCE_MISSING)->detail, "is not linked"));
    fsck_report_clear(&report);
}

/* A layer whose object in the bucket is shorter than its descriptor says:
 * blob_size_mismatch without --deep, corrupt_blob with it (once). */
static void test_remote_size_mismatch(void **state)
{
    struct fixture *fixture = *state;
    struct fake_remote *fake = fixture->remote;
    bucket_find(fake, &fixture->layer)->length = 10;
    char revision[TREE_PATH_MAX], name[TREE_PATH_MAX];
    assert_int_equal(tree_path_revision_link(&fixture->tree, NAME, &fixture->manifest, revision),
                     0);
    remote_name(&fixture->layer, name);

    struct fsck_report report;
    run(fixture, 1, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 1);
    const struct fsck_problem *problem = only(&report, FSCK_BLOB_SIZE_MISMATCH);
    assert_string_equal(problem->path, revision);
    assert_non_null(strstr(problem->detail, fixture->layer.string));
    assert_non_null(strstr(problem->detail, "37 bytes"));
    assert_non_null(strstr(problem->detail, "has 10 bytes"));
    assert_non_null(strstr(problem->detail, "--deep"));
    assert_false(problem->repaired);
    char *text = render(&report, 1);
    assert_non_null(strstr(text, "\"kind\":\"blob_size_mismatch\""));
    free(text);
    fsck_report_clear(&report);

    run_deep(fixture, 0, 1, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 1);
    problem = only(&report, FSCK_CORRUPT_BLOB);
    assert_string_equal(problem->path, name);
    assert_non_null(strstr(problem->detail, "content hashes to sha256:"));
    assert_non_null(strstr(problem->detail, "10 bytes"));
    fsck_report_clear(&report);
}

/* Same size, one bit flipped: only --deep can tell. */
static void test_remote_deep_finds_flipped_byte(void **state)
{
    struct fixture *fixture = *state;
    struct fake_remote *fake = fixture->remote;
    bucket_find(fake, &fixture->extra)->bytes[1000] ^= 0x01;
    char name[TREE_PATH_MAX];
    remote_name(&fixture->extra, name);

    struct fsck_report report;
    run(fixture, 0, &report);
    assert_int_equal(report.problem_count, 0);
    fsck_report_clear(&report);

    run_deep(fixture, 0, 1, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 1); /* its link is not "dangling" */
    const struct fsck_problem *problem = only(&report, FSCK_CORRUPT_BLOB);
    assert_string_equal(problem->path, name);
    assert_non_null(strstr(problem->detail, "content hashes to sha256:"));
    assert_non_null(strstr(problem->detail, "4096 bytes"));
    assert_false(problem->repaired);
    assert_int_equal(report.remote.verified, 4);
    /* A corrupt blob is no orphan; the orphan still is. */
    assert_int_equal(report.orphaned_blobs.count, 1);
    assert_string_equal(report.orphaned_blobs.items[0].string, fixture->orphan.string);
    fsck_report_clear(&report);
}

/* --repair reports corrupt bucket blobs and leaves them, and their links,
 * where they are: no quarantine in a bucket, no deletion. */
static void test_remote_repair_leaves_bucket_alone(void **state)
{
    struct fixture *fixture = *state;
    struct fake_remote *fake = fixture->remote;
    struct bucket_object *object = bucket_find(fake, &fixture->layer);
    object->bytes[0] ^= 0x20;
    unsigned char damaged[64];
    size_t length = object->length;
    memcpy(damaged, object->bytes, length);
    char link[TREE_PATH_MAX], quarantine[TREE_PATH_MAX];
    assert_int_equal(tree_path_layer_link(&fixture->tree, NAME, &fixture->layer, link), 0);
    assert_int_equal(tree_path_quarantine_directory(&fixture->tree, quarantine), 0);

    for (int round = 0; round < 2; round++) {
        struct fsck_report report;
        run_deep(fixture, 1, 1, &report);
        print_problems(&report);
        assert_int_equal(report.problem_count, 1);
        const struct fsck_problem *problem = only(&report, FSCK_CORRUPT_BLOB);
        assert_false(problem->repaired);
        assert_non_null(strstr(problem->detail, "not repaired"));
        assert_non_null(strstr(problem->detail, "no quarantine"));
        assert_int_equal(fsck_report_repaired_count(&report), 0);
        fsck_report_clear(&report);
    }
    assert_int_equal(fake->deletes, 0);
    object = bucket_find(fake, &fixture->layer);
    assert_non_null(object);
    assert_int_equal(object->length, length);
    assert_memory_equal(object->bytes, damaged, length);
    assert_true(support_exists(link));
    assert_false(support_exists(quarantine));
}

/* A bucket that cannot be read: every blob "cannot verify", none touched;
 * without --deep nothing is read at all. */
static void test_remote_unreadable_blobs(void **state)
{
    struct fixture *fixture = *state;
    struct fake_remote *fake = fixture->remote;
    fake->fail_reads = 1;
    struct fsck_report report;
    run(fixture, 1, &report);
    assert_int_equal(report.problem_count, 0);
    assert_int_equal(fake->gets, 0);
    fsck_report_clear(&report);

    run_deep(fixture, 1, 1, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 4);
    assert_int_equal(fsck_report_count(&report, FSCK_CORRUPT_BLOB), 4);
    for (size_t i = 0; i < report.problem_count; i++) {
        assert_non_null(strstr(report.problems[i].detail, "cannot verify"));
        assert_false(report.problems[i].repaired);
    }
    assert_int_equal(report.orphaned_blobs.count, 0);
    fsck_report_clear(&report);
    assert_int_equal(fake->deletes, 0);
}

/* A blob the listing missed (pushed after it) is asked about, and found. */
static void test_remote_blob_pushed_after_listing(void **state)
{
    struct fixture *fixture = *state;
    struct fake_remote *fake = fixture->remote;
    fake->unlisted = &fixture->layer;
    struct fsck_report report;
    run(fixture, 0, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 0);
    assert_int_equal(report.remote.listed, 3);
    assert_true(fake->heads > 0);
    fsck_report_clear(&report);
}

/* A blob listed, then removed before --deep reads it (cairn-gc): no problem,
 * and no orphan any more. */
static void test_remote_blob_removed_during_run(void **state)
{
    struct fixture *fixture = *state;
    fixture->remote->vanished = &fixture->orphan;
    struct fsck_report report;
    run_deep(fixture, 0, 1, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 0);
    assert_int_equal(report.remote.verified, 3);
    assert_int_equal(report.orphaned_blobs.count, 0);
    fsck_report_clear(&report);
}

/* A digest held by the tree and by the bucket is served from the tree: its
 * tree copy is what is verified, and it is counted once. */
static void test_remote_copy_in_the_tree(void **state)
{
    struct fixture *fixture = *state;
    const char layer[] = "layer bytes, layer bytes, layer bytes";
    assert_int_equal(blob_store_put(fixture->remote->local, &fixture->layer, layer, 37), 0);
    bucket_find(fixture->remote, &fixture->layer)->bytes[0] ^= 0x20; /* never served */
    struct fsck_report report;
    run_deep(fixture, 0, 1, &report);
    print_problems(&report);
    assert_int_equal(report.problem_count, 0);
    assert_int_equal(report.blobs_verified, 3);
    assert_int_equal(report.remote.listed, 4);
    assert_int_equal(report.remote.served_locally, 1);
    assert_int_equal(report.remote.verified, 3);
    assert_int_equal(report.orphaned_blobs.count, 1);
    fsck_report_clear(&report);
}

/* On the filesystem --deep changes nothing: everything is re-hashed anyway,
 * and the report has no remote part. */
static void test_deep_on_the_filesystem(void **state)
{
    struct fixture *fixture = *state;
    char data[TREE_PATH_MAX];
    blob_data_path(fixture, &fixture->extra, data);
    assert_int_equal(truncate(data, 100), 0);
    for (int deep = 0; deep < 2; deep++) {
        struct fsck_report report;
        run_deep(fixture, 0, deep, &report);
        assert_int_equal(report.problem_count, 1);
        assert_non_null(strstr(only(&report, FSCK_CORRUPT_BLOB)->detail, "100 bytes"));
        assert_int_equal(report.blobs_verified, 6);
        assert_false(report.remote.examined);
        char *text = render(&report, 1);
        assert_null(strstr(text, "remote"));
        free(text);
        text = render(&report, 0);
        assert_null(strstr(text, "remote"));
        free(text);
        fsck_report_clear(&report);
    }
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define REMOTE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_remote, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_sound_tree),
        FIXTURE_TEST(test_read_only_without_repair),
        FIXTURE_TEST(test_flipped_byte),
        FIXTURE_TEST(test_truncated_blob),
        FIXTURE_TEST(test_corrupt_layer_of_an_image),
        FIXTURE_TEST(test_missing_blob_data),
        FIXTURE_TEST(test_misplaced_blob),
        FIXTURE_TEST(test_link_to_missing_blob),
        FIXTURE_TEST(test_garbage_in_a_link),
        FIXTURE_TEST(test_link_content_differs_from_path),
        FIXTURE_TEST(test_newline_in_a_tag_link),
        FIXTURE_TEST(test_tag_to_missing_revision),
        FIXTURE_TEST(test_tag_without_current_link),
        FIXTURE_TEST(test_revision_to_missing_blob),
        FIXTURE_TEST(test_manifest_references_missing_layer),
        FIXTURE_TEST(test_size_mismatch_in_the_tree),
        FIXTURE_TEST(test_manifest_invalid),
        FIXTURE_TEST(test_dangling_referrer),
        FIXTURE_TEST(test_unreadable_link_is_left_alone),
        FIXTURE_TEST(test_revision_directory_without_link_is_fine),
        FIXTURE_TEST(test_temporary_file),
        FIXTURE_TEST(test_blob_directory_holding_only_a_temporary),
        FIXTURE_TEST(test_hidden_tag_entry),
        FIXTURE_TEST(test_index_of_a_removed_child_in_one_pass),
        FIXTURE_TEST(test_crash_debris_in_one_pass),
        FIXTURE_TEST(test_stale_upload),
        FIXTURE_TEST(test_every_damage_and_json),
        FIXTURE_TEST(test_human_report),
        cmocka_unit_test(test_no_tree),
        FIXTURE_TEST(test_deep_on_the_filesystem),
        REMOTE_TEST(test_remote_sound_tree),
        REMOTE_TEST(test_remote_missing_blob),
        REMOTE_TEST(test_remote_size_mismatch),
        REMOTE_TEST(test_remote_deep_finds_flipped_byte),
        REMOTE_TEST(test_remote_repair_leaves_bucket_alone),
        REMOTE_TEST(test_remote_unreadable_blobs),
        REMOTE_TEST(test_remote_blob_pushed_after_listing),
        REMOTE_TEST(test_remote_blob_removed_during_run),
        REMOTE_TEST(test_remote_copy_in_the_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

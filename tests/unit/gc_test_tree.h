/* Helpers of the cairn-gc unit tests (test_gc_mark.c, test_gc_sweep.c):
 * trees built with layout/ and drivers/ — blobs with blob_store_put, links
 * with link_file_write, manifests as real JSON — and ages set by hand. */
#ifndef CAIRN_GC_TEST_TREE_H
#define CAIRN_GC_TEST_TREE_H

#include "test_support.h"

#include <ftw.h>
#include <time.h>

#include "drivers/fs.h"
#include "layout/link_file.h"
#include "layout/manifest.h"
#include "layout/tree.h"
#include "layout/walk.h"

struct gc_fixture {
    char *root;
    struct tree tree;
    struct blob_store *store;
};

static inline void gc_fixture_open(struct gc_fixture *fixture)
{
    fixture->root = support_root_create();
    assert_int_equal(tree_open(&fixture->tree, fixture->root, 1), 0);
    assert_int_equal(blob_store_fs_create(&fixture->tree, &fixture->store), 0);
}

static inline void gc_fixture_close(struct gc_fixture *fixture)
{
    blob_store_destroy(fixture->store);
    support_root_remove(fixture->root);
}

/* A stored blob: its digest and size. */
struct gc_object {
    struct digest digest;
    int64_t size;
};

static inline struct gc_object gc_put(struct gc_fixture *fixture, const char *content)
{
    struct gc_object object;
    size_t length = strlen(content);
    assert_int_equal(digest_of_buffer(DIGEST_SHA256, content, length, &object.digest), 0);
    assert_int_equal(blob_store_put(fixture->store, &object.digest, content, length), 0);
    object.size = (int64_t)length;
    return object;
}

static inline void gc_link_layer(struct gc_fixture *fixture, const char *name,
                                 const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_layer_link(&fixture->tree, name, digest, path), 0);
    assert_int_equal(link_file_write(path, digest), 0);
}

/* A blob uploaded into `name`: stored and linked in its _layers. */
static inline struct gc_object gc_layer(struct gc_fixture *fixture, const char *name,
                                        const char *content)
{
    struct gc_object object = gc_put(fixture, content);
    gc_link_layer(fixture, name, &object.digest);
    return object;
}

static inline void gc_tag(struct gc_fixture *fixture, const char *name, const char *tag,
                          const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_tag_index_link(&fixture->tree, name, tag, digest, path), 0);
    assert_int_equal(link_file_write(path, digest), 0);
    assert_int_equal(tree_path_tag_current_link(&fixture->tree, name, tag, path), 0);
    assert_int_equal(link_file_write(path, digest), 0);
}

/* Stores manifest bytes as a revision of `name` (and a referrer entry when
 * `subject` is given, as cairn writes it; `referrer_entry` 0 imitates a tree
 * written by Distribution, which has none), tagged `tag` unless NULL. */
static inline struct gc_object gc_manifest_bytes(struct gc_fixture *fixture, const char *name,
                                                 const char *body, const char *tag,
                                                 const struct gc_object *subject,
                                                 int referrer_entry)
{
    struct gc_object manifest = gc_put(fixture, body);
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_revision_link(&fixture->tree, name, &manifest.digest, path), 0);
    assert_int_equal(link_file_write(path, &manifest.digest), 0);
    if (subject != NULL && referrer_entry) {
        assert_int_equal(
            tree_path_referrer_link(&fixture->tree, name, &subject->digest, &manifest.digest, path),
            0);
        assert_int_equal(link_file_write(path, &manifest.digest), 0);
    }
    if (tag != NULL)
        gc_tag(fixture, name, tag, &manifest.digest);
    return manifest;
}

static inline void gc_descriptor(char *out, size_t size, const char *media_type,
                                 const struct gc_object *object)
{
    int length = snprintf(out, size, "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld}",
                          media_type, object->digest.string, (long long)object->size);
    assert_true(length > 0 && (size_t)length < size);
}

/* An OCI image in `name`: a config and `layer_count` layers (uploaded into
 * `name` unless they are given), optionally a subject, optionally tagged. */
static inline struct gc_object gc_image(struct gc_fixture *fixture, const char *name,
                                        const char *seed, const struct gc_object *layers,
                                        size_t layer_count, const char *tag,
                                        const struct gc_object *subject)
{
    char text[256], body[8192], descriptor[512];
    snprintf(text, sizeof text, "{\"config\":\"%s\"}", seed);
    struct gc_object config = gc_layer(fixture, name, text);
    gc_descriptor(descriptor, sizeof descriptor, "application/vnd.oci.image.config.v1+json",
                  &config);
    int length = snprintf(body, sizeof body,
                          "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST
                          "\",\"config\":%s,\"layers\":[",
                          descriptor);
    for (size_t i = 0; i < layer_count; i++) {
        gc_descriptor(descriptor, sizeof descriptor, "application/vnd.oci.image.layer.v1.tar+gzip",
                      &layers[i]);
        length +=
            snprintf(body + length, sizeof body - (size_t)length, "%s%s", i ? "," : "", descriptor);
    }
    length += snprintf(body + length, sizeof body - (size_t)length, "]");
    if (subject != NULL) {
        gc_descriptor(descriptor, sizeof descriptor, MEDIA_TYPE_OCI_MANIFEST, subject);
        length +=
            snprintf(body + length, sizeof body - (size_t)length, ",\"subject\":%s", descriptor);
    }
    snprintf(body + length, sizeof body - (size_t)length, "}");
    return gc_manifest_bytes(fixture, name, body, tag, subject, 1);
}

/* An image with one fresh layer of its own, named after `seed`. */
static inline struct gc_object gc_simple_image(struct gc_fixture *fixture, const char *name,
                                               const char *seed, const char *tag,
                                               struct gc_object *layer_out)
{
    char text[256];
    snprintf(text, sizeof text, "layer of %s", seed);
    struct gc_object layer = gc_layer(fixture, name, text);
    if (layer_out != NULL)
        *layer_out = layer;
    return gc_image(fixture, name, seed, &layer, 1, tag, NULL);
}

/* An OCI index of `children` (already revisions of `name`). */
static inline struct gc_object gc_index(struct gc_fixture *fixture, const char *name,
                                        const struct gc_object *children, size_t child_count,
                                        const char *tag)
{
    char body[8192], descriptor[512];
    int length =
        snprintf(body, sizeof body,
                 "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_INDEX "\",\"manifests\":[");
    for (size_t i = 0; i < child_count; i++) {
        gc_descriptor(descriptor, sizeof descriptor, MEDIA_TYPE_OCI_MANIFEST, &children[i]);
        length +=
            snprintf(body + length, sizeof body - (size_t)length, "%s%s", i ? "," : "", descriptor);
    }
    snprintf(body + length, sizeof body - (size_t)length, "]}");
    return gc_manifest_bytes(fixture, name, body, tag, NULL, 1);
}

static inline void gc_blob_path(struct gc_fixture *fixture, const struct digest *digest,
                                char path[TREE_PATH_MAX])
{
    assert_int_equal(tree_path_blob_data(&fixture->tree, digest, path), 0);
}

static inline int gc_blob_exists(struct gc_fixture *fixture, const struct gc_object *object)
{
    char path[TREE_PATH_MAX];
    gc_blob_path(fixture, &object->digest, path);
    return support_exists(path);
}

static inline void gc_set_mtime(const char *path, long long seconds)
{
    struct timespec times[2] = {{.tv_sec = seconds}, {.tv_sec = seconds}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), 0);
}

static long long gc_age_target;

static inline int gc_age_visit(const char *path, const struct stat *status, int type,
                               struct FTW *ftw)
{
    (void)status;
    (void)ftw;
    if (type == FTW_F)
        gc_set_mtime(path, gc_age_target);
    return 0;
}

/* Makes every file of the fixture `seconds_ago` old. */
static inline void gc_age_everything(struct gc_fixture *fixture, long long seconds_ago)
{
    gc_age_target = (long long)time(NULL) - seconds_ago;
    assert_int_equal(nftw(fixture->root, gc_age_visit, 16, FTW_PHYS), 0);
}

#define GC_TWO_DAYS (2 * 24 * 3600LL)

#endif

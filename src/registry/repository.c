/* src/registry/repository.h */
#include "src/registry/repository.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/gc_lock.h"
#include "layout/link_file.h"
#include "layout/names.h"
#include "layout/tag_update.h"
#include "layout/walk.h"
#include "src/registry/link_cache.h"
#include "src/registry/registry_error.h"
#include "src/registry/stored_manifest.h"

int repository_exists(const struct tree *tree, const char *name)
{
    char path[TREE_PATH_MAX];
    struct stat status;
    if (tree_path_manifests_directory(tree, name, path) < 0)
        return 0;
    return stat(path, &status) == 0 && S_ISDIR(status.st_mode);
}

int repository_stat_blob(const struct tree *tree, struct blob_store *blobs, const char *name,
                         const struct digest *digest, struct blob_info *info)
{
    char path[TREE_PATH_MAX];
    struct digest target;
    int result = tree_path_layer_link(tree, name, digest, path);
    if (result < 0)
        return result;
    result = link_file_read(path, &target);
    if (result == -ENOENT || (result == 0 && !digest_equal(&target, digest)))
        return error_set(-REGISTRY_ERROR_BLOB_UNKNOWN, "blob %s unknown to repository %s",
                         digest->string, name);
    if (result < 0 || blobs == NULL)
        return result;
    result = blob_store_stat(blobs, digest, info);
    if (result == -ENOENT)
        return error_set(-REGISTRY_ERROR_BLOB_UNKNOWN, "blob %s unknown to registry",
                         digest->string);
    return result;
}

/* Writers hold the GC lock shared while they make blobs reachable (check,
 * freshen, link); cairn-gc's sweep holds it exclusive (layout/gc_lock.h). */
static int writer_lock(const struct tree *tree)
{
    int fd = gc_lock_thread_descriptor(tree);
    if (fd < 0)
        return -EIO;
    int result = gc_lock_acquire(fd, GC_LOCK_SHARED);
    return result < 0 ? result : fd;
}

int repository_writer_lock(const struct tree *tree)
{
    return writer_lock(tree);
}

void repository_writer_unlock(int fd)
{
    if (fd >= 0)
        gc_lock_release(fd);
}

/* Tag changes of one repository run one at a time in this process: a
 * manifest PUT by tag from its revision link to its tag link, a tag DELETE,
 * a manifest DELETE from its tag scan to its revision's removal. Otherwise a
 * DELETE of a manifest could scan the tags, a PUT tag it again, and the
 * DELETE remove the revision the new tag names. Repositories map onto a
 * fixed set of mutexes by a hash of their name (two repositories may share
 * one, which only serializes them). cairn-gc deletes manifests under the
 * exclusive GC lock, which excludes every PUT (they hold it shared). */
#define TAG_MUTEXES 64
static pthread_mutex_t tag_mutexes[TAG_MUTEXES];
static pthread_once_t tag_mutexes_once = PTHREAD_ONCE_INIT;

static void tag_mutexes_init(void)
{
    for (size_t i = 0; i < TAG_MUTEXES; i++)
        pthread_mutex_init(&tag_mutexes[i], NULL);
}

static pthread_mutex_t *tag_mutex_of(const char *name)
{
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)name; *c != '\0'; c++)
        hash = (hash ^ *c) * 16777619u;
    pthread_once(&tag_mutexes_once, tag_mutexes_init);
    return &tag_mutexes[hash % TAG_MUTEXES];
}

int repository_link_blob(const struct tree *tree, struct blob_store *blobs, const char *name,
                         const struct digest *digest)
{
    int lock = writer_lock(tree);
    if (lock < 0)
        return lock;
    int result = link_blob_locked(tree, blobs, name, digest);
    repository_writer_unlock(lock);
    return result;
}

int link_blob_locked(const struct tree *tree, struct blob_store *blobs, const char *name,
                     const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    int result = blob_store_freshen(blobs, digest);
    if (result == -ENOENT)
        return error_set(-REGISTRY_ERROR_BLOB_UNKNOWN, "blob %s unknown to registry",
                         digest->string);
    if (result < 0)
        return result;
    result = tree_path_layer_link(tree, name, digest, path);
    if (result < 0)
        return result;
    return link_file_write(path, digest);
}

int repository_unlink_blob(const struct tree *tree, const char *name, const struct digest *digest)
{
    char path[TREE_PATH_MAX], layers[TREE_PATH_MAX];
    int result = tree_path_layer_link(tree, name, digest, path);
    if (result < 0)
        return result;
    result = tree_path_layers_directory(tree, name, layers);
    if (result < 0)
        return result;
    result = link_file_exists(path);
    if (result < 0)
        return result;
    if (result == 0)
        return error_set(-REGISTRY_ERROR_BLOB_UNKNOWN, "blob %s unknown to repository %s",
                         digest->string, name);
    return link_file_remove(path, layers);
}

/* Why a manifest lookup failed: the repository is not there at all, or it
 * does not have this manifest. Only asked on the failure path. */
int repository_manifest_unknown(const struct tree *tree, const char *name, const char *reference)
{
    if (!repository_exists(tree, name))
        return error_set(-REGISTRY_ERROR_NAME_UNKNOWN, "repository %s not known to registry", name);
    if (reference == NULL) /* not validated: never quoted */
        return error_set(-REGISTRY_ERROR_MANIFEST_UNKNOWN,
                         "manifest unknown in %s: the reference is neither a tag nor a digest",
                         name);
    return error_set(-REGISTRY_ERROR_MANIFEST_UNKNOWN, "manifest %s unknown in %s", reference,
                     name);
}

int repository_resolve_manifest(const struct tree *tree, const char *name, const char *reference,
                                struct digest *digest_out, int *is_tag_out)
{
    char path[TREE_PATH_MAX];
    size_t length = strlen(reference);
    int is_tag = reference_kind(reference, length) == REFERENCE_TAG;
    int result;
    if (is_tag_out != NULL)
        *is_tag_out = is_tag;
    /* A reference no grammar accepts names no manifest: 404 as for any other
     * manifest that is not there (what clients and the OCI conformance suite
     * expect); only a PUT refuses it as malformed. */
    if (is_tag ? tag_validate(reference, length) < 0
               : digest_parse(reference, length, digest_out) < 0)
        return repository_manifest_unknown(tree, name, NULL);
    char tag_path[TREE_PATH_MAX];
    struct link_stamp tag_stamp;
    if (is_tag) {
        result = tree_path_tag_current_link(tree, name, reference, tag_path);
        if (result < 0)
            return result;
        /* The tag link changes on every push of the tag, by anyone: one
         * stat() tells the cache whether what it read last is still there.
         * A tag is kept only once its revision was found, below, and then
         * answered on that one stat() for up to a second: cairn writes a tag
         * after its revision and removes the tags naming a revision before
         * the revision (which the stat sees at once); Distribution on the
         * same tree removes the revision first, so for it the revision is
         * looked at again within LINK_CACHE_TRUST_MILLISECONDS. */
        result = link_cache_read(tag_path, digest_out, &tag_stamp);
        if (result == -ENOENT)
            return repository_manifest_unknown(tree, name, reference);
        if (result < 0)
            return result;
        if (result == 1)
            return 0;
    }
    result = tree_path_revision_link(tree, name, digest_out, path);
    if (result < 0)
        return result;
    result = link_file_exists(path);
    if (result < 0)
        return result;
    if (result == 0)
        return repository_manifest_unknown(tree, name, digest_out->string);
    if (is_tag)
        link_cache_keep(tag_path, &tag_stamp, digest_out);
    return 0;
}

int repository_read_manifest(struct blob_store *blobs, const struct digest *digest, char **body_out,
                             size_t *length_out, const char **media_type_out)
{
    int result = stored_manifest_read(blobs, digest, body_out, length_out, media_type_out);
    if (result == -ENOENT)
        return error_set(-REGISTRY_ERROR_MANIFEST_UNKNOWN, "manifest %s has no blob",
                         digest->string);
    return result == -EINVAL ? -EIO : result; /* the message says why */
}

static int write_manifest_locked(const struct tree *tree, struct blob_store *blobs,
                                 const char *name, const char *reference, int by_tag,
                                 const char *body, size_t length, const struct manifest *manifest,
                                 int check, struct manifest_put_result *put);

/* Every blob and child manifest must already be in the repository. */
static int check_references(const struct tree *tree, struct blob_store *blobs, const char *name,
                            const struct manifest *manifest)
{
    char path[TREE_PATH_MAX];
    for (size_t i = 0; i < manifest->reference_count; i++) {
        const struct manifest_reference *reference = &manifest->references[i];
        const struct descriptor *descriptor = &reference->descriptor;
        int result;
        if (reference->role == REFERENCE_MANIFEST) {
            result = tree_path_revision_link(tree, name, &descriptor->digest, path);
            if (result == 0)
                result = link_file_exists(path);
            if (result < 0)
                return result;
            if (result == 0)
                return error_set(-REGISTRY_ERROR_MANIFEST_BLOB_UNKNOWN,
                                 "child manifest %s unknown to repository %s",
                                 descriptor->digest.string, name);
            result = blob_store_freshen(blobs, &descriptor->digest);
            if (result < 0 && result != -ENOENT)
                return result;
            continue;
        }
        struct blob_info info;
        result = repository_stat_blob(tree, blobs, name, &descriptor->digest, &info);
        if (result == -REGISTRY_ERROR_BLOB_UNKNOWN) {
            if (descriptor->has_urls)
                continue; /* a foreign layer lives elsewhere */
            return error_set(-REGISTRY_ERROR_MANIFEST_BLOB_UNKNOWN,
                             "blob %s unknown to repository %s", descriptor->digest.string, name);
        }
        if (result < 0)
            return result;
        if (info.size != descriptor->size)
            return error_set(-REGISTRY_ERROR_MANIFEST_INVALID,
                             "blob %s has %lld bytes but the manifest says %lld",
                             descriptor->digest.string, (long long)info.size,
                             (long long)descriptor->size);
        result = blob_store_freshen(blobs, &descriptor->digest);
        if (result < 0 && result != -ENOENT)
            return result;
    }
    return 0;
}

static int put_manifest(const struct tree *tree, struct blob_store *blobs, const char *name,
                        const char *reference, const char *content_type, const char *body,
                        size_t length, int check, struct manifest_put_result *put)
{
    size_t reference_length = strlen(reference);
    int by_tag = reference_kind(reference, reference_length) == REFERENCE_TAG;
    struct digest expected;
    int result;

    memset(put, 0, sizeof *put);
    if (by_tag ? tag_validate(reference, reference_length) < 0
               : digest_parse(reference, reference_length, &expected) < 0)
        return by_tag ? -REGISTRY_ERROR_TAG_INVALID : -REGISTRY_ERROR_DIGEST_INVALID;
    if (length > MANIFEST_SIZE_MAX)
        return error_set(-REGISTRY_ERROR_TOO_LARGE, "manifest of %zu bytes exceeds %d", length,
                         MANIFEST_SIZE_MAX);
    result =
        digest_of_buffer(by_tag ? DIGEST_SHA256 : expected.algorithm, body, length, &put->digest);
    if (result < 0)
        return result;
    if (!by_tag && !digest_equal(&expected, &put->digest))
        return error_set(-REGISTRY_ERROR_DIGEST_INVALID, "manifest hashes to %s, not %s",
                         put->digest.string, expected.string);

    struct manifest manifest;
    if (manifest_parse(body, length, content_type, &manifest) < 0)
        return -REGISTRY_ERROR_MANIFEST_INVALID;
    int lock = writer_lock(tree);
    if (lock < 0) {
        manifest_release(&manifest);
        return lock;
    }
    result = write_manifest_locked(tree, blobs, name, reference, by_tag, body, length, &manifest,
                                   check, put);
    repository_writer_unlock(lock);
    manifest_release(&manifest);
    return result;
}

int repository_put_manifest(const struct tree *tree, struct blob_store *blobs, const char *name,
                            const char *reference, const char *content_type, const char *body,
                            size_t length, struct manifest_put_result *put)
{
    return put_manifest(tree, blobs, name, reference, content_type, body, length, 1, put);
}

int repository_put_mirrored_manifest(const struct tree *tree, struct blob_store *blobs,
                                     const char *name, const char *reference,
                                     const char *content_type, const char *body, size_t length,
                                     struct manifest_put_result *put)
{
    return put_manifest(tree, blobs, name, reference, content_type, body, length, 0, put);
}

/* The modification time of the link at `path` (seconds since the epoch):
 * 0, or a negative errno (-ENOENT when there is none), with no message set. */
static int link_modified_at(const char *path, long long *seconds_out)
{
    struct stat status;
    if (stat(path, &status) != 0)
        return errno == ENOTDIR ? -ENOENT : -errno;
    *seconds_out = (long long)status.st_mtim.tv_sec;
    return 0;
}

int repository_tag_checked_at(const struct tree *tree, const char *name, const char *tag,
                              long long *seconds_out)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_tag_current_link(tree, name, tag, path);
    if (result == 0 && (result = link_modified_at(path, seconds_out)) < 0)
        error_set(result, "tag %s of %s: %s", tag, name, strerror(-result));
    return result;
}

int repository_tag_mark_checked(const struct tree *tree, const char *name, const char *tag)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_tag_current_link(tree, name, tag, path);
    if (result < 0)
        return result;
    if (utimensat(AT_FDCWD, path, NULL, 0) != 0)
        return error_set(-errno, "cannot touch tag %s of %s: %s", tag, name, strerror(errno));
    return 0;
}

int repository_manifest_pulled_at(const struct tree *tree, const char *name,
                                  const struct digest *digest, long long *seconds_out)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_revision_link(tree, name, digest, path);
    if (result == 0 && (result = link_modified_at(path, seconds_out)) < 0)
        error_set(result, "manifest %s of %s: %s", digest->string, name, strerror(-result));
    return result;
}

int repository_manifest_note_pull(const struct tree *tree, const char *name,
                                  const struct digest *digest, long long now)
{
    char path[TREE_PATH_MAX];
    long long pulled = 0;
    int result = tree_path_revision_link(tree, name, digest, path);
    if (result == 0 && (result = link_modified_at(path, &pulled)) < 0)
        return error_set(result, "manifest %s of %s: %s", digest->string, name, strerror(-result));
    if (result < 0)
        return result;
    if (pulled <= now && now - pulled < REPOSITORY_PULL_RECORD_SECONDS)
        return 0;
    if (utimensat(AT_FDCWD, path, NULL, 0) != 0)
        return error_set(-errno, "cannot record a pull of %s in %s: %s", digest->string, name,
                         strerror(errno));
    return 1;
}

int repository_put_blob_file(const struct tree *tree, struct blob_store *blobs, const char *name,
                             const char *file_path, const struct digest *digest)
{
    int result = blob_store_prepare(blobs, file_path, digest);
    if (result < 0)
        return result;
    int lock = writer_lock(tree);
    if (lock < 0)
        return lock;
    result = blob_store_commit(blobs, file_path, digest);
    if (result == 0)
        result = link_blob_locked(tree, blobs, name, digest);
    repository_writer_unlock(lock);
    return result;
}

/* A new tag's staging directory is built on a thread of its own while the
 * manifest's blob and revision link are made durable: the two need several
 * fsyncs each and neither waits for the other; only the publication of the
 * tag must come after the revision (layout/tag_update.h). */
struct tag_preparation {
    const struct tree *tree;
    const char *name, *tag;
    struct digest digest;
    struct tag_staging staged;
    int result;
    char message[ERROR_MESSAGE_MAX];
};

static void *prepare_tag(void *argument)
{
    struct tag_preparation *preparation = argument;
    preparation->result = tag_update_prepare(preparation->tree, preparation->name, preparation->tag,
                                             &preparation->digest, &preparation->staged);
    if (preparation->result < 0)
        snprintf(preparation->message, sizeof preparation->message, "%s", error_message());
    return NULL;
}

/* Waits for the preparation (or, when no thread could be started, does it
 * now); 0 or its error, with its message. */
static int finish_tag_preparation(struct tag_preparation *preparation, pthread_t *thread)
{
    if (thread != NULL)
        pthread_join(*thread, NULL);
    else
        prepare_tag(preparation);
    if (preparation->result < 0)
        return error_set(preparation->result, "%s", preparation->message);
    return 0;
}

static int write_manifest_locked(const struct tree *tree, struct blob_store *blobs,
                                 const char *name, const char *reference, int by_tag,
                                 const char *body, size_t length, const struct manifest *manifest,
                                 int check, struct manifest_put_result *put)
{
    char path[TREE_PATH_MAX];
    int result = check ? check_references(tree, blobs, name, manifest) : 0;
    if (manifest->has_subject) {
        put->has_subject = 1;
        put->subject = manifest->subject.digest;
    }
    if (result < 0)
        return result;

    struct tag_preparation preparation = {
        .tree = tree, .name = name, .tag = reference, .digest = put->digest};
    pthread_t thread, *preparing = NULL;
    if (by_tag && pthread_create(&thread, NULL, prepare_tag, &preparation) == 0)
        preparing = &thread;

    result = blob_store_put(blobs, &put->digest, body, length);
    pthread_mutex_t *tag_mutex = by_tag && result == 0 ? tag_mutex_of(name) : NULL;
    if (tag_mutex != NULL)
        pthread_mutex_lock(tag_mutex);
    if (result == 0)
        result = tree_path_revision_link(tree, name, &put->digest, path);
    if (result == 0)
        result = link_file_write(path, &put->digest);
    if (result == 0 && put->has_subject) {
        result = tree_path_referrer_link(tree, name, &put->subject, &put->digest, path);
        if (result == 0)
            result = link_file_write(path, &put->digest);
    }
    /* The tag last, and whole (layout/tag_update.h). */
    if (by_tag) {
        if (result < 0) {
            /* A preparation under way is waited for and undone; none is
             * started just to be undone. */
            if (preparing != NULL) {
                char message[ERROR_MESSAGE_MAX];
                snprintf(message, sizeof message, "%s", error_message());
                pthread_join(thread, NULL);
                if (preparation.result == 0)
                    tag_update_abandon(&preparation.staged);
                error_set(result, "%s", message);
            }
        } else if ((result = finish_tag_preparation(&preparation, preparing)) == 0) {
            result = tag_update_publish(&preparation.staged);
        }
    }
    if (tag_mutex != NULL)
        pthread_mutex_unlock(tag_mutex);
    return result;
}

/* Under the repository's tag mutex. */
static int delete_tag_locked(const struct tree *tree, const char *name, const char *tag)
{
    int result = tag_update_remove(tree, name, tag);
    if (result == -ENOENT)
        return error_set(-REGISTRY_ERROR_MANIFEST_UNKNOWN, "tag %s unknown in %s", tag, name);
    return result;
}

/* What a crash left in the tags directory: staging directories untouched
 * for a while (cairn-gc deletes manifests from another process, so a
 * staging directory the server is using now must not look abandoned). */
#define TAG_STAGING_GRACE_SECONDS 60

static void remove_tag_staging_locked(const struct tree *tree, const char *name)
{
    (void)tag_update_remove_staging(tree, name, TAG_STAGING_GRACE_SECONDS, (long long)time(NULL));
}

int repository_delete_tag(const struct tree *tree, const char *name, const char *tag)
{
    pthread_mutex_t *tag_mutex = tag_mutex_of(name);
    pthread_mutex_lock(tag_mutex);
    int result = delete_tag_locked(tree, name, tag);
    if (result == 0)
        remove_tag_staging_locked(tree, name);
    pthread_mutex_unlock(tag_mutex);
    return result;
}

/* Removes a link (and its emptied parents short of `stop_at`) if it is there. */
static int remove_link_if_present(const char *path, const char *stop_at)
{
    int exists = link_file_exists(path);
    return exists <= 0 ? exists : link_file_remove(path, stop_at);
}

/* Step 1 of a deletion: the tags. Those whose `current` names the manifest
 * go whole (a tag must never point at a missing revision); the others lose
 * the index entry naming it. With `untagged_only` a tag naming it (or whose
 * link cannot be read) refuses the deletion before anything is removed. */
static int delete_tags_of(const struct tree *tree, const char *name, const struct digest *digest,
                          int untagged_only, struct string_list *deleted)
{
    struct string_list tags = {0};
    int result = walk_tags(tree, name, &tags);
    unsigned char *naming = result == 0 ? calloc(tags.count + 1, 1) : NULL;
    if (result == 0 && naming == NULL)
        result = error_set(-ENOMEM, "out of memory");
    for (size_t i = 0; result == 0 && i < tags.count; i++) {
        char tag_link[TREE_PATH_MAX];
        struct digest target;
        result = tree_path_tag_current_link(tree, name, tags.items[i], tag_link);
        if (result < 0)
            break;
        int read = link_file_read(tag_link, &target);
        naming[i] = read == 0 && digest_equal(&target, digest);
        if (untagged_only && (naming[i] || (read < 0 && read != -ENOENT)))
            result = error_set(-EBUSY, "manifest %s of %s is tagged (%s)", digest->string, name,
                               tags.items[i]);
    }
    for (size_t i = 0; result == 0 && i < tags.count; i++) {
        char link[TREE_PATH_MAX], tag_directory[TREE_PATH_MAX];
        if (naming[i]) {
            result = delete_tag_locked(tree, name, tags.items[i]);
            if (result == 0 && deleted != NULL && string_list_append(deleted, tags.items[i]) < 0)
                result = error_set(-ENOMEM, "out of memory");
            continue;
        }
        result = tree_path_tag_index_link(tree, name, tags.items[i], digest, link);
        if (result == 0)
            result = tree_path_tag_directory(tree, name, tags.items[i], tag_directory);
        if (result == 0)
            result = remove_link_if_present(link, tag_directory);
    }
    free(naming);
    string_list_clear(&tags);
    return result < 0 ? result : 0;
}

/* Step 2: its referrer entry, under its subject when the manifest says which
 * (or the caller knew), under any subject when the manifest cannot be read. */
static int delete_referrer_entry(const struct tree *tree, struct blob_store *blobs,
                                 const char *name, const struct digest *digest,
                                 const struct manifest_deletion *how)
{
    struct digest_list subjects = {0};
    int result = 0;
    if (how != NULL && how->subject_known) {
        if (how->has_subject)
            result = digest_list_append(&subjects, &how->subject);
    } else {
        struct manifest manifest;
        int read = stored_manifest_parse(blobs, digest, &manifest, NULL);
        if (read == 0) {
            if (manifest.has_subject)
                result = digest_list_append(&subjects, &manifest.subject.digest);
            manifest_release(&manifest);
        } else if (read == -ENOMEM) {
            result = read;
        } else {
            result = walk_referrer_subjects(tree, name, &subjects);
        }
    }
    if (result == -ENOMEM)
        result = error_set(-ENOMEM, "out of memory");
    char manifests[TREE_PATH_MAX];
    if (result == 0)
        result = tree_path_manifests_directory(tree, name, manifests);
    for (size_t i = 0; result == 0 && i < subjects.count; i++) {
        char path[TREE_PATH_MAX];
        result = tree_path_referrer_link(tree, name, &subjects.items[i], digest, path);
        if (result == 0)
            result = remove_link_if_present(path, manifests);
    }
    digest_list_clear(&subjects);
    return result < 0 ? result : 0;
}

int repository_delete_manifest_as(const struct tree *tree, struct blob_store *blobs,
                                  const char *name, const struct digest *digest,
                                  const struct manifest_deletion *how)
{
    char path[TREE_PATH_MAX], revisions[TREE_PATH_MAX];
    int result = tree_path_revision_link(tree, name, digest, path);
    if (result == 0)
        result = tree_path_revisions_directory(tree, name, revisions);
    if (result < 0)
        return result;

    /* Everything that names the revision first, the revision last: a
     * deletion cut short leaves a revision to delete again, never a tag or
     * a referrer entry naming a missing revision. Whether the revision
     * exists is asked under the mutex: of concurrent DELETEs of one
     * manifest, the ones after the first find it unknown (404). */
    pthread_mutex_t *tag_mutex = tag_mutex_of(name);
    pthread_mutex_lock(tag_mutex);
    result = link_file_exists(path);
    if (result == 0)
        result = error_set(-REGISTRY_ERROR_MANIFEST_UNKNOWN, "manifest %s unknown in %s",
                           digest->string, name);
    if (result > 0)
        result = delete_tags_of(tree, name, digest, how != NULL && how->untagged_only,
                                how != NULL ? how->deleted_tags : NULL);
    if (result == 0)
        result = delete_referrer_entry(tree, blobs, name, digest, how);
    if (result == 0)
        result = link_file_remove(path, revisions);
    if (result == 0)
        remove_tag_staging_locked(tree, name);
    pthread_mutex_unlock(tag_mutex);
    return result;
}

int repository_delete_manifest(const struct tree *tree, struct blob_store *blobs, const char *name,
                               const struct digest *digest)
{
    return repository_delete_manifest_as(tree, blobs, name, digest, NULL);
}

/* src/registry/mirror.h */
#include "src/registry/mirror.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/names.h"
#include "src/observe/access_log.h"
#include "src/registry/registry_error.h"
#include "src/registry/repository.h"

struct upstream *mirror_find(struct upstream *const *upstreams, size_t count, const char *name,
                             char *remote, size_t remote_size)
{
    struct upstream *everything = NULL;
    for (size_t i = 0; i < count; i++) {
        const struct upstream_settings *settings = upstream_settings_of(upstreams[i]);
        if (settings->prefix[0] == '\0') {
            everything = upstreams[i];
            continue;
        }
        if (upstream_remote_name(settings, name, remote, remote_size) == 1)
            return upstreams[i];
    }
    if (everything != NULL &&
        upstream_remote_name(upstream_settings_of(everything), name, remote, remote_size) == 1)
        return everything;
    return NULL;
}

static int is_tag(const char *reference)
{
    return reference_kind(reference, strlen(reference)) == REFERENCE_TAG;
}

int mirror_manifest_is_fresh(const struct tree *tree, const char *name, const char *reference,
                             uint64_t ttl_seconds)
{
    struct digest digest;
    if (repository_resolve_manifest(tree, name, reference, &digest, NULL) < 0)
        return 0;
    if (!is_tag(reference))
        return 1;
    long long checked = 0;
    if (repository_tag_checked_at(tree, name, reference, &checked) < 0)
        return 0;
    long long now = (long long)time(NULL);
    return now >= checked && (uint64_t)(now - checked) < ttl_seconds;
}

/* The upstream's failure as the client sees it when the tree has no copy. */
static int upstream_failure(int result, int manifest, const char *what)
{
    char reason[ERROR_MESSAGE_MAX];
    snprintf(reason, sizeof reason, "%s", error_message());
    if (result == -ENOENT)
        return error_set(manifest ? -REGISTRY_ERROR_MANIFEST_UNKNOWN : -REGISTRY_ERROR_BLOB_UNKNOWN,
                         "%s unknown upstream (%s)", what, reason);
    return error_set(-REGISTRY_ERROR_UNAVAILABLE, "the upstream failed for %s: %s", what, reason);
}

/* Verifies the fetched manifest and stores it under `reference`. */
static int store_manifest(const struct tree *tree, struct blob_store *blobs, const char *name,
                          const char *reference, const struct digest *expected,
                          const struct upstream_manifest *fetched, struct digest *digest_out)
{
    struct digest actual;
    enum digest_algorithm algorithm = expected != NULL ? expected->algorithm : DIGEST_SHA256;
    int result = digest_of_buffer(algorithm, fetched->body, fetched->length, &actual);
    if (result < 0)
        return result;
    if (expected != NULL && !digest_equal(&actual, expected))
        return error_set(-REGISTRY_ERROR_UNAVAILABLE,
                         "the upstream sent a manifest that hashes to %s for %s", actual.string,
                         expected->string);
    struct manifest_put_result put;
    result = repository_put_mirrored_manifest(tree, blobs, name, reference, fetched->media_type,
                                              fetched->body, fetched->length, &put);
    if (result < 0)
        return result;
    *digest_out = put.digest;
    return 0;
}

static int fill_by_digest(const struct tree *tree, struct blob_store *blobs,
                          struct upstream *upstream, const char *name, const char *remote,
                          const char *reference, struct digest *digest_out)
{
    struct digest wanted;
    if (digest_parse(reference, strlen(reference), &wanted) < 0)
        return repository_manifest_unknown(tree, name, NULL);
    if (repository_resolve_manifest(tree, name, reference, digest_out, NULL) == 0)
        return 0;
    struct upstream_manifest fetched;
    int result = upstream_fetch_manifest(upstream, remote, reference, 0, &fetched);
    if (result < 0)
        return upstream_failure(result, 1, reference);
    result = store_manifest(tree, blobs, name, reference, &wanted, &fetched, digest_out);
    upstream_manifest_release(&fetched);
    return result;
}

/* The tree's copy after the upstream failed: served, and said so. */
static int serve_stale(const char *name, const char *tag, const struct digest *local, int result,
                       struct digest *digest_out)
{
    (void)result;
    log_message(LOG_LEVEL_WARN, "mirror: serving the cached %s:%s (%s): %s", name, tag,
                local->string, error_message());
    *digest_out = *local;
    return 0;
}

static int fill_by_tag(const struct tree *tree, struct blob_store *blobs, struct upstream *upstream,
                       const char *name, const char *remote, const char *tag,
                       struct digest *digest_out)
{
    if (tag_validate(tag, strlen(tag)) < 0)
        return repository_manifest_unknown(tree, name, NULL);
    struct digest local;
    int have_local = repository_resolve_manifest(tree, name, tag, &local, NULL) == 0;
    struct upstream_manifest fetched;
    int result;
    if (have_local) {
        result = upstream_fetch_manifest(upstream, remote, tag, 1, &fetched);
        if (result < 0)
            return serve_stale(name, tag, &local, result, digest_out);
        int same = fetched.has_digest && digest_equal(&fetched.digest, &local);
        upstream_manifest_release(&fetched);
        if (same) {
            result = repository_tag_mark_checked(tree, name, tag);
            if (result < 0)
                log_message(LOG_LEVEL_WARN, "mirror: %s", error_message());
            *digest_out = local;
            return 0;
        }
    }
    result = upstream_fetch_manifest(upstream, remote, tag, 0, &fetched);
    if (result < 0)
        return have_local ? serve_stale(name, tag, &local, result, digest_out)
                          : upstream_failure(result, 1, tag);
    result = store_manifest(tree, blobs, name, tag, fetched.has_digest ? &fetched.digest : NULL,
                            &fetched, digest_out);
    upstream_manifest_release(&fetched);
    if (result < 0 && have_local)
        return serve_stale(name, tag, &local, result, digest_out);
    return result;
}

int mirror_fill_manifest(const struct tree *tree, struct blob_store *blobs,
                         struct upstream *upstream, const char *name, const char *remote,
                         const char *reference, struct digest *digest_out)
{
    if (is_tag(reference))
        return fill_by_tag(tree, blobs, upstream, name, remote, reference, digest_out);
    return fill_by_digest(tree, blobs, upstream, name, remote, reference, digest_out);
}

/* ---- blobs ---- */

struct blob_fill {
    int fd;
    struct digest_hasher hasher;
};

static int write_slice(void *context, const char *data, size_t length)
{
    struct blob_fill *fill = context;
    if (digest_hasher_update(&fill->hasher, data, length) < 0)
        return -EIO;
    while (length > 0) {
        ssize_t written = write(fill->fd, data, length);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return error_set(-errno, "cannot write a mirrored blob: %s", strerror(errno));
        data += written;
        length -= (size_t)written;
    }
    return 0;
}

int mirror_fill_blob(const struct tree *tree, struct blob_store *blobs, struct upstream *upstream,
                     const char *name, const char *remote, const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_scratch_directory(tree, path);
    if (result < 0)
        return result;
    size_t used = strlen(path);
    if (used + 32 >= sizeof path)
        return error_set(-ENAMETOOLONG, "scratch directory path too long");
    if ((result = directory_create(path)) < 0)
        return result;
    strcat(path, "/mirror-blob.XXXXXX");
    struct blob_fill fill = {.fd = mkstemp(path)};
    if (fill.fd < 0)
        return error_set(-errno, "cannot create a scratch file in %s: %s", path, strerror(errno));
    result = digest_hasher_init(&fill.hasher, digest->algorithm);
    if (result < 0) {
        close(fill.fd);
        unlink(path);
        return result;
    }
    result = upstream_fetch_blob(upstream, remote, digest, write_slice, &fill);
    struct digest actual;
    if (result < 0) {
        digest_hasher_release(&fill.hasher);
        result = upstream_failure(result, 0, digest->string);
    } else if ((result = digest_hasher_finish(&fill.hasher, &actual)) == 0 &&
               !digest_equal(&actual, digest)) {
        result = error_set(-REGISTRY_ERROR_UNAVAILABLE,
                           "the upstream sent bytes that hash to %s for blob %s; nothing kept",
                           actual.string, digest->string);
        log_message(LOG_LEVEL_WARN, "mirror: %s: %s", name, error_message());
    }
    if (result == 0 && fdatasync(fill.fd) != 0)
        result = error_set(-errno, "cannot sync a mirrored blob: %s", strerror(errno));
    close(fill.fd);
    if (result == 0)
        result = repository_put_blob_file(tree, blobs, name, path, digest);
    unlink(path); /* gone already when the store took it */
    return result;
}

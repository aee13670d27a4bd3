/*
 * src/registry/repository.h — what a push, a pull or a delete does to one repository
 * in the tree, in the order that keeps it consistent. No HTTP here: the
 * handlers call these from worker threads (writes) or the loop (reads).
 *
 * Write ordering (DESIGN.md): blob bytes before any link to them; a layer or
 * revision link before a tag link; every step durable (fsynced) before the
 * function returns 0, so a handler may answer 201/202 as soon as it does.
 * Re-using an existing blob (a manifest referencing it, a mount, a commit of
 * a digest already stored) freshens its mtime, which protects it from an
 * online GC's grace period.
 *
 * Failures return -REGISTRY_ERROR_* for API errors and a negative errno for
 * system errors, with error_message() set.
 */
#ifndef CAIRN_SRC_REGISTRY_REPOSITORY_H
#define CAIRN_SRC_REGISTRY_REPOSITORY_H

#include <stddef.h>
#include "drivers/blob_store.h"
#include "layout/digest.h"
#include "layout/manifest.h"
#include "layout/tree.h"

struct string_list;

/* 1 when <name> is a repository (has _manifests, as the catalog counts), 0 if not. */
int repository_exists(const struct tree *tree, const char *name);

/* 0 when <name> links `digest` and the blob exists (its info in `info`),
 * -REGISTRY_ERROR_BLOB_UNKNOWN otherwise. With `blobs` NULL only the link is
 * checked (`info` is left alone): what an event loop may do when the store is
 * remote. */
int repository_stat_blob(const struct tree *tree, struct blob_store *blobs, const char *name,
                         const struct digest *digest, struct blob_info *info);
/* Links an existing blob into <name> (a mount); freshens the blob. Takes
 * the GC lock shared; link_blob_locked() is the same for a caller that
 * already holds it. */
int repository_link_blob(const struct tree *tree, struct blob_store *blobs, const char *name,
                         const struct digest *digest);
int link_blob_locked(const struct tree *tree, struct blob_store *blobs, const char *name,
                     const struct digest *digest);

/* The GC lock, shared, on this thread's descriptor (layout/gc_lock.h):
 * returns the descriptor to pass to repository_writer_unlock(), or a
 * negative errno. Held by every write that makes a blob reachable. */
int repository_writer_lock(const struct tree *tree);
void repository_writer_unlock(int fd);
/* Removes <name>'s layer link (the blob stays for the GC). */
int repository_unlink_blob(const struct tree *tree, const char *name, const struct digest *digest);

/* Resolves a manifest reference (a tag or a digest string) to a digest that
 * has a revision link: -REGISTRY_ERROR_MANIFEST_UNKNOWN otherwise, also for a
 * reference that is neither a valid tag nor a valid digest (it cannot name
 * a manifest), -REGISTRY_ERROR_NAME_UNKNOWN when the repository does not
 * exist. `is_tag_out` (may be NULL) receives 1 when the reference has no ':'.
 * repository_manifest_unknown() gives these answers (NAME_UNKNOWN or
 * MANIFEST_UNKNOWN) for `reference`, a valid tag or digest, or NULL for one
 * that is not valid (never quoted in the message): also for a reference the
 * caller could not even hold (longer than any grammar allows). */
int repository_resolve_manifest(const struct tree *tree, const char *name, const char *reference,
                                struct digest *digest_out, int *is_tag_out);
int repository_manifest_unknown(const struct tree *tree, const char *name, const char *reference);

/* Reads a manifest's bytes (malloc'd) and its media type. */
int repository_read_manifest(struct blob_store *blobs, const struct digest *digest, char **body_out,
                             size_t *length_out, const char **media_type_out);

struct manifest_put_result {
    struct digest digest;
    int has_subject;
    struct digest subject;
};

/* Verifies and stores a manifest: parses it strictly, checks the reference
 * (a tag, or a digest the body must hash to), checks that every referenced
 * blob and child manifest is in <name>, then writes blob, revision link,
 * referrer link and tag links, durably and in that order. */
int repository_put_manifest(const struct tree *tree, struct blob_store *blobs, const char *name,
                            const char *reference, const char *content_type, const char *body,
                            size_t length, struct manifest_put_result *result);

/* The same for a manifest fetched from a mirror's upstream
 * (src/registry/mirror.h), which the caller verified: the blobs and child
 * manifests it references are not checked (they are fetched when a client
 * asks for them), everything else is as above. */
int repository_put_mirrored_manifest(const struct tree *tree, struct blob_store *blobs,
                                     const char *name, const char *reference,
                                     const char *content_type, const char *body, size_t length,
                                     struct manifest_put_result *result);

/* When the tag was last written or confirmed by a mirror's upstream: the
 * modification time of its current link (seconds since the epoch). A PUT
 * of the tag writes a new link (now); repository_tag_mark_checked() sets it
 * to now without changing the link. -ENOENT when there is no such tag. */
int repository_tag_checked_at(const struct tree *tree, const char *name, const char *tag,
                              long long *seconds_out);
int repository_tag_mark_checked(const struct tree *tree, const char *name, const char *tag);

/* When the manifest `digest` of a mirrored repository was last pulled: the
 * modification time of its revision link (written when the mirror stored
 * it; repository_manifest_note_pull() moves it to `now`). cairn-gc evicts
 * what was not pulled for the mirror's evict_after (docs/mirror.md).
 * -ENOENT when the repository has no such revision. */
int repository_manifest_pulled_at(const struct tree *tree, const char *name,
                                  const struct digest *digest, long long *seconds_out);
/* A pull is recorded at most once per REPOSITORY_PULL_RECORD_SECONDS of a
 * manifest (one stat() per pull, a utimensat() a minute): eviction counts
 * in days. 1 recorded, 0 recent enough already, <0 (-ENOENT: no revision;
 * a read-only tree fails with -EROFS, which a server may ignore). */
#define REPOSITORY_PULL_RECORD_SECONDS 60
int repository_manifest_note_pull(const struct tree *tree, const char *name,
                                  const struct digest *digest, long long now);

/* Commits the file at `file_path` (on the tree's file system, fsynced, its
 * bytes verified by the caller to hash to `digest`) into the store and links
 * it into <name>, under the GC lock: what a mirror's blob fill ends with.
 * The file is gone afterwards when the store took it (fs); the caller
 * removes it otherwise. */
int repository_put_blob_file(const struct tree *tree, struct blob_store *blobs, const char *name,
                             const char *file_path, const struct digest *digest);

/* Deletes the manifest `digest` from <name> (DELETE /v2/<name>/manifests/<digest>):
 * -REGISTRY_ERROR_MANIFEST_UNKNOWN if it has no revision link. One order of
 * removals, each durable before the next:
 *   1. every tag whose `current` names it (the whole tag directory), and the
 *      entries naming it in the other tags' index/ (their history);
 *   2. its referrer entry (under the subject its manifest names; under every
 *      subject when the stored manifest cannot be read);
 *   3. its revision link, last: a deletion cut short leaves a revision to
 *      delete again, never a tag or a referrer entry naming a missing one.
 * The blob itself stays (cairn-gc deletes it). */
int repository_delete_manifest(const struct tree *tree, struct blob_store *blobs, const char *name,
                               const struct digest *digest);

/* The same deletion with the rules of another caller (NULL: the server's). */
struct manifest_deletion {
    /* cairn-gc deleting an untagged manifest: a tag whose `current` names it
     * (or cannot be read) fails the call with -EBUSY before anything is
     * removed; no tag is ever deleted. */
    int untagged_only;
    /* The caller has read the manifest already: whether it has a subject,
     * and which (saves reading the blob again). */
    int subject_known;
    int has_subject;
    struct digest subject;
    /* Not NULL: the tags deleted with it (those whose `current` named it)
     * are appended, for the server's events. */
    struct string_list *deleted_tags;
};
int repository_delete_manifest_as(const struct tree *tree, struct blob_store *blobs,
                                  const char *name, const struct digest *digest,
                                  const struct manifest_deletion *how);
/* Deletes one tag (its whole directory). */
int repository_delete_tag(const struct tree *tree, const char *name, const char *tag);

#endif

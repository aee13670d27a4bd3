/*
 * src/registry/stored_manifest.h — reading a manifest back from the blob
 * store: the one reader the server (GET, DELETE, referrers) and the tools
 * (cairn-gc's mark) share, so that they agree on what a stored manifest is.
 *
 * A manifest is stored as a blob under its digest (layout/manifest.h parses
 * it). These functions only read: whether a repository has the manifest (its
 * revision link) is src/registry/repository.h's business.
 *
 *     struct manifest manifest;
 *     int result = stored_manifest_parse(blobs, &digest, &manifest, NULL);
 *     if (result == 0) { ...; manifest_release(&manifest); }
 *     else if (result == -ENOENT) ...   // no blob
 *     else if (stored_manifest_unparseable(result)) ...   // too big or not a manifest
 *
 * Return values: 0; -ENOENT when the store has no blob for the digest;
 * -EFBIG when the blob is larger than MANIFEST_SIZE_MAX; -EINVAL when its
 * bytes are not a manifest cairn knows; -ENOMEM; another negative errno when
 * the store failed (-EIO, ...). error_message() is set on every failure.
 */
#ifndef CAIRN_SRC_REGISTRY_STORED_MANIFEST_H
#define CAIRN_SRC_REGISTRY_STORED_MANIFEST_H

#include <stddef.h>
#include "drivers/blob_store.h"
#include "layout/digest.h"
#include "layout/manifest.h"

/* The stored bytes (malloc'd, the caller frees them) and the media type to
 * serve them with (a MEDIA_TYPE_* constant). */
int stored_manifest_read(struct blob_store *blobs, const struct digest *digest, char **body_out,
                         size_t *length_out, const char **media_type_out);

/* Reads and parses the stored manifest into `manifest` (released by the
 * caller with manifest_release() when 0 is returned). `length_out`, when not
 * NULL, receives the size of the stored bytes. */
int stored_manifest_parse(struct blob_store *blobs, const struct digest *digest,
                          struct manifest *manifest, size_t *length_out);

/* Whether a failure of the functions above means the stored bytes are not a
 * readable manifest (too big or unparseable) rather than absent or unread. */
int stored_manifest_unparseable(int result);

#endif

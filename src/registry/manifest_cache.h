/*
 * src/registry/manifest_cache.h — the bytes and media type of recently served
 * manifests, kept per event-loop thread.
 *
 * A manifest is stored under its digest, so its bytes never change: a cached
 * entry cannot be wrong, only absent. The cache saves the open, read and
 * JSON parse of the blob on every GET; it never answers whether a manifest
 * exists — callers resolve the tag and check the revision link in the tree
 * first, so a deleted manifest is never served from here.
 *
 * Bounded: MANIFEST_CACHE_SLOTS direct-mapped slots per thread, entries of
 * at most MANIFEST_CACHE_ENTRY_MAX bytes (larger manifests are read each
 * time). No locks: each thread has its own.
 *
 *     const char *body, *media_type; size_t length;
 *     if (!manifest_cache_lookup(&digest, &body, &length, &media_type)) {
 *         ...read it...; manifest_cache_store(&digest, body, length, media_type);
 *     }
 */
#ifndef CAIRN_SRC_REGISTRY_MANIFEST_CACHE_H
#define CAIRN_SRC_REGISTRY_MANIFEST_CACHE_H

#include <stddef.h>
#include "layout/digest.h"

#define MANIFEST_CACHE_SLOTS 256
#define MANIFEST_CACHE_ENTRY_MAX (16 * 1024)

/* 1 and the entry (valid until this thread's next store) when cached. */
int manifest_cache_lookup(const struct digest *digest, const char **body_out, size_t *length_out,
                          const char **media_type_out);
void manifest_cache_store(const struct digest *digest, const char *body, size_t length,
                          const char *media_type);

#endif

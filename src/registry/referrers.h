/*
 * src/registry/referrers.h — the referrers of a manifest (signatures, SBOMs,
 * attestations: manifests whose `subject` names it), as the OCI image index
 * the Referrers API serves.
 *
 * A manifest PUT with a subject writes a referrer link
 * (_manifests/referrers/<subject>/<referrer>, layout/tree.h); a deleted
 * revision loses it (repository.h). The index lists the referrers still
 * present as revisions whose stored manifest can be read, each as a
 * descriptor with its mediaType, digest, size, artifactType and annotations.
 * The index is a document of the OCI spec, not of HTTP: the server sends it,
 * and a pull-through cache or the web view may store or show the same one.
 *
 *     json_t *index;
 *     if (referrers_index(&tree, blobs, name, &subject, NULL, &index) == 0) {
 *         char *body = json_dumps(index, JSON_COMPACT); ...
 *         json_decref(index);
 *     }
 */
#ifndef CAIRN_SRC_REGISTRY_REFERRERS_H
#define CAIRN_SRC_REGISTRY_REFERRERS_H

#include <jansson.h>
#include "drivers/blob_store.h"
#include "layout/digest.h"
#include "layout/tree.h"

/* Builds the referrers index of `subject` in <name> (a new reference in
 * `*index_out`), keeping only referrers of `artifact_type` unless it is
 * NULL. -REGISTRY_ERROR_NAME_UNKNOWN when <name> is not a repository. */
int referrers_index(const struct tree *tree, struct blob_store *blobs, const char *name,
                    const struct digest *subject, const char *artifact_type, json_t **index_out);

#endif

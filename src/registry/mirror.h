/*
 * src/registry/mirror.h — a pull-through mirror: repositories whose misses
 * are filled from an upstream registry (drivers/upstream.h) into the tree,
 * as ordinary content (docs/mirror.md).
 *
 * A repository is mirrored when its name is under a configured prefix
 * (cairn.mirrors[].prefix; Distribution's proxy: has the prefix "", every
 * name). What is in the tree is served as for any repository; this module
 * decides when the upstream is asked, and writes what it answers through
 * the registry's own operations (repository.h), verified first:
 *
 *  - a manifest by digest, once in the tree, is never asked for again
 *    (content is immutable);
 *  - a tag is served from the tree while its current link is younger than
 *    the mirror's ttl. The link's modification time is "last checked": a
 *    fill writes a new link, and a check that finds the same digest upstream
 *    touches it (repository_tag_mark_checked). It is in the tree, so it
 *    survives restarts and is shared by every server on the tree;
 *  - after the ttl, one HEAD upstream: the same digest touches the link; a
 *    different one fetches the manifest (GET by tag) and stores it as a new
 *    revision and tag;
 *  - a manifest fetched is verified before anything is written: its bytes
 *    must hash to the digest asked for (by digest) and to the
 *    Docker-Content-Digest the upstream sent (by tag, when it sent one);
 *  - when the upstream cannot be asked (down, refusing, answering 404 or
 *    nonsense) and the tree has the tag, the tree's copy is served and a
 *    warning logged;
 *  - a blob missing from the repository is fetched into a scratch file
 *    (R/.cairn-tmp), hashed while written, and committed and linked only if
 *    its digest verifies; bytes that do not are deleted. Once more than
 *    MIRROR_STREAM_START_BYTES (1 MiB) of a larger blob of announced size
 *    came, the fill can be followed: the callers that asked to
 *    (`struct mirror_blob_follower`: the client of the fill and every client
 *    that joins it) get a reader of the growing scratch file whose reads
 *    wait for the upstream's bytes (taking all that came) and
 *    give the blob's last byte only after the whole blob hashed to its
 *    digest (not waiting for it to be synced and linked), and fail (-EIO)
 *    when it did not: a client's
 *    response then ends cut, never complete with bytes of another digest.
 *    A smaller blob is answered once stored, as a fill that is not
 *    followed (a HEAD) is. A transfer cut in
 *    the middle is resumed with Range (drivers/upstream.h): a 206 appends; a
 *    200 starts the hash over, and its bytes that the file already has are
 *    compared with them instead of written again (an upstream that sends
 *    other bytes the second time fails the fill);
 *  - a blob the store already has (for another repository) is linked after
 *    one HEAD upstream confirms this repository has it (same size), not
 *    fetched again;
 *  - one fetch per missing object in this process: a fill of a manifest
 *    (name and reference) or blob (name and digest) that another thread is
 *    making waits for it and takes its result (or, for a blob, follows it
 *    as soon as it can be followed); a fill that starts after another landed
 *    finds the tree filled and asks nothing.
 *
 * Everything but mirror_find() and mirror_manifest_is_fresh() waits on the
 * network: worker threads only.
 *
 *     char remote[UPSTREAM_NAME_MAX];
 *     struct upstream *upstream = mirror_find(upstreams, count, name, remote, sizeof remote);
 *     if (upstream != NULL && !mirror_manifest_is_fresh(tree, name, reference, ttl))
 *         ... on a worker: mirror_fill_manifest(tree, blobs, upstream, name, remote,
 *                                               reference, &digest), then read it as usual
 */
#ifndef CAIRN_SRC_REGISTRY_MIRROR_H
#define CAIRN_SRC_REGISTRY_MIRROR_H

#include <stddef.h>
#include <stdint.h>

#include "drivers/blob_store.h"
#include "drivers/upstream.h"
#include "layout/digest.h"
#include "layout/tree.h"
#include "src/observe/metrics.h"

/* The upstream that mirrors repository `name` (a prefix match wins over
 * proxy's ""), with the upstream's name for it in `remote`; NULL when
 * `name` is an ordinary local repository. */
struct upstream *mirror_find(struct upstream *const *upstreams, size_t count, const char *name,
                             char *remote, size_t remote_size);

/* The same rule over the configuration's mirrors (cairn-gc, which makes
 * no upstream clients): the settings that hold `name`, or NULL. */
const struct upstream_settings *mirror_find_settings(const struct upstream_settings *mirrors,
                                                     size_t count, const char *name);

/* The mirror (with a prefix) whose `hosts` name `host` (containerd's
 * `?ns=docker.io`; case-insensitive), or NULL. */
struct upstream *mirror_find_host(struct upstream *const *upstreams, size_t count,
                                  const char *host);

/* 1 when the manifest `reference` of `name` may be served from the tree
 * without asking the upstream (a digest it has; a tag it has, checked less
 * than `ttl_seconds` ago), else 0. A few stat() calls: an event loop may
 * ask. */
int mirror_manifest_is_fresh(const struct tree *tree, const char *name, const char *reference,
                             uint64_t ttl_seconds);

/* Makes the manifest `reference` of `name` present and, for a tag, current
 * (the rules above), and puts the digest to serve in `digest_out`.
 * -REGISTRY_ERROR_MANIFEST_UNKNOWN for a reference that is no tag or digest,
 * or that the upstream does not have (and the tree neither);
 * -REGISTRY_ERROR_UNAVAILABLE when the upstream failed and the tree has no
 * copy; -REGISTRY_ERROR_MANIFEST_INVALID when it sent a manifest cairn
 * cannot store. What serving it took goes to the metrics (per mirror) and
 * to *outcome_out, for the access log. */
int mirror_fill_manifest(const struct tree *tree, struct blob_store *blobs,
                         struct upstream *upstream, const char *name, const char *remote,
                         const char *reference, struct digest *digest_out,
                         enum metrics_mirror_outcome *outcome_out);

/* A caller that wants the bytes of a blob fill while they arrive. `follow`
 * is called at most once, on the calling thread, from inside
 * mirror_fill_blob(): `reader` (the callee's to close) serves the blob's
 * `size` bytes as BLOB_SERVED_REMOTELY does (its reads wait: worker threads
 * only), `outcome` is what the caller's request took (fetched, joined). */
struct mirror_blob_follower {
    void (*follow)(void *context, struct blob_reader *reader, int64_t size,
                   enum metrics_mirror_outcome outcome);
    void *context;
};

/* Fetches blob `digest` from the upstream and links it into `name`: 0 once
 * it is there; -REGISTRY_ERROR_BLOB_UNKNOWN when the upstream does not have
 * it; -REGISTRY_ERROR_UNAVAILABLE when the upstream failed or sent bytes of
 * another digest (nothing is linked then). *outcome_out as above. With a
 * `follower` (may be NULL), a caller that joins a fill in flight returns 0
 * as soon as it follows it; the caller that makes the fill may be followed
 * while it runs and returns when it ended, with its result. */
int mirror_fill_blob(const struct tree *tree, struct blob_store *blobs, struct upstream *upstream,
                     const char *name, const char *remote, const struct digest *digest,
                     const struct mirror_blob_follower *follower,
                     enum metrics_mirror_outcome *outcome_out);

#endif

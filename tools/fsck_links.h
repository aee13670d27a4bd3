/*
 * tools/fsck_links.h — step 2 of cairn-fsck: every link file of every
 * repository, and every manifest a revision names.
 *
 * Repositories are the directories that have a _manifests or a _layers child
 * (the union of cairn's and Distribution's catalog rules). In each, in this
 * order, so that a repair made early is seen by the checks after it:
 *
 *   _layers/<alg>/<hex>/link          valid digest, equal to <alg>:<hex>, blob exists
 *   _manifests/revisions/<alg>/<hex>/link
 *                                     the same; then (once every revision link is
 *                                     checked, so that one --repair pass sees the
 *                                     links it left) the blob parses as a manifest
 *                                     (manifest_parse) and every blob it references
 *                                     is linked in _layers (foreign layers with
 *                                     "urls" excepted) and every child manifest is
 *                                     a revision of the repository
 *   _manifests/tags/<tag>/current/link
 *                                     valid, and names a revision of the repository
 *   _manifests/tags/<tag>/index/<alg>/<hex>/link
 *                                     valid, equal to its path, blob exists
 *   _manifests/referrers/<alg>/<subject>/<alg>/<hex>/link
 *                                     valid, equal to its path, and a revision
 *
 * A digest directory without a `link` file is not a problem (Distribution
 * deletes a manifest by removing only its revision link). A link to a blob
 * fsck_blobs found corrupt (and left in place) is not reported again.
 *
 * Problems: invalid_link (garbage, or content != path), dangling_link
 * (target blob or revision missing), tag_without_revision, manifest_invalid,
 * manifest_reference_missing. With --repair, under the GC lock and after a
 * re-check: invalid and dangling links are removed (link_file_remove), and a
 * tag whose current link is missing, garbage or names no revision loses its
 * whole directory. manifest_invalid and manifest_reference_missing are never
 * repaired: the manifest is intact, what it needs can still be pushed again.
 *
 * With every store, "blob exists" is answered from what step 1 saw (the tree's blobs and the
 * store's listing) without asking the store; only a target in neither is asked about
 * (blob_store_stat: a blob pushed since the listing), again under the lock before it is called
 * dangling. And every config and layer a manifest names must have the size
 * its descriptor gives (the listed size, or the tree's copy's):
 * blob_size_mismatch, never repaired (the server checked that size at push,
 * so the store's copy changed since, or a Distribution tree was wrong).
 *
 * Every link target read goes to report->referenced (for the orphans), and
 * every link file read counts in report->links_checked.
 */
#ifndef CAIRN_TOOLS_FSCK_LINKS_H
#define CAIRN_TOOLS_FSCK_LINKS_H

#include "tools/fsck_context.h"

int fsck_links_check(struct fsck_context *context);

#endif

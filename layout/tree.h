/*
 * layout/tree.h — every path in the registry's tree, built in one place.
 *
 * The tree is byte-compatible with the CNCF Distribution registry. Given the
 * configured root directory R, the tree root is T = R/docker/registry/v2 and:
 *
 *   T/blobs/<alg>/<hex[0:2]>/<hex>/data                         blob bytes
 *   T/repositories/<name>/_layers/<alg>/<hex>/link              repo may read blob
 *   T/repositories/<name>/_manifests/revisions/<alg>/<hex>/link repo has manifest
 *   T/repositories/<name>/_manifests/tags/<tag>/current/link    tag -> manifest
 *   T/repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link
 *   T/repositories/<name>/_manifests/referrers/<alg>/<subject-hex>/<alg>/<hex>/link
 *   T/repositories/<name>/_uploads/<id>/data                    upload in progress
 *   T/repositories/<name>/_uploads/<id>/startedat               RFC 3339 UTC
 *
 * cairn's own files live beside T, outside the grammar, so that Distribution
 * never sees them: R/.cairn-tmp (h2o's request body files), R/.cairn-gc.lock
 * and R/.cairn-gc-run (gc_lock.h), R/.cairn-run (run_marker.h: who writes the
 * tree, who stopped uncleanly), R/.cairn-quarantine (blobs cairn-fsck
 * found corrupt) and R/cairn-events (the registry events' default spool,
 * src/observe/event_spool.h: operators look at it, so it is not hidden).
 *
 * Invariants: every path builder validates the name, tag or upload id it is
 * given (names.h) and refuses with -EINVAL, so no path is ever built from an
 * unvalidated part; digests are valid by construction (digest.h). Output
 * buffers are TREE_PATH_MAX bytes; a path that would not fit is -ENAMETOOLONG.
 *
 *     struct tree tree;
 *     if (tree_open(&tree, "./data", 1) < 0) ...
 *     char path[TREE_PATH_MAX];
 *     if (tree_path_tag_current_link(&tree, "library/alpine", "3.19", path) < 0) ...
 */
#ifndef CAIRN_LAYOUT_TREE_H
#define CAIRN_LAYOUT_TREE_H

#include <stddef.h>
#include "layout/digest.h"

#define TREE_PATH_MAX 4096

struct tree {
    char root_directory[TREE_PATH_MAX]; /* R, as configured (no trailing slash) */
    char root[TREE_PATH_MAX];           /* T = R/docker/registry/v2 */
    size_t root_length;
};

/* Fills `tree` for root directory R. With `create`, creates T/blobs,
 * T/repositories and R/.cairn-tmp if missing. The root must leave room for
 * the longest path (a 255-character name plus digests): -ENAMETOOLONG if not. */
int tree_open(struct tree *tree, const char *root_directory, int create);

int tree_path_blobs(const struct tree *tree, char out[TREE_PATH_MAX]);
int tree_path_blob_directory(const struct tree *tree, const struct digest *digest,
                             char out[TREE_PATH_MAX]);
int tree_path_blob_data(const struct tree *tree, const struct digest *digest,
                        char out[TREE_PATH_MAX]);

int tree_path_repositories(const struct tree *tree, char out[TREE_PATH_MAX]);

/* What an entry of a directory under repositories/ is, by its name: one of
 * a repository's own directories, a component of a (nested) repository name,
 * or something else of the tree's (a reserved "_" or a dot name) that only
 * layout/ interprets. For walkers that must classify what they find. */
enum tree_repository_entry {
    TREE_ENTRY_NAME_COMPONENT, /* a/b: "b" under a/ */
    TREE_ENTRY_MANIFESTS,      /* _manifests: makes its parent a repository */
    TREE_ENTRY_LAYERS,         /* _layers */
    TREE_ENTRY_UPLOADS,        /* _uploads */
    TREE_ENTRY_RESERVED,       /* any other "_" or "." name: not ours to touch */
};
enum tree_repository_entry tree_repository_entry_kind(const char *entry);

/* `directory`/`entry`, for a walker's child (`entry` one name read from
 * `directory`, no '/'): -ENAMETOOLONG when it would not fit, -EINVAL for
 * an entry with a '/' or "." or "..". */
int tree_path_child(const char *directory, const char *entry, char out[TREE_PATH_MAX]);
int tree_path_repository(const struct tree *tree, const char *name, char out[TREE_PATH_MAX]);
/* T/repositories/<name>/_manifests: its existence makes <name> a repository. */
int tree_path_manifests_directory(const struct tree *tree, const char *name,
                                  char out[TREE_PATH_MAX]);

int tree_path_layers_directory(const struct tree *tree, const char *name, char out[TREE_PATH_MAX]);
int tree_path_layer_link(const struct tree *tree, const char *name, const struct digest *digest,
                         char out[TREE_PATH_MAX]);

int tree_path_revisions_directory(const struct tree *tree, const char *name,
                                  char out[TREE_PATH_MAX]);
/* T/.../_manifests/revisions/<alg>/<hex> (the directory holding the link). */
int tree_path_revision_directory(const struct tree *tree, const char *name,
                                 const struct digest *digest, char out[TREE_PATH_MAX]);
int tree_path_revision_link(const struct tree *tree, const char *name, const struct digest *digest,
                            char out[TREE_PATH_MAX]);

int tree_path_tags_directory(const struct tree *tree, const char *name, char out[TREE_PATH_MAX]);
int tree_path_tag_directory(const struct tree *tree, const char *name, const char *tag,
                            char out[TREE_PATH_MAX]);
int tree_path_tag_current_link(const struct tree *tree, const char *name, const char *tag,
                               char out[TREE_PATH_MAX]);
int tree_path_tag_index_link(const struct tree *tree, const char *name, const char *tag,
                             const struct digest *digest, char out[TREE_PATH_MAX]);

/* A tag is staged and retired under a name in _manifests/tags that no tag
 * can have (tags never start with '.'), so that it appears and disappears
 * with one rename (layout/tag_update.h):
 * T/.../_manifests/tags/.cairn-tag-XXXXXX, a mkdtemp(3) template. */
#define TREE_TAG_STAGING_PREFIX ".cairn-tag-"
int tree_path_tag_staging_template(const struct tree *tree, const char *name,
                                   char out[TREE_PATH_MAX]);
/* Whether an entry of _manifests/tags is such a staging directory. */
int tree_is_tag_staging(const char *entry);
/* current/, current/link and index/<alg>/<hex>/link inside a tag directory given by
 * its path (a tag's own, or a staging directory). */
int tree_path_tag_current_directory_in(const char *tag_directory, char out[TREE_PATH_MAX]);
int tree_path_tag_current_link_in(const char *tag_directory, char out[TREE_PATH_MAX]);
int tree_path_tag_index_link_in(const char *tag_directory, const struct digest *digest,
                                char out[TREE_PATH_MAX]);

/* T/.../_manifests/referrers/<alg>/<subject-hex> */
int tree_path_referrers_directory(const struct tree *tree, const char *name,
                                  const struct digest *subject, char out[TREE_PATH_MAX]);
int tree_path_referrer_link(const struct tree *tree, const char *name, const struct digest *subject,
                            const struct digest *referrer, char out[TREE_PATH_MAX]);

int tree_path_uploads_directory(const struct tree *tree, const char *name, char out[TREE_PATH_MAX]);
int tree_path_upload_directory(const struct tree *tree, const char *name, const char *upload_id,
                               char out[TREE_PATH_MAX]);
int tree_path_upload_data(const struct tree *tree, const char *name, const char *upload_id,
                          char out[TREE_PATH_MAX]);
int tree_path_upload_started_at(const struct tree *tree, const char *name, const char *upload_id,
                                char out[TREE_PATH_MAX]);

/* R/.cairn-tmp: scratch files of the server, never part of the grammar. */
int tree_path_scratch_directory(const struct tree *tree, char out[TREE_PATH_MAX]);

/* R/.cairn-gc.lock: the lock between writers and cairn-gc (gc_lock.h). */
int tree_path_gc_lock(const struct tree *tree, char out[TREE_PATH_MAX]);

/* R/.cairn-gc-run: held locked by a running cairn-gc, its mark start inside
 * (gc_lock.h). */
int tree_path_gc_run(const struct tree *tree, char out[TREE_PATH_MAX]);

/* R/.cairn-run: one file per process writing the tree, and the stops of
 * those that did not exit cleanly (run_marker.h). */
int tree_path_run_markers(const struct tree *tree, char out[TREE_PATH_MAX]);

/* R/cairn-events: the events' spool when cairn.events.spool is not set. */
int tree_path_event_spool(const struct tree *tree, char out[TREE_PATH_MAX]);

/* R/.cairn-quarantine: where cairn-fsck --repair moves corrupt blobs. */
int tree_path_quarantine_directory(const struct tree *tree, char out[TREE_PATH_MAX]);
/* R/.cairn-quarantine/<alg>: the quarantined blobs of one algorithm. */
int tree_path_quarantine_algorithm_directory(const struct tree *tree,
                                             enum digest_algorithm algorithm,
                                             char out[TREE_PATH_MAX]);
/* R/.cairn-quarantine/<alg>/<hex>.<seconds> (attempt 0), or
 * <hex>.<seconds>-<attempt> when an earlier name is taken: where a corrupt
 * blob found at time `seconds` is moved; its reason is the same name with
 * ".reason" appended (tree_path_quarantine_reason). */
int tree_path_quarantined_blob(const struct tree *tree, const struct digest *digest,
                               long long seconds, int attempt, char out[TREE_PATH_MAX]);
int tree_path_quarantine_reason(const struct tree *tree, const struct digest *digest,
                                long long seconds, int attempt, char out[TREE_PATH_MAX]);

/* Formats a time as Distribution's startedat: Go's time.RFC3339 in UTC, whole
 * seconds, e.g. "2024-01-02T03:04:05Z" (no newline; the nanoseconds are
 * ignored, as Distribution drops them). out must hold 40 bytes. */
void tree_format_started_at(long long seconds, long nanoseconds, char out[40]);
/* Parses a startedat value (with or without fractional seconds). -EINVAL. */
int tree_parse_started_at(const char *text, size_t length, long long *seconds_out);

#endif

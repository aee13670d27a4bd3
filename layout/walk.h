/*
 * layout/walk.h — listings of what the tree holds: repositories, tags,
 * revisions, layer links, referrers, uploads and blobs; and the search for
 * a repository that links a blob.
 *
 * Listings are read from the directories each time (the tree is the truth and
 * another process may change it); they are sorted with strcmp so that
 * pagination ("n" and "last") is stable. A directory that does not exist is
 * an empty listing, not an error. Entries whose names do not follow the
 * grammar (temporaries, stray files) are skipped, never returned.
 *
 *     struct string_list tags = {0};
 *     if (walk_tags(&tree, "library/alpine", &tags) == 0)
 *         for (size_t i = 0; i < tags.count; i++) puts(tags.items[i]);
 *     string_list_clear(&tags);
 */
#ifndef CAIRN_LAYOUT_WALK_H
#define CAIRN_LAYOUT_WALK_H

#include <stddef.h>
#include "layout/digest.h"
#include "layout/names.h"
#include "layout/tree.h"

struct string_list {
    char **items;
    size_t count;
    size_t capacity;
};

int string_list_append(struct string_list *list, const char *item);
void string_list_sort(struct string_list *list);
void string_list_clear(struct string_list *list);

struct digest_list {
    struct digest *items;
    size_t count;
    size_t capacity;
};

int digest_list_append(struct digest_list *list, const struct digest *digest);
void digest_list_clear(struct digest_list *list);

/* The names of the subdirectories of any directory, whatever they are
 * called (symbolic links not followed), sorted; for a checker that must also
 * see what does not follow the grammar. A missing directory lists nothing. */
int walk_subdirectories(const char *path, struct string_list *out);

/* Every repository name (a directory under repositories/ that has a
 * _manifests child; nested names like "a/b/c" included), sorted. */
int walk_repositories(const struct tree *tree, struct string_list *out);

/* Which child of a repository's directory a walk looks for: the walks below
 * list the names whose directory has it. */
enum repository_marker {
    REPOSITORY_MARKER_MANIFESTS, /* _manifests: a repository (walk_repositories) */
    REPOSITORY_MARKER_LAYERS,    /* _layers: it holds blob links */
    REPOSITORY_MARKER_UPLOADS,   /* _uploads: uploads to purge, even where no
                                    manifest was ever pushed */
};

/* The same walk as walk_repositories, for the repositories that have uploads
 * in progress (or had: the directory may be empty). */
int walk_repositories_with_uploads(const struct tree *tree, struct string_list *out);

/* The repositories whose directory has a _layers child (they hold blob
 * links; Distribution's catalog rule), sorted. */
int walk_repositories_with_layers(const struct tree *tree, struct string_list *out);

/* The entries of the directory `path` (no "." and ".."), in directory
 * order: subdirectories appended to `directories`, everything else (files,
 * symbolic links) to `files`; either may be NULL. A missing directory (or a
 * path that is not one) lists nothing. 0, -ENOMEM, or a negative errno with
 * the message set when it cannot be read. For a sweeper that visits every
 * entry of a directory the grammar does not describe entry by entry. */
int walk_directory_entries(const char *path, struct string_list *directories,
                           struct string_list *files);
/* 1 when `path` is a directory without entries, 0 otherwise (also when it
 * cannot be read). */
int walk_directory_is_empty(const char *path);

/* The same walk without a list: calls visit(name, context) for each such
 * repository in directory order (unsorted, for a search that may stop
 * early) and stops at the first non-zero value, which it returns. */
int walk_repositories_visit(const struct tree *tree, enum repository_marker marker,
                            int (*visit)(const char *name, void *context), void *context);

/* Every repository a checker must look into: the directories that have a
 * _manifests or a _layers child (the union of cairn's and Distribution's
 * catalog rules), sorted. */
int walk_repository_directories(const struct tree *tree, struct string_list *out);

/* Whether <name>'s _layers links `digest` (its link file names exactly that
 * digest): 1, 0 (no link, or one holding something else), or a negative
 * errno when it cannot be read. */
int walk_layer_link_matches(const struct tree *tree, const char *name, const struct digest *digest);

/* A search for a repository that links `digest` (automatic cross-repository
 * mount): visits the repositories with a _layers directory, asks
 * may_read(name, context) (NULL: every one) and reads the link only in those
 * it accepts; stops at the first that links the digest. 1 with its name in
 * `name_out`, 0 when none does (name_out ""), or a negative errno. What a
 * refused repository holds is never read, so neither the answer nor the
 * time it takes depends on it (only on how many repositories there are). */
int walk_find_layer_link(const struct tree *tree, const struct digest *digest,
                         int (*may_read)(const char *name, void *context), void *context,
                         char name_out[REPOSITORY_NAME_MAX + 1]);

/* Every tag of a repository (directories under _manifests/tags), sorted. */
int walk_tags(const struct tree *tree, const char *name, struct string_list *out);
/* The tags the API shows (tags/list): those of walk_tags that have their
 * current link. A directory without one (a tree written by Distribution, or
 * by a cairn before tags appeared whole, that crashed halfway) names no
 * manifest, so it is no tag; cairn-fsck reports it. Sorted. */
int walk_tags_with_current(const struct tree *tree, const char *name, struct string_list *out);

/* Digests of every revision link directory, layer link directory, and
 * referrer of `subject`. Sorted by digest string. */
int walk_revisions(const struct tree *tree, const char *name, struct digest_list *out);
int walk_layers(const struct tree *tree, const char *name, struct digest_list *out);
int walk_referrers(const struct tree *tree, const char *name, const struct digest *subject,
                   struct digest_list *out);

/* Digests of a tag's index entries (tags/<tag>/index/<alg>/<hex>: every
 * manifest the tag has pointed to), and of every subject that has referrers
 * (referrers/<alg>/<subject-hex>). Sorted by digest string. */
int walk_tag_index(const struct tree *tree, const char *name, const char *tag,
                   struct digest_list *out);
int walk_referrer_subjects(const struct tree *tree, const char *name, struct digest_list *out);

/* Upload ids of a repository, sorted. */
int walk_uploads(const struct tree *tree, const char *name, struct string_list *out);

/* Calls `visit` for every blob directory blobs/<alg>/<xx>/<hex> that follows
 * the grammar; stops and returns visit's value when it is non-zero. */
int walk_blobs(const struct tree *tree, int (*visit)(const struct digest *digest, void *context),
               void *context);

/* One blob directory of T/blobs as it is on disk (for a checker). */
struct walk_blob_directory {
    struct digest digest;          /* <alg>:<hex>, from its name */
    int misplaced;                 /* under another fan-out directory than <hex[0:2]> */
    char directory[TREE_PATH_MAX]; /* T/blobs/<alg>/<xx>/<hex> */
    char data[TREE_PATH_MAX];      /* its data file, which may be missing */
};

/* Calls `visit` for every directory T/blobs/<alg>/<xx>/<hex> whose
 * <alg>:<hex> is a valid digest, misplaced ones included (neither server
 * can find those), in sorted order; stops and returns visit's value when it
 * is non-zero. Other names are skipped. */
int walk_blob_directories(const struct tree *tree,
                          int (*visit)(const struct walk_blob_directory *blob, void *context),
                          void *context);

/* Every entry anywhere under T whose name is an atomic_file temporary
 * (layout/atomic_file.h), as a path, symbolic links not followed, sorted.
 * One readdir per directory of the tree (file types from the directory
 * entries, no stat per entry): the cost of a full walk, for a sweeper or a
 * checker that must find every leftover of a crash. */
int walk_temporary_files(const struct tree *tree, struct string_list *out);

/* The hidden entries of a repository's tags directory: names starting with
 * '.' (no tag can: layout/names.h), which only an interrupted atomic tag
 * change leaves there, files and directories alike; atomic_file
 * temporaries are left out (walk_temporary_files lists those). Names,
 * sorted; a missing directory lists nothing. */
int walk_hidden_tag_entries(const struct tree *tree, const char *name, struct string_list *out);

#endif

/*
 * tools/gc_mark.h — cairn-gc's mark phase: which manifests each repository
 * keeps and which blobs the whole registry keeps.
 *
 * Per repository (every directory with `_manifests` or `_layers`), the roots
 * are every revision (a revision directory with a `link`) and every tag's
 * target, or with `delete_untagged` only the tags' targets. From each root
 * the mark follows, iteratively (a work list and a visited set, so neither
 * depth nor cycles matter):
 *
 *   - the manifest's own blob, its config and every layer (foreign `urls`
 *     layers too: marking a digest that is not stored is harmless);
 *   - the children of an index (manifests of the same repository);
 *   - every referrer of a kept manifest: the `referrers/<subject>` entries,
 *     and, so that trees written without them (Distribution) work too, every
 *     revision whose parsed `subject` is a kept manifest (to a fixed point).
 *
 * A manifest that cannot be parsed (Docker schema 1, garbage) is kept, and,
 * since what it references is unknown, every blob of that repository's
 * `_layers` is marked. A tag whose link holds garbage makes every revision of
 * its repository a root (its target is unknown). Blobs are marked globally:
 * a blob marked in any repository is kept.
 *
 * Eviction (a mirror's cache, docs/mirror.md): the repositories a mirror
 * of `mirrors` holds (mirror_find_settings) whose evict_after is not 0 keep
 * only what was pulled since `now` - evict_after (their `pulled_since`) —
 * their roots are the revisions whose link
 * (repository_manifest_pulled_at) is at least that old, and a tag is a root
 * only when its target is such a revision (with `delete_untagged`, only
 * tagged ones). The rest of the rules above apply unchanged: an index
 * pulled keeps its children, a kept manifest its referrers. The sweep then
 * deletes the revisions not kept, with their tags. A repository with an
 * unreadable tag keeps everything, as above.
 *
 * Anything that stops the mark from knowing what is referenced (an I/O
 * error reading a listing, a link or a manifest) is recorded in `errors`;
 * the sweep must then delete nothing that depends on the mark
 * (gc_mark_is_complete()).
 *
 *     struct gc_mark mark;
 *     gc_mark_init(&mark, delete_untagged);
 *     if (gc_mark_tree(&mark, &tree, store) < 0) ...  // out of memory only
 *     if (gc_digest_set_contains(&mark.blobs, &digest)) ... // keep
 *     gc_mark_release(&mark);
 *
 * Repositories are marked on `jobs` threads at once (each repository by
 * one thread, into a mark of its own that is merged at the end; the store
 * is called from all of them, as the server's workers do). The sweep's
 * re-marks (gc_mark_keep) run on the caller's thread.
 *
 * Memory: about 200 bytes per marked digest; 40,000 blobs take ~8 MiB
 * (twice that for a moment while the threads' marks are merged).
 */
#ifndef CAIRN_TOOLS_GC_MARK_H
#define CAIRN_TOOLS_GC_MARK_H

#include <stddef.h>
#include <stdint.h>

#include "drivers/blob_store.h"
#include "drivers/upstream.h"
#include "layout/digest.h"
#include "layout/tree.h"
#include "layout/walk.h"

/* A set of digests: open addressing (linear probing) over the digest's
 * leading hex digits, which are uniformly distributed. Items keep their
 * insertion order in `items` until gc_digest_set_sort(). */
struct gc_digest_set {
    struct digest *items;
    size_t count;
    size_t capacity;
    uint32_t *slots;   /* index + 1 into items; 0 = empty */
    size_t slot_count; /* a power of two, at least twice `count` */
};

/* 1 when added, 0 when already there, -ENOMEM. */
int gc_digest_set_add(struct gc_digest_set *set, const struct digest *digest);
int gc_digest_set_contains(const struct gc_digest_set *set, const struct digest *digest);
/* Sorts `items` by digest string (lookups keep working). */
void gc_digest_set_sort(struct gc_digest_set *set);
void gc_digest_set_clear(struct gc_digest_set *set);

enum {
    GC_SUBJECT_UNKNOWN = 0,    /* not read yet */
    GC_SUBJECT_PRESENT = 1,    /* `subject` holds it */
    GC_SUBJECT_NONE = 2,       /* parsed, no subject */
    GC_SUBJECT_UNREADABLE = 3, /* missing, unparseable or unreadable */
};

/* What the mark knows about one revision of a repository. */
struct gc_revision {
    struct digest digest;
    long long pulled;  /* the link's mtime, in evicting repositories only */
    int subject_state; /* GC_SUBJECT_* */
    struct digest subject;
};

struct gc_repository {
    char *name;
    struct gc_revision *revisions; /* revisions with a link at mark time, sorted */
    size_t revision_count;
    struct gc_digest_set kept;     /* manifests this repository keeps */
    struct gc_digest_set subjects; /* subjects with referrers entries, at mark time */
    int all_layers_marked;         /* an unparseable manifest was kept */
    int all_revisions_kept;        /* a tag could not be read */
    long long pulled_since;        /* evicting: what was pulled before this goes; 0: not evicting */
};

/* The revision `digest` of `repository` (as at mark time), or NULL. */
struct gc_revision *gc_repository_find_revision(struct gc_repository *repository,
                                                const struct digest *digest);
/* 1 when `repository` evicts and its revision `digest` was not pulled since
 * (or is not there), 0 when it is kept for being pulled. */
int gc_repository_is_unpulled(struct gc_repository *repository, const struct digest *digest);

/* The most threads a mark uses (gc_mark.jobs). */
#define GC_MARK_JOBS_MAX 16

struct gc_mark {
    int delete_untagged;
    unsigned jobs; /* threads marking repositories at once; 0: one per CPU */
    /* The configuration's mirrors (the caller's, for gc_mark_tree; may be
     * NULL) and the time eviction counts from (seconds since the epoch). */
    const struct upstream_settings *mirrors;
    size_t mirror_count;
    long long now;
    struct gc_digest_set blobs;         /* every marked digest (manifests, configs, layers) */
    struct gc_repository *repositories; /* sorted by name */
    size_t repository_count;
    unsigned long manifests;   /* kept manifests, summed over repositories */
    unsigned long unparseable; /* of which could not be parsed */
    struct string_list errors; /* why the mark is incomplete, if it is */
};

void gc_mark_init(struct gc_mark *mark, int delete_untagged);
void gc_mark_release(struct gc_mark *mark);

/* Marks the whole tree. Problems with the tree go to `errors` (the run
 * goes on); only -ENOMEM is returned. */
int gc_mark_tree(struct gc_mark *mark, const struct tree *tree, struct blob_store *store);

/* Whether nothing went wrong: the sweep may delete by the mark. */
int gc_mark_is_complete(const struct gc_mark *mark);

struct gc_repository *gc_mark_find_repository(struct gc_mark *mark, const char *name);

/* Keeps `manifest` in `repository` with everything reachable from it (the
 * rules above), then the referrers fixed point over the repository's
 * revisions. Used by gc_mark_tree() and by the sweep, which re-marks what
 * writers changed since the mark (new tag targets, re-pushed revisions)
 * while it holds the GC lock. Problems go to `errors`; -ENOMEM only. */
int gc_mark_keep(struct gc_mark *mark, const struct tree *tree, struct blob_store *store,
                 struct gc_repository *repository, const struct digest *manifest);

/* Reads the revision's subject once (revision->subject_state). -ENOMEM
 * only. */
int gc_mark_revision_subject(struct gc_mark *mark, struct blob_store *store,
                             struct gc_repository *repository, struct gc_revision *revision);

/* Adds `text` (formatted) to mark->errors. -ENOMEM only. */
int gc_mark_add_error(struct gc_mark *mark, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

#endif

/*
 * layout/tag_update.h — making a tag appear, move and disappear so that no
 * reader and no crash ever sees a tag without its current link.
 *
 * A tag is a directory, _manifests/tags/<tag>/, holding current/link (the
 * manifest it names now) and index/<alg>/<hex>/link (every manifest it has
 * named): two files, so writing them in place in a new directory, or
 * removing them one by one, leaves a moment (and, after a kill, a tree)
 * where the directory exists without current/link. tags/list would show
 * such a tag and a GET of it would answer 404. So:
 *
 *   - a new tag is built complete in a staging directory of the same
 *     _manifests/tags/ (".cairn-tag-XXXXXX": no tag starts with '.', so no
 *     reader takes it for one, and Distribution never builds that path),
 *     its two links written in place (no temporaries: nobody reads there),
 *     then every file and directory of it fsynced; then one rename(2) puts
 *     it in place and the tags directory is fsynced;
 *   - an existing tag (it has its current link) gets the new index link,
 *     then the new current link by rename over the old one: it names the
 *     old manifest or the new one, never none;
 *   - a tag is removed by renaming its directory to a staging name (one
 *     step, fsynced: from then on the tag is gone), then removing that
 *     directory's files at leisure.
 *
 * A crash can leave a staging directory behind (never a half tag);
 * tag_update_remove_staging() removes them. The files written are exactly
 * Distribution's (tree.h), so the tree stays byte-compatible.
 *
 * Concurrency: these functions do not order concurrent updates of one
 * repository's tags among themselves; the caller serializes them (the
 * server does, per repository: src/registry/repository.c). Two writers
 * creating one new tag at once are handled (the second writes into the
 * first's directory).
 *
 *     if (tag_update_write(&tree, "library/alpine", "3.19", &digest) < 0) ...
 *     if (tag_update_remove(&tree, "library/alpine", "3.19") == -ENOENT) ...
 */
#ifndef CAIRN_LAYOUT_TAG_UPDATE_H
#define CAIRN_LAYOUT_TAG_UPDATE_H

#include "layout/digest.h"
#include "layout/tree.h"

/* Points <name>:<tag> at `digest` (index link, then current link), durably;
 * a new tag appears whole. 0 or a negative errno (message set). */
int tag_update_write(const struct tree *tree, const char *name, const char *tag,
                     const struct digest *digest);

/* tag_update_write() in two steps, so that a caller can build a new tag's
 * staging directory while it makes the tag's revision durable:
 * tag_update_prepare() builds it (durable, unseen) when the tag does not
 * exist, without needing the caller's serialization; tag_update_publish()
 * then puts it in place, or writes the links in place when the tag exists,
 * under it; tag_update_abandon() removes a prepared staging directory that
 * will not be published. Every prepared tag is published or abandoned.
 *
 *     struct tag_staging staged;
 *     int result = tag_update_prepare(&tree, name, tag, &digest, &staged);
 *     ... make the revision durable ...
 *     result = result == 0 && revision_ok ? tag_update_publish(&staged)
 *                                         : (tag_update_abandon(&staged), result);
 */
struct tag_staging {
    const struct tree *tree;
    const char *name, *tag;
    struct digest digest;
    int staged; /* 1: `staging` holds a complete new tag */
    char staging[TREE_PATH_MAX];
};
int tag_update_prepare(const struct tree *tree, const char *name, const char *tag,
                       const struct digest *digest, struct tag_staging *out);
int tag_update_publish(struct tag_staging *staged);
void tag_update_abandon(struct tag_staging *staged);

/* Removes <name>:<tag> in one durable step, then its files. -ENOENT (message
 * set) when there is no such tag directory. */
int tag_update_remove(const struct tree *tree, const char *name, const char *tag);

/* Removes the staging directories left in <name>'s _manifests/tags by an
 * interrupted write or removal, those last changed (mtime or ctime) at
 * least `older_than_seconds` before `now`. With 0, all of them: only for a
 * caller that excludes every other tag update of <name>, since a staging
 * directory in use would be removed under its writer. The number removed,
 * or a negative errno. */
int tag_update_remove_staging(const struct tree *tree, const char *name,
                              long long older_than_seconds, long long now);

#endif

/* layout/tag_update.h */
#include "layout/tag_update.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/link_file.h"
#include "layout/walk.h"

/* How many staging names are tried before giving up (a name is taken only
 * by a leftover of a crash or by a concurrent writer). */
#define STAGING_ATTEMPTS 16

/* A fresh staging path in <name>'s tags directory (not created). */
static int staging_path(const struct tree *tree, const char *name, char out[TREE_PATH_MAX])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char random_bytes[6];
    int result = tree_path_tag_staging_template(tree, name, out);
    if (result < 0)
        return result;
    if (getrandom(random_bytes, sizeof random_bytes, 0) != (ssize_t)sizeof random_bytes)
        return error_set(-EIO, "getrandom failed: %s", strerror(errno));
    char *suffix = out + strlen(out) - sizeof random_bytes;
    for (size_t i = 0; i < sizeof random_bytes; i++)
        suffix[i] = alphabet[random_bytes[i] % (sizeof alphabet - 1)];
    return 0;
}

/* Index link, then current link, inside `tag_directory`. */
static int write_links_in(const char *tag_directory, const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_tag_index_link_in(tag_directory, digest, path);
    if (result == 0)
        result = link_file_write(path, digest);
    if (result == 0)
        result = tree_path_tag_current_link_in(tag_directory, path);
    if (result == 0)
        result = link_file_write(path, digest);
    return result;
}

/* fsyncs `directory`, then each of its parents up to and including
 * `last`, which is one of them. */
static int sync_up_to(const char *directory, const char *last)
{
    char path[TREE_PATH_MAX];
    size_t length = strlen(directory), last_length = strlen(last);
    if (length >= sizeof path || length < last_length)
        return error_set(-EINVAL, "%s is not inside %s", directory, last);
    memcpy(path, directory, length + 1);
    for (;;) {
        int result = directory_sync(path);
        if (result < 0 || length <= last_length)
            return result;
        while (length > last_length && path[length - 1] != '/')
            length--;
        path[--length] = '\0';
    }
}

/* A new tag's two links written in place inside its staging directory (no
 * reader looks there), then both files and every directory of the staging
 * tree fsynced: the first fsync commits all of it on a journalling file
 * system, the rest cost a flush. Durable before the rename that publishes
 * it; a crash before leaves a staging directory, never a half tag. */
static int build_staging(const char *staging, const struct digest *digest)
{
    char index_link[TREE_PATH_MAX], current_link[TREE_PATH_MAX];
    char index_directory[TREE_PATH_MAX], current_directory[TREE_PATH_MAX];
    int result = tree_path_tag_index_link_in(staging, digest, index_link);
    if (result == 0)
        result = tree_path_tag_current_directory_in(staging, current_directory);
    if (result == 0)
        result = tree_path_tag_current_link_in(staging, current_link);
    if (result == 0)
        result = link_file_write_staged(index_link, digest);
    if (result == 0)
        result = link_file_write_staged(current_link, digest);
    if (result < 0)
        return result;
    /* index/<alg>/<hex>/ up to the staging directory, then current/. */
    size_t length = strlen(index_link);
    while (length > 0 && index_link[length - 1] != '/')
        length--;
    memcpy(index_directory, index_link, length);
    index_directory[length > 0 ? length - 1 : 0] = '\0';
    if ((result = atomic_file_sync(index_link)) < 0 ||
        (result = atomic_file_sync(current_link)) < 0 ||
        (result = directory_sync(current_directory)) < 0)
        return result;
    return sync_up_to(index_directory, staging);
}

/* Makes a new staging directory (0777 under the umask, as every directory
 * of the tree). Not fsynced: nothing names it, and the tags directory is
 * fsynced after it is renamed into place (a crash before leaves it or not). */
static int make_staging(const struct tree *tree, const char *name, const char *tags,
                        char staging[TREE_PATH_MAX])
{
    int result = directory_create(tags);
    for (int attempt = 0; result == 0; attempt++) {
        if ((result = staging_path(tree, name, staging)) < 0)
            return result;
        if (mkdir(staging, 0777) == 0)
            return 0;
        if (errno != EEXIST || attempt == STAGING_ATTEMPTS)
            return error_set(-errno, "cannot create %s: %s", staging, strerror(errno));
    }
    return result;
}

int tag_update_prepare(const struct tree *tree, const char *name, const char *tag,
                       const struct digest *digest, struct tag_staging *out)
{
    char tag_directory[TREE_PATH_MAX], tags[TREE_PATH_MAX];
    struct stat status;
    struct digest target = *digest; /* `digest` may be out's own */
    memset(out, 0, sizeof *out);
    out->tree = tree;
    out->name = name;
    out->tag = tag;
    out->digest = target;
    digest = &out->digest;
    int result = tree_path_tag_directory(tree, name, tag, tag_directory);
    if (result == 0)
        result = tree_path_tags_directory(tree, name, tags);
    if (result < 0)
        return result;
    if (stat(tag_directory, &status) == 0)
        return 0; /* published in place */
    if (errno != ENOENT)
        return error_set(-errno, "cannot stat %s: %s", tag_directory, strerror(errno));
    if ((result = make_staging(tree, name, tags, out->staging)) < 0)
        return result;
    if ((result = build_staging(out->staging, digest)) < 0) {
        directory_remove_tree(out->staging);
        return result;
    }
    out->staged = 1;
    return 0;
}

void tag_update_abandon(struct tag_staging *staged)
{
    if (staged->staged)
        directory_remove_tree(staged->staging);
    staged->staged = 0;
}

int tag_update_publish(struct tag_staging *staged)
{
    char tag_directory[TREE_PATH_MAX], tags[TREE_PATH_MAX];
    const struct tree *tree = staged->tree;
    int result = tree_path_tag_directory(tree, staged->name, staged->tag, tag_directory);
    if (result == 0)
        result = tree_path_tags_directory(tree, staged->name, tags);
    if (result < 0) {
        tag_update_abandon(staged);
        return result;
    }
    if (!staged->staged) {
        struct stat status;
        if (stat(tag_directory, &status) == 0)
            return write_links_in(tag_directory, &staged->digest);
        /* Removed since it was prepared: made new, whole. */
        if ((result =
                 tag_update_prepare(tree, staged->name, staged->tag, &staged->digest, staged)) < 0)
            return result;
        if (!staged->staged) /* and made again by someone else */
            return write_links_in(tag_directory, &staged->digest);
    }
    staged->staged = 0;
    if (rename(staged->staging, tag_directory) == 0)
        return directory_sync(tags);
    int error = errno;
    directory_remove_tree(staged->staging);
    if (error == EEXIST || error == ENOTEMPTY) /* another writer made the tag meanwhile */
        return write_links_in(tag_directory, &staged->digest);
    return error_set(-error, "cannot rename %s to %s: %s", staged->staging, tag_directory,
                     strerror(error));
}

int tag_update_write(const struct tree *tree, const char *name, const char *tag,
                     const struct digest *digest)
{
    struct tag_staging staged;
    int result = tag_update_prepare(tree, name, tag, digest, &staged);
    return result < 0 ? result : tag_update_publish(&staged);
}

int tag_update_remove(const struct tree *tree, const char *name, const char *tag)
{
    char tag_directory[TREE_PATH_MAX], tags[TREE_PATH_MAX], staging[TREE_PATH_MAX];
    int result = tree_path_tag_directory(tree, name, tag, tag_directory);
    if (result == 0)
        result = tree_path_tags_directory(tree, name, tags);
    for (int attempt = 0; result == 0; attempt++) {
        if ((result = staging_path(tree, name, staging)) < 0)
            return result;
        /* An empty directory of that name (a leftover) is replaced. */
        if (rename(tag_directory, staging) == 0)
            break;
        int error = errno;
        if (error == ENOENT)
            return error_set(-ENOENT, "tag %s unknown in %s", tag, name);
        if ((error != EEXIST && error != ENOTEMPTY) || attempt == STAGING_ATTEMPTS)
            return error_set(-error, "cannot rename %s to %s: %s", tag_directory, staging,
                             strerror(error));
    }
    if (result < 0)
        return result;
    if ((result = directory_sync(tags)) < 0) /* from here on the tag is gone */
        return result;
    result = directory_remove_tree(staging);
    return result < 0 ? result : directory_sync(tags);
}

int tag_update_remove_staging(const struct tree *tree, const char *name,
                              long long older_than_seconds, long long now)
{
    char tags[TREE_PATH_MAX];
    struct string_list directories = {0};
    int result = tree_path_tags_directory(tree, name, tags);
    if (result == 0)
        result = walk_directory_entries(tags, &directories, NULL);
    int removed = 0;
    for (size_t i = 0; result == 0 && i < directories.count; i++) {
        char path[TREE_PATH_MAX];
        struct stat status;
        if (!tree_is_tag_staging(directories.items[i]))
            continue;
        if ((result = tree_path_child(tags, directories.items[i], path)) < 0)
            break;
        if (lstat(path, &status) != 0 || !S_ISDIR(status.st_mode))
            continue;
        /* A rename (a tag being retired) changes the ctime, a write the mtime. */
        long long touched =
            (long long)(status.st_mtime > status.st_ctime ? status.st_mtime : status.st_ctime);
        if (older_than_seconds > 0 && touched > now - older_than_seconds)
            continue;
        if ((result = directory_remove_tree(path)) == 0)
            removed++;
    }
    string_list_clear(&directories);
    if (result == 0 && removed > 0)
        result = directory_sync(tags);
    return result < 0 ? result : removed;
}

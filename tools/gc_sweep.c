/* tools/gc_sweep.c — see gc_sweep.h. */
#include "tools/gc_sweep.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/gc_lock.h"
#include "layout/link_file.h"
#include "layout/run_marker.h"
#include "layout/upload_purge.h"
#include "src/registry/registry_error.h"
#include "src/registry/repository.h"

long long gc_sweep_cutoff(long long now, long long grace_seconds, const struct timespec *mark_start)
{
    long long by_grace = now - grace_seconds;
    long long start = (long long)mark_start->tv_sec;
    return (by_grace < start ? by_grace : start) - 1;
}

int gc_sweep_mark_start(const struct tree *tree, int dry_run, struct timespec *mark_start,
                        int *run_out)
{
    if (run_out != NULL)
        *run_out = -1;
    clock_gettime(CLOCK_REALTIME, mark_start);
    if (dry_run)
        return 0;
    int fd;
    int result = 0;
    /* Announced before the barrier: a writer that finds no run holds the
     * lock the barrier will wait for (layout/gc_lock.h). */
    if (run_out != NULL && (result = gc_run_announce(tree, run_out)) < 0)
        return result;
    /* Waiting for another run may have taken long: the mark starts now. */
    clock_gettime(CLOCK_REALTIME, mark_start);
    if (run_out != NULL && (result = gc_run_record(*run_out, (long long)mark_start->tv_sec)) < 0)
        return result;
    result = gc_lock_open(tree, &fd);
    if (result < 0)
        return result;
    result = gc_lock_acquire(fd, GC_LOCK_EXCLUSIVE);
    if (result == 0)
        gc_lock_release(fd);
    close(fd);
    return result;
}

/* ---- the state of one sweep ---- */

struct sweep {
    const struct tree *tree;
    struct blob_store *store;
    struct gc_mark *mark;
    const struct gc_sweep_options *options;
    struct gc_sweep_result *result;
    long long now;
    long long cutoff;
    /* The lock, held in batches. */
    int lock_fd;
    int lock_held;
    struct timespec lock_since;
    size_t lock_count;
    size_t batch_max;
    long batch_milliseconds;
    struct gc_digest_set deleted; /* blobs deleted (or that would be) */
    struct gc_digest_set present; /* blob directories the blob walk saw */
    struct string_list
        blob_directories_without_data; /* where a crashed put may have left a temporary */
    /* Who stopped uncleanly (run_marker.h), surveyed before the blobs: when
     * nobody did, there is no crash debris to look for. */
    struct run_marker_survey survey;
    int surveyed; /* 0, or the survey's error */
    enum gc_debris_walk debris_walk;
};

static int add_error(struct sweep *sweep, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int add_error(struct sweep *sweep, const char *format, ...)
{
    char text[ERROR_MESSAGE_MAX + 512];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    if (string_list_append(&sweep->result->errors, text) < 0)
        return error_set(-ENOMEM, "out of memory");
    return 0;
}

/* Takes the lock for a new batch when not held. 1 when it was just taken
 * (the caller re-checks what a writer may have changed), 0 when already
 * held (or a dry run), <0 when it cannot be taken. */
static int lock_enter(struct sweep *sweep)
{
    if (sweep->options->dry_run || sweep->lock_held)
        return 0;
    if (sweep->lock_fd < 0) {
        int result = gc_lock_open(sweep->tree, &sweep->lock_fd);
        if (result < 0)
            return result;
    }
    int result = gc_lock_acquire(sweep->lock_fd, GC_LOCK_EXCLUSIVE);
    if (result < 0)
        return result;
    sweep->lock_held = 1;
    sweep->lock_count = 0;
    clock_gettime(CLOCK_MONOTONIC, &sweep->lock_since);
    return 1;
}

static void lock_leave(struct sweep *sweep)
{
    if (sweep->lock_held) {
        gc_lock_release(sweep->lock_fd);
        sweep->lock_held = 0;
    }
}

/* One deletion (or check) done: ends the batch when it is full or old. */
static void lock_tick(struct sweep *sweep)
{
    if (!sweep->lock_held)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (long)((now.tv_sec - sweep->lock_since.tv_sec) * 1000 +
                          (now.tv_nsec - sweep->lock_since.tv_nsec) / 1000000);
    if (++sweep->lock_count >= sweep->batch_max || elapsed >= sweep->batch_milliseconds)
        lock_leave(sweep);
}

/* lstat's mtime in seconds; -ENOENT when absent. */
static int modified_seconds(const char *path, long long *seconds)
{
    struct stat status;
    if (lstat(path, &status) < 0) {
        int code = errno == ENOTDIR ? ENOENT : errno;
        return error_set(-code, "cannot stat %s: %s", path, strerror(code));
    }
    *seconds = (long long)status.st_mtim.tv_sec;
    return 0;
}

/* ---- revisions (--delete-untagged) ---- */

/* Under the lock: keeps what writers made reachable since the mark — every
 * current tag's target and every revision whose link is younger than the
 * cutoff (pushed or re-pushed since) — with everything they reach. 1 with
 * an error recorded when the repository cannot be re-checked (nothing of it
 * is deleted then), 0, or -ENOMEM. */
static int remark_repository(struct sweep *sweep, struct gc_repository *repository)
{
    struct gc_mark *mark = sweep->mark;
    /* An evicting repository keeps what was pulled since its pulled_since
     * (the revision link's time), besides what is younger than the cutoff. */
    long long keep_since = repository->pulled_since != 0 && repository->pulled_since < sweep->cutoff
                               ? repository->pulled_since
                               : sweep->cutoff;
    struct string_list tags = {0};
    struct digest_list revisions = {0};
    int result = walk_tags(sweep->tree, repository->name, &tags), failed = 0;
    if (result < 0) {
        failed = 1;
        result = add_error(sweep, "%s: cannot list tags: %s", repository->name, error_message());
    }
    for (size_t i = 0; i < tags.count && result == 0 && !failed; i++) {
        char path[TREE_PATH_MAX];
        struct digest target;
        int read = tree_path_tag_current_link(sweep->tree, repository->name, tags.items[i], path);
        if (read == 0)
            read = link_file_read(path, &target);
        long long pulled = 0;
        if (read == 0 && repository->pulled_since != 0) {
            /* A tag of an evicting repository keeps its target only when
             * that was pulled (or stored) since. */
            int pulled_read =
                repository_manifest_pulled_at(sweep->tree, repository->name, &target, &pulled);
            if (pulled_read == -ENOENT)
                continue;
            if (pulled_read < 0) {
                failed = 1;
                result = add_error(sweep, "%s: %s", repository->name, error_message());
                continue;
            }
            if (pulled < keep_since)
                continue;
        }
        if (read == 0)
            result = gc_mark_keep(mark, sweep->tree, sweep->store, repository, &target);
        else if (read == -EINVAL)
            repository->all_revisions_kept = 1;
        else if (read != -ENOENT) {
            failed = 1;
            result = add_error(sweep, "%s: tag %s: %s", repository->name, tags.items[i],
                               error_message());
        }
    }
    if (result == 0 && !failed && walk_revisions(sweep->tree, repository->name, &revisions) < 0) {
        failed = 1;
        result =
            add_error(sweep, "%s: cannot list revisions: %s", repository->name, error_message());
    }
    for (size_t i = 0; i < revisions.count && result == 0 && !failed; i++) {
        const struct digest *digest = &revisions.items[i];
        char path[TREE_PATH_MAX];
        long long modified = 0;
        if (gc_digest_set_contains(&repository->kept, digest))
            continue;
        int status = tree_path_revision_link(sweep->tree, repository->name, digest, path);
        if (status == 0)
            status = modified_seconds(path, &modified);
        if (status == -ENOENT)
            continue;
        if (status < 0) {
            failed = 1;
            result = add_error(sweep, "%s: %s", repository->name, error_message());
        } else if (modified >= keep_since || repository->all_revisions_kept) {
            result = gc_mark_keep(mark, sweep->tree, sweep->store, repository, digest);
        }
    }
    string_list_clear(&tags);
    digest_list_clear(&revisions);
    if (result < 0)
        return result;
    if (!gc_mark_is_complete(mark))
        failed = 1; /* a manifest reached now could not be read */
    return failed ? 1 : 0;
}

static int record_revision(struct sweep *sweep, const char *name, const struct digest *digest)
{
    struct gc_sweep_result *result = sweep->result;
    if (result->revision_count == result->revision_capacity) {
        size_t capacity = result->revision_capacity == 0 ? 16 : result->revision_capacity * 2;
        struct gc_deleted_revision *grown = realloc(result->revisions, capacity * sizeof *grown);
        if (grown == NULL)
            return error_set(-ENOMEM, "out of memory");
        result->revisions = grown;
        result->revision_capacity = capacity;
    }
    struct gc_deleted_revision *entry = &result->revisions[result->revision_count];
    entry->name = strdup(name);
    if (entry->name == NULL)
        return error_set(-ENOMEM, "out of memory");
    entry->digest = *digest;
    result->revision_count++;
    return 0;
}

/* Removes a link (and its now-empty parents, short of `stop_at`) if it is
 * there. 1 removed, 0 absent, <0 failed. */
static int remove_link_if_present(const char *path, const char *stop_at)
{
    int exists = link_file_exists(path);
    if (exists <= 0)
        return exists;
    int result = link_file_remove(path, stop_at);
    return result < 0 ? result : 1;
}

/* Under the lock, after the re-check: deletes the revision as
 * DELETE /v2/<name>/manifests/<digest> does (src/registry/repository.h: its
 * tags' index entries, its referrer entry, then the revision link), with the
 * GC's rule that a manifest a tag names is never deleted — except when it is
 * evicted, which deletes the tags naming it too. Returns 1 when the
 * revision was removed, 0 when it was already gone (or is tagged after all),
 * <0 (error recorded, or out of memory). */
static int delete_revision(struct sweep *sweep, struct gc_repository *repository,
                           struct gc_revision *revision)
{
    const char *name = repository->name;
    char link[TREE_PATH_MAX];
    int result = tree_path_revision_link(sweep->tree, name, &revision->digest, link);
    if (result == 0)
        result = link_file_exists(link);
    if (result <= 0)
        return result < 0 ? add_error(sweep, "%s: %s", name, error_message()) : 0;
    if (sweep->options->dry_run)
        return 1;
    struct manifest_deletion how = {
        .untagged_only = repository->pulled_since == 0,
        .subject_known = revision->subject_state == GC_SUBJECT_PRESENT ||
                         revision->subject_state == GC_SUBJECT_NONE,
        .has_subject = revision->subject_state == GC_SUBJECT_PRESENT,
        .subject = revision->subject,
    };
    result =
        repository_delete_manifest_as(sweep->tree, sweep->store, name, &revision->digest, &how);
    if (result == -REGISTRY_ERROR_MANIFEST_UNKNOWN)
        return 0;
    if (result == -ENOMEM)
        return result;
    if (result == -EBUSY) /* the re-check keeps what a tag names: never here */
        return add_error(sweep, "%s: %s: kept", name, error_message()) < 0 ? -ENOMEM : 0;
    if (result < 0)
        return add_error(sweep, "%s: cannot delete revision %s: %s", name, revision->digest.string,
                         error_message()) < 0
                   ? -ENOMEM
                   : -EIO;
    return 1;
}

/* Revisions: with --delete-untagged those no tag reaches, in evicting
 * repositories those not pulled since (gc_mark.h). */
static int sweep_revisions(struct sweep *sweep)
{
    struct gc_mark *mark = sweep->mark;
    int result = 0;
    for (size_t r = 0; r < mark->repository_count && result >= 0; r++) {
        struct gc_repository *repository = &mark->repositories[r];
        if (!mark->delete_untagged && repository->pulled_since == 0)
            continue;
        int remarked = 0, skip = 0;
        for (size_t i = 0; i < repository->revision_count && result >= 0 && !skip; i++) {
            struct gc_revision *revision = &repository->revisions[i];
            if (gc_digest_set_contains(&repository->kept, &revision->digest))
                continue;
            int entered = lock_enter(sweep);
            if (entered < 0) {
                result = add_error(sweep, "cannot take the GC lock: %s", error_message());
                skip = 1;
                break;
            }
            if (entered == 1 || !remarked) {
                result = remark_repository(sweep, repository);
                remarked = 1;
                if (result == 1) {
                    skip = 1; /* recorded: nothing of this repository is deleted */
                    result = 0;
                    break;
                }
                if (result < 0)
                    break;
            }
            if (gc_digest_set_contains(&repository->kept, &revision->digest))
                continue;
            /* The subject, for its referrer entry (read before the link goes). */
            if ((result = gc_mark_revision_subject(mark, sweep->store, repository, revision)) < 0)
                break;
            int removed = delete_revision(sweep, repository, revision);
            if (removed < 0) {
                result = removed == -ENOMEM ? removed : 0;
            } else if (removed == 1) {
                result = record_revision(sweep, repository->name, &revision->digest);
                if (repository->pulled_since != 0)
                    sweep->result->evicted++;
            }
            lock_tick(sweep);
        }
        lock_leave(sweep);
    }
    return result < 0 ? result : 0;
}

/* ---- blobs ---- */

struct candidates {
    struct sweep *sweep;
    struct gc_deleted_blob *items;
    size_t count;
    size_t capacity;
};

static int visit_blob(const struct digest *digest, const struct blob_info *listed, void *context)
{
    struct candidates *candidates = context;
    struct sweep *sweep = candidates->sweep;
    int marked = gc_digest_set_contains(&sweep->mark->blobs, digest);
    /* An object store's listing carries size and LastModified; the
     * filesystem's is stat'ed here: unmarked blobs always (their age), and
     * marked ones too when crash debris is looked for, since a directory
     * without data (a put or a sweep killed midway) is no blob and the
     * _layers links to it are dangling. */
    struct blob_info info;
    int result;
    if (listed == NULL && marked && sweep->debris_walk == GC_DEBRIS_WALK_SKIPPED) {
        result = gc_digest_set_add(&sweep->present, digest);
        return result < 0 ? result : 0;
    }
    if (listed != NULL) {
        info = *listed;
        result = 0;
    } else
        result = blob_store_stat(sweep->store, digest, &info);
    if (result == -ENOENT) {
        /* A blob directory without data (a sweep or a put killed midway):
         * nothing to reclaim, but a crashed put may have left its temporary
         * there, and once that is gone the directory goes. */
        char path[TREE_PATH_MAX];
        if (tree_path_blob_directory(sweep->tree, digest, path) == 0 &&
            string_list_append(&sweep->blob_directories_without_data, path) < 0)
            return error_set(-ENOMEM, "out of memory");
        return 0;
    }
    if (result < 0)
        return marked ? 0 : add_error(sweep, "%s", error_message());
    if ((result = gc_digest_set_add(&sweep->present, digest)) < 0)
        return result;
    if (marked)
        return 0;
    if (info.modified_seconds >= sweep->cutoff)
        return 0;
    if (candidates->count == candidates->capacity) {
        size_t capacity = candidates->capacity == 0 ? 256 : candidates->capacity * 2;
        struct gc_deleted_blob *grown = realloc(candidates->items, capacity * sizeof *grown);
        if (grown == NULL)
            return error_set(-ENOMEM, "out of memory");
        candidates->items = grown;
        candidates->capacity = capacity;
    }
    candidates->items[candidates->count].digest = *digest;
    candidates->items[candidates->count].size = info.size;
    candidates->count++;
    return 0;
}

static int compare_deleted_blobs(const void *a, const void *b)
{
    return strcmp(((const struct gc_deleted_blob *)a)->digest.string,
                  ((const struct gc_deleted_blob *)b)->digest.string);
}

static int sweep_blobs(struct sweep *sweep)
{
    struct candidates candidates = {.sweep = sweep};
    struct gc_sweep_result *result = sweep->result;
    int status = blob_store_list(sweep->store, visit_blob, &candidates);
    if (status == -ENOMEM) {
        free(candidates.items);
        return status;
    }
    if (status < 0) {
        /* The listing stopped part way: what was found is still safe to
         * sweep (each candidate is re-checked), the rest waits for next time. */
        if ((status = add_error(sweep, "cannot list blobs: %s", error_message())) < 0) {
            free(candidates.items);
            return status;
        }
    }
    if (candidates.count > 1)
        qsort(candidates.items, candidates.count, sizeof *candidates.items, compare_deleted_blobs);
    if (sweep->options->before_blob_deletion != NULL)
        sweep->options->before_blob_deletion(sweep->options->hook_context);

    result->blobs = candidates.items; /* deleted ones are compacted to the front */
    result->blob_capacity = candidates.capacity;
    result->blob_count = 0;
    status = 0;
    for (size_t i = 0; i < candidates.count && status == 0; i++) {
        struct gc_deleted_blob candidate = candidates.items[i];
        if (lock_enter(sweep) < 0) {
            status = add_error(sweep, "cannot take the GC lock: %s", error_message());
            break;
        }
        /* A dry run holds no lock, so a re-check would protect nothing: the
         * listing's stat stands. */
        struct blob_info info = {.size = candidate.size};
        int checked = gc_digest_set_contains(&sweep->mark->blobs, &candidate.digest) ? 1
                      : sweep->options->dry_run
                          ? 0
                          : blob_store_stat(sweep->store, &candidate.digest, &info);
        if (checked == 0 && info.modified_seconds >= sweep->cutoff) {
            result->kept_freshened++;
        } else if (checked == 0) {
            candidate.size = info.size;
            int removed =
                sweep->options->dry_run ? 0 : blob_store_remove(sweep->store, &candidate.digest);
            if (removed == 0) {
                result->blobs[result->blob_count++] = candidate;
                result->bytes += (uint64_t)candidate.size;
                status = gc_digest_set_add(&sweep->deleted, &candidate.digest);
                status = status < 0 ? status : 0;
            } else if (removed != -ENOENT) {
                status = add_error(sweep, "%s", error_message());
            }
        } else if (checked < 0 && checked != -ENOENT) {
            status = add_error(sweep, "%s", error_message());
        }
        lock_tick(sweep);
    }
    lock_leave(sweep);
    return status;
}

/* ---- _layers links to absent blobs ---- */

static int sweep_layer_links(struct sweep *sweep)
{
    int status = 0;
    for (size_t r = 0; r < sweep->mark->repository_count && status == 0; r++) {
        const char *name = sweep->mark->repositories[r].name;
        struct digest_list layers = {0};
        char layers_directory[TREE_PATH_MAX];
        if (walk_layers(sweep->tree, name, &layers) < 0 ||
            tree_path_layers_directory(sweep->tree, name, layers_directory) < 0) {
            status = add_error(sweep, "%s: cannot list the layer links: %s", name, error_message());
            digest_list_clear(&layers);
            continue;
        }
        for (size_t i = 0; i < layers.count && status == 0; i++) {
            const struct digest *digest = &layers.items[i];
            struct blob_info info;
            int absent;
            int seen = gc_digest_set_contains(&sweep->present, digest) &&
                       !gc_digest_set_contains(&sweep->deleted, digest);
            if (seen)
                continue; /* the blob walk saw it, and it was not deleted */
            if (sweep->options->dry_run) {
                absent = gc_digest_set_contains(&sweep->deleted, digest) ||
                         blob_store_stat(sweep->store, digest, &info) == -ENOENT;
            } else {
                /* Cheap check first, without the lock. */
                int present = blob_store_stat(sweep->store, digest, &info);
                if (present != -ENOENT)
                    continue;
                if (lock_enter(sweep) < 0) {
                    status = add_error(sweep, "cannot take the GC lock: %s", error_message());
                    break;
                }
                /* Under the lock: an upload may have re-created it. */
                absent = blob_store_stat(sweep->store, digest, &info) == -ENOENT;
            }
            if (absent) {
                char link[TREE_PATH_MAX];
                int removed = tree_path_layer_link(sweep->tree, name, digest, link);
                if (removed == 0)
                    removed = sweep->options->dry_run
                                  ? link_file_exists(link)
                                  : remove_link_if_present(link, layers_directory);
                if (removed == 1)
                    sweep->result->layer_links++;
                else if (removed < 0)
                    status = add_error(sweep, "%s: %s", name, error_message());
            }
            lock_tick(sweep);
        }
        lock_leave(sweep);
        digest_list_clear(&layers);
    }
    return status;
}

/* ---- uploads ---- */

static int sweep_uploads(struct sweep *sweep)
{
    struct upload_purge_result purged = {0};
    int result = upload_purge(sweep->tree, sweep->options->uploads_older_than_seconds, sweep->now,
                              sweep->options->dry_run, NULL, NULL, &purged);
    sweep->result->uploads = purged.removed;
    if (result < 0)
        return add_error(sweep, "uploads: %s", error_message());
    if (purged.failures > 0)
        return add_error(sweep, "uploads: %lu could not be removed", purged.failures);
    return 0;
}

/* ---- leftover temporaries ---- */

/* When a leftover last changed: a temporary's mtime (its last write); for a
 * hidden tag entry the later of mtime and ctime too (a rename, which moves
 * a tag directory aside, keeps its mtime but not its ctime). */
static long long debris_changed(const struct stat *status, int hidden)
{
    long long changed = (long long)status->st_mtim.tv_sec;
    if (hidden && (long long)status->st_ctim.tv_sec > changed)
        changed = (long long)status->st_ctim.tv_sec;
    return changed;
}

/* Whether `path` is a leftover to remove: a regular temporary file (any
 * entry when `hidden`) last changed before the cutoff. */
static int is_old_debris(struct sweep *sweep, const char *path, int hidden, struct stat *status)
{
    return lstat(path, status) == 0 && (hidden || S_ISREG(status->st_mode)) &&
           debris_changed(status, hidden) < sweep->cutoff;
}

/* Removes the leftover `path` under the lock, after checking again there
 * that it is one (writers that hold the lock shared never leave one behind
 * while they hold it; the cutoff protects the others). */
static int remove_debris(struct sweep *sweep, const char *path, int hidden)
{
    struct stat status;
    if (sweep->options->dry_run) {
        sweep->result->temporary_files++;
        return 0;
    }
    if (lock_enter(sweep) < 0)
        return add_error(sweep, "cannot take the GC lock: %s", error_message());
    int result = 0;
    if (is_old_debris(sweep, path, hidden, &status)) {
        int removed = 0;
        if (S_ISDIR(status.st_mode))
            removed = directory_remove_tree(path);
        else if (unlink(path) < 0 && errno != ENOENT)
            removed = error_set(-errno, "cannot remove %s: %s", path, strerror(errno));
        if (removed == 0)
            sweep->result->temporary_files++;
        else
            result = add_error(sweep, "%s", error_message());
    }
    lock_tick(sweep);
    return result;
}

/* Every leftover of an interrupted write anywhere in the tree: atomic_file
 * temporaries (a crash between writing one and renaming it: in blob, link,
 * tag and upload directories alike) and the hidden entries an interrupted
 * atomic tag change leaves in a tags directory, last changed before the
 * cutoff (older than the grace, and than the mark's start). One readdir per
 * directory of the tree (layout/walk.h). */
static int walk_for_debris(struct sweep *sweep)
{
    struct string_list found = {0};
    int status = walk_temporary_files(sweep->tree, &found);
    if (status < 0 && status != -ENOMEM)
        status = add_error(sweep, "temporaries: %s", error_message()); /* sweep what was found */
    for (size_t i = 0; i < found.count && status >= 0; i++) {
        struct stat entry;
        if (is_old_debris(sweep, found.items[i], 0, &entry))
            status = remove_debris(sweep, found.items[i], 0);
    }
    string_list_clear(&found);
    for (size_t r = 0; r < sweep->mark->repository_count && status >= 0; r++) {
        const char *name = sweep->mark->repositories[r].name;
        struct string_list hidden = {0};
        char tags[TREE_PATH_MAX], path[TREE_PATH_MAX];
        status = walk_hidden_tag_entries(sweep->tree, name, &hidden);
        if (status == 0)
            status = tree_path_tags_directory(sweep->tree, name, tags);
        if (status < 0 && status != -ENOMEM)
            status = add_error(sweep, "%s: %s", name, error_message());
        for (size_t i = 0; i < hidden.count && status >= 0; i++) {
            struct stat entry;
            if (tree_path_child(tags, hidden.items[i], path) == 0 &&
                is_old_debris(sweep, path, 1, &entry))
                status = remove_debris(sweep, path, 1);
        }
        string_list_clear(&hidden);
    }
    lock_leave(sweep);
    return status < 0 ? status : 0;
}

const char *gc_debris_walk_name(enum gc_debris_walk walk)
{
    switch (walk) {
    case GC_DEBRIS_WALK_SKIPPED:
        return "skipped";
    case GC_DEBRIS_WALK_STOPPED:
        return "unclean stop";
    case GC_DEBRIS_WALK_HISTORY:
        return "unknown history";
    case GC_DEBRIS_WALK_ASKED:
        return "asked";
    }
    return "unknown";
}

/* Whether to walk for debris (run_marker.h), decided before the blobs. */
static void survey_debris(struct sweep *sweep)
{
    sweep->surveyed =
        run_marker_survey(sweep->tree, !sweep->options->dry_run, sweep->now, &sweep->survey);
    if (sweep->surveyed < 0)
        add_error(sweep, "who wrote the tree: %s", error_message());
    sweep->debris_walk = sweep->options->full_walk ? GC_DEBRIS_WALK_ASKED
                         : sweep->surveyed < 0 || sweep->survey.unknown_history
                             ? GC_DEBRIS_WALK_HISTORY
                         : sweep->survey.count > 0 ? GC_DEBRIS_WALK_STOPPED
                                                   : GC_DEBRIS_WALK_SKIPPED;
    sweep->result->debris_walk = sweep->debris_walk;
    sweep->result->unclean_stops = sweep->surveyed < 0 ? 0 : sweep->survey.count;
}

/* Walks for debris when a writer may have left some; after a complete walk
 * (not a dry run) the stops it covered are forgotten. */
static int sweep_temporaries(struct sweep *sweep)
{
    if (sweep->debris_walk == GC_DEBRIS_WALK_SKIPPED)
        return 0;
    size_t errors_before = sweep->result->errors.count;
    int status = walk_for_debris(sweep);
    if (status == 0 && sweep->surveyed == 0 && !sweep->options->dry_run &&
        sweep->result->errors.count == errors_before &&
        run_marker_forget(&sweep->survey, sweep->cutoff) < 0)
        add_error(sweep, "%s", error_message());
    return status;
}

/* ---- directories left empty ---- */

/* Whether the repository has a revision or a tag (then its `_manifests`
 * stays as it is). Errors count as live. */
static int repository_is_live(struct sweep *sweep, const char *name)
{
    struct digest_list revisions = {0};
    struct string_list tags = {0};
    int live = 0;
    if (walk_revisions(sweep->tree, name, &revisions) < 0 ||
        walk_tags(sweep->tree, name, &tags) < 0)
        live = 1;
    for (size_t i = 0; i < revisions.count && !live; i++) {
        char path[TREE_PATH_MAX];
        live = tree_path_revision_link(sweep->tree, name, &revisions.items[i], path) < 0 ||
               link_file_exists(path) != 0;
    }
    for (size_t i = 0; i < tags.count && !live; i++) {
        char path[TREE_PATH_MAX];
        live = tree_path_tag_current_link(sweep->tree, name, tags.items[i], path) < 0 ||
               link_file_exists(path) != 0;
    }
    digest_list_clear(&revisions);
    string_list_clear(&tags);
    return live;
}

/* Removes `path` under the lock if it is empty (rmdir refuses otherwise); a
 * dry run counts it when `empty_now`. 1 removed, 0 not, -ENOMEM. */
static int remove_if_empty(struct sweep *sweep, const char *path, int empty_now)
{
    if (sweep->options->dry_run) {
        if (empty_now)
            sweep->result->directories++;
        return empty_now;
    }
    if (lock_enter(sweep) < 0)
        return add_error(sweep, "cannot take the GC lock: %s", error_message());
    int removed = 0, status = 0;
    if (rmdir(path) == 0) {
        removed = 1;
        sweep->result->directories++;
    } else if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT) {
        status = add_error(sweep, "cannot remove %s: %s", path, strerror(errno));
    }
    lock_tick(sweep);
    return status < 0 ? status : removed;
}

enum prune_depth {
    PRUNE_SELF,      /* only the directory itself, if empty */
    PRUNE_ONE_LEVEL, /* its empty subdirectories, then itself */
    PRUNE_ALL,       /* everything below, bottom-up (a dead repository's _manifests) */
};

/* Removes empty directories in and including `path`. 1 when `path` is gone
 * (or would be), 0 when not, -ENOMEM. */
static int prune(struct sweep *sweep, const char *path, enum prune_depth depth, int nesting)
{
    if (depth == PRUNE_SELF)
        return remove_if_empty(sweep, path,
                               sweep->options->dry_run && walk_directory_is_empty(path));
    struct string_list directories = {0}, files = {0};
    int status = walk_directory_entries(path, &directories, &files);
    if (status < 0) {
        string_list_clear(&directories);
        string_list_clear(&files);
        return status == -ENOMEM ? status : add_error(sweep, "%s", error_message());
    }
    int everything_removed = files.count == 0;
    for (size_t i = 0; i < directories.count && status >= 0; i++) {
        char child[TREE_PATH_MAX];
        if (tree_path_child(path, directories.items[i], child) < 0 || nesting > 64) {
            everything_removed = 0;
            continue;
        }
        status = prune(sweep, child, depth == PRUNE_ALL ? PRUNE_ALL : PRUNE_SELF, nesting + 1);
        everything_removed &= status == 1;
    }
    string_list_clear(&directories);
    string_list_clear(&files);
    if (status < 0)
        return status;
    return everything_removed ? remove_if_empty(sweep, path, 1) : 0;
}

/* A directory of the name hierarchy under repositories/ (`name` is its
 * repository name, "" for repositories/ itself): a repository's own
 * directories are pruned by their kind, nested names recursively, and the
 * directory itself goes when that leaves it empty. 1 removed, 0 not,
 * -ENOMEM. */
static int prune_names(struct sweep *sweep, const char *path, const char *name, int nesting)
{
    struct string_list directories = {0}, files = {0};
    int status = walk_directory_entries(path, &directories, &files);
    if (status < 0) {
        string_list_clear(&directories);
        string_list_clear(&files);
        return status == -ENOMEM ? status : add_error(sweep, "%s", error_message());
    }
    int everything_removed = files.count == 0, live = -1;
    for (size_t i = 0; i < directories.count && status >= 0; i++) {
        const char *entry = directories.items[i];
        enum tree_repository_entry kind = tree_repository_entry_kind(entry);
        char child[TREE_PATH_MAX];
        if (tree_path_child(path, entry, child) < 0 || nesting > 128) {
            everything_removed = 0;
            continue;
        }
        if ((kind == TREE_ENTRY_MANIFESTS || kind == TREE_ENTRY_UPLOADS) && live < 0)
            live = name[0] == '\0' || repository_is_live(sweep, name);
        if (kind == TREE_ENTRY_MANIFESTS) {
            status = live ? 0 : prune(sweep, child, PRUNE_ALL, 0);
        } else if (kind == TREE_ENTRY_LAYERS) {
            status = prune(sweep, child, PRUNE_ONE_LEVEL, 0);
        } else if (kind == TREE_ENTRY_UPLOADS) {
            /* A live repository's only once idle for an hour: the server
             * removes a finished upload's directory, then syncs _uploads,
             * outside the lock (a dead repository's goes now, so that it
             * leaves the tree in this run). */
            long long modified = 0;
            status = !live || (modified_seconds(child, &modified) == 0 &&
                               modified < sweep->now - GC_TEMPORARY_FILE_SECONDS)
                         ? prune(sweep, child, PRUNE_SELF, 0)
                         : 0;
        } else if (kind == TREE_ENTRY_RESERVED) {
            status = 0; /* not ours */
        } else {
            char child_name[TREE_PATH_MAX];
            snprintf(child_name, sizeof child_name, "%s%s%s", name, name[0] ? "/" : "", entry);
            status = prune_names(sweep, child, child_name, nesting + 1);
        }
        everything_removed &= status == 1;
    }
    string_list_clear(&directories);
    string_list_clear(&files);
    if (status < 0)
        return status;
    if (name[0] == '\0' || !everything_removed)
        return 0; /* repositories/ itself always stays */
    return remove_if_empty(sweep, path, 1);
}

static int sweep_directories(struct sweep *sweep)
{
    char path[TREE_PATH_MAX];
    /* Blob directories without data, now that their temporaries are gone
     * (a commit or a put creates one under the lock, shared, just before it
     * renames `data` in: rmdir under the lock exclusive never meets one). */
    const struct string_list *blobs = &sweep->blob_directories_without_data;
    for (size_t i = 0; i < blobs->count; i++)
        if (prune(sweep, blobs->items[i], PRUNE_SELF, 0) < 0)
            return -ENOMEM;
    if (tree_path_repositories(sweep->tree, path) < 0)
        return add_error(sweep, "%s", error_message());
    int result = prune_names(sweep, path, "", 0);
    lock_leave(sweep);
    return result < 0 ? result : 0;
}

/* ---- the run ---- */

static int compare_deleted_revisions(const void *a, const void *b)
{
    const struct gc_deleted_revision *left = a, *right = b;
    int order = strcmp(left->digest.string, right->digest.string);
    return order != 0 ? order : strcmp(left->name, right->name);
}

int gc_sweep_run(const struct tree *tree, struct blob_store *store, struct gc_mark *mark,
                 const struct gc_sweep_options *options, struct gc_sweep_result *result)
{
    memset(result, 0, sizeof *result);
    struct sweep sweep = {
        .tree = tree,
        .store = store,
        .mark = mark,
        .options = options,
        .result = result,
        .now = options->now != 0 ? options->now : (long long)time(NULL),
        .lock_fd = -1,
        .batch_max = options->batch_max != 0 ? options->batch_max : GC_SWEEP_BATCH_MAX,
        .batch_milliseconds = options->batch_milliseconds != 0 ? options->batch_milliseconds
                                                               : GC_SWEEP_BATCH_MILLISECONDS,
    };
    sweep.cutoff = gc_sweep_cutoff(sweep.now, options->grace_seconds, &options->mark_start);
    result->cutoff = sweep.cutoff;
    int status = 0;
    /* Deletions need not be durable one by one (a lost one is garbage that
     * the next run removes): one syncfs at the end instead of an fsync per
     * removed blob and link. */
    if (!options->dry_run)
        directory_sync_defer();
    survey_debris(&sweep);
    if (gc_mark_is_complete(mark)) {
        status = sweep_revisions(&sweep);
        /* A revision re-check may have found the mark incomplete. */
        if (status == 0 && gc_mark_is_complete(mark))
            status = sweep_blobs(&sweep);
        if (status == 0 && gc_mark_is_complete(mark))
            status = sweep_layer_links(&sweep);
    } else {
        status = add_error(&sweep, "the mark is incomplete: no blob, link or revision deleted");
    }
    if (status == 0)
        status = sweep_uploads(&sweep);
    if (status == 0)
        status = sweep_temporaries(&sweep);
    if (status == 0 && gc_mark_is_complete(mark))
        status = sweep_directories(&sweep);
    lock_leave(&sweep);
    if (sweep.lock_fd >= 0)
        close(sweep.lock_fd);
    if (!options->dry_run && directory_sync_deferred_flush(tree->root) < 0 && status == 0)
        status = add_error(&sweep, "%s", error_message());
    gc_digest_set_clear(&sweep.deleted);
    gc_digest_set_clear(&sweep.present);
    string_list_clear(&sweep.blob_directories_without_data);
    if (sweep.surveyed == 0)
        run_marker_survey_release(&sweep.survey);
    if (result->revision_count > 1)
        qsort(result->revisions, result->revision_count, sizeof *result->revisions,
              compare_deleted_revisions);
    return status;
}

void gc_sweep_result_release(struct gc_sweep_result *result)
{
    free(result->blobs);
    for (size_t i = 0; i < result->revision_count; i++)
        free(result->revisions[i].name);
    free(result->revisions);
    string_list_clear(&result->errors);
    memset(result, 0, sizeof *result);
}

/* tools/gc_mark.c — see gc_mark.h. */
#include "tools/gc_mark.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout/error.h"
#include "layout/link_file.h"
#include "layout/manifest.h"
#include "src/registry/mirror.h"
#include "src/registry/repository.h"
#include "src/registry/stored_manifest.h"

/* ---- digest set ---- */

static uint64_t digest_hash(const struct digest *digest)
{
    /* The hex of a cryptographic digest is uniformly distributed: its first
     * 16 digits are a hash already. */
    const char *hex = digest_hex(digest);
    uint64_t value = 0;
    for (int i = 0; i < 16 && hex[i] != '\0'; i++) {
        char c = hex[i];
        value = value << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return value ^ (uint64_t)digest->algorithm;
}

static int slot_matches(const struct gc_digest_set *set, uint32_t slot, const struct digest *digest)
{
    const struct digest *item = &set->items[slot - 1];
    return item->algorithm == digest->algorithm && item->string_length == digest->string_length &&
           memcmp(item->string, digest->string, digest->string_length) == 0;
}

static void slots_insert(uint32_t *slots, size_t slot_count, const struct digest *digest,
                         uint32_t value)
{
    size_t mask = slot_count - 1, position = (size_t)digest_hash(digest) & mask;
    while (slots[position] != 0)
        position = (position + 1) & mask;
    slots[position] = value;
}

static int slots_rebuild(struct gc_digest_set *set, size_t slot_count)
{
    uint32_t *slots = calloc(slot_count, sizeof *slots);
    if (slots == NULL)
        return error_set(-ENOMEM, "out of memory");
    for (size_t i = 0; i < set->count; i++)
        slots_insert(slots, slot_count, &set->items[i], (uint32_t)(i + 1));
    free(set->slots);
    set->slots = slots;
    set->slot_count = slot_count;
    return 0;
}

int gc_digest_set_contains(const struct gc_digest_set *set, const struct digest *digest)
{
    if (set->slot_count == 0)
        return 0;
    size_t mask = set->slot_count - 1, position = (size_t)digest_hash(digest) & mask;
    for (uint32_t slot; (slot = set->slots[position]) != 0; position = (position + 1) & mask)
        if (slot_matches(set, slot, digest))
            return 1;
    return 0;
}

int gc_digest_set_add(struct gc_digest_set *set, const struct digest *digest)
{
    if (gc_digest_set_contains(set, digest))
        return 0;
    if (set->count >= UINT32_MAX - 1)
        return error_set(-ENOMEM, "too many digests");
    if (set->count == set->capacity) {
        size_t capacity = set->capacity == 0 ? 64 : set->capacity * 2;
        struct digest *items = realloc(set->items, capacity * sizeof *items);
        if (items == NULL)
            return error_set(-ENOMEM, "out of memory");
        set->items = items;
        set->capacity = capacity;
    }
    if ((set->count + 1) * 2 > set->slot_count) {
        int result = slots_rebuild(set, set->slot_count == 0 ? 128 : set->slot_count * 2);
        if (result < 0)
            return result;
    }
    set->items[set->count] = *digest;
    set->count++;
    slots_insert(set->slots, set->slot_count, digest, (uint32_t)set->count);
    return 1;
}

static int compare_digests(const void *a, const void *b)
{
    return strcmp(((const struct digest *)a)->string, ((const struct digest *)b)->string);
}

void gc_digest_set_sort(struct gc_digest_set *set)
{
    if (set->count < 2)
        return;
    qsort(set->items, set->count, sizeof *set->items, compare_digests);
    /* Same size: rebuilding cannot fail for memory if we reuse the table. */
    memset(set->slots, 0, set->slot_count * sizeof *set->slots);
    for (size_t i = 0; i < set->count; i++)
        slots_insert(set->slots, set->slot_count, &set->items[i], (uint32_t)(i + 1));
}

void gc_digest_set_clear(struct gc_digest_set *set)
{
    free(set->items);
    free(set->slots);
    memset(set, 0, sizeof *set);
}

/* ---- mark ---- */

void gc_mark_init(struct gc_mark *mark, int delete_untagged)
{
    memset(mark, 0, sizeof *mark);
    mark->delete_untagged = delete_untagged;
}

static void repository_release(struct gc_repository *repository)
{
    free(repository->name);
    free(repository->revisions);
    gc_digest_set_clear(&repository->kept);
    gc_digest_set_clear(&repository->subjects);
}

void gc_mark_release(struct gc_mark *mark)
{
    for (size_t i = 0; i < mark->repository_count; i++)
        repository_release(&mark->repositories[i]);
    free(mark->repositories);
    gc_digest_set_clear(&mark->blobs);
    string_list_clear(&mark->errors);
    memset(mark, 0, sizeof *mark);
}

int gc_mark_add_error(struct gc_mark *mark, const char *format, ...)
{
    char text[ERROR_MESSAGE_MAX + 512];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    if (string_list_append(&mark->errors, text) < 0)
        return error_set(-ENOMEM, "out of memory");
    return 0;
}

int gc_mark_is_complete(const struct gc_mark *mark)
{
    return mark->errors.count == 0;
}

struct gc_repository *gc_mark_find_repository(struct gc_mark *mark, const char *name)
{
    size_t low = 0, high = mark->repository_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int order = strcmp(mark->repositories[middle].name, name);
        if (order == 0)
            return &mark->repositories[middle];
        if (order < 0)
            low = middle + 1;
        else
            high = middle;
    }
    return NULL;
}

static int compare_revision_digest(const void *key, const void *element)
{
    const struct gc_revision *revision = element;
    return strcmp(((const struct digest *)key)->string, revision->digest.string);
}

struct gc_revision *gc_repository_find_revision(struct gc_repository *repository,
                                                const struct digest *digest)
{
    if (repository->revision_count == 0)
        return NULL;
    return bsearch(digest, repository->revisions, repository->revision_count,
                   sizeof *repository->revisions, compare_revision_digest);
}

int gc_repository_is_unpulled(struct gc_repository *repository, const struct digest *digest)
{
    if (repository->pulled_since == 0)
        return 0;
    const struct gc_revision *revision = gc_repository_find_revision(repository, digest);
    return revision == NULL || revision->pulled < repository->pulled_since;
}

/* When `name` is held by a mirror that evicts: the time before which its
 * manifests were not pulled recently enough; else 0. */
static long long pulled_since_of(const struct gc_mark *mark, const char *name)
{
    const struct upstream_settings *mirror =
        mirror_find_settings(mark->mirrors, mark->mirror_count, name);
    if (mirror == NULL || mirror->evict_after_seconds == 0)
        return 0;
    return mark->now - (long long)mirror->evict_after_seconds;
}

static int mark_blob(struct gc_mark *mark, const struct digest *digest)
{
    int result = gc_digest_set_add(&mark->blobs, digest);
    return result < 0 ? result : 0;
}

/* Every blob linked in the repository's _layers: what an unparseable
 * manifest might reference. */
static int mark_all_layers(struct gc_mark *mark, const struct tree *tree,
                           struct gc_repository *repository)
{
    if (repository->all_layers_marked)
        return 0;
    repository->all_layers_marked = 1;
    struct digest_list layers = {0};
    int result = walk_layers(tree, repository->name, &layers);
    if (result < 0) {
        result = gc_mark_add_error(mark, "%s: cannot list the layer links: %s", repository->name,
                                   error_message());
        digest_list_clear(&layers);
        return result;
    }
    for (size_t i = 0; i < layers.count && result == 0; i++)
        result = mark_blob(mark, &layers.items[i]);
    digest_list_clear(&layers);
    return result;
}

enum manifest_read {
    MANIFEST_READ_PARSED,
    MANIFEST_READ_MISSING,
    MANIFEST_READ_UNPARSEABLE,
    MANIFEST_READ_FAILED, /* recorded in errors */
};

/* Reads and parses a stored manifest. A -ENOMEM return means out of memory;
 * otherwise `*outcome` says what happened. */
static int read_manifest(struct gc_mark *mark, struct blob_store *store, const char *name,
                         const struct digest *digest, struct manifest *manifest,
                         enum manifest_read *outcome)
{
    int result = stored_manifest_parse(store, digest, manifest, NULL);
    if (result == 0) {
        *outcome = MANIFEST_READ_PARSED;
        return 0;
    }
    if (result == -ENOENT) {
        *outcome = MANIFEST_READ_MISSING;
        return 0;
    }
    if (stored_manifest_unparseable(result)) {
        *outcome = MANIFEST_READ_UNPARSEABLE;
        return 0;
    }
    if (result == -ENOMEM)
        return result;
    *outcome = MANIFEST_READ_FAILED;
    return gc_mark_add_error(mark, "%s: cannot read manifest %s: %s", name, digest->string,
                             error_message());
}

static int worklist_push(struct digest_list *worklist, const struct digest *digest)
{
    return digest_list_append(worklist, digest) < 0 ? error_set(-ENOMEM, "out of memory") : 0;
}

/* Keeps every manifest of the work list and what it reaches (no fixed
 * point over subjects: see subjects_fixed_point). */
static int keep_closure(struct gc_mark *mark, const struct tree *tree, struct blob_store *store,
                        struct gc_repository *repository, struct digest_list *worklist)
{
    int result = 0;
    while (worklist->count > 0 && result == 0) {
        struct digest digest = worklist->items[--worklist->count];
        result = gc_digest_set_add(&repository->kept, &digest);
        if (result <= 0)
            continue; /* already kept, or out of memory */
        result = 0;
        mark->manifests++;
        if ((result = mark_blob(mark, &digest)) < 0)
            break;
        struct manifest manifest;
        enum manifest_read outcome;
        if ((result = read_manifest(mark, store, repository->name, &digest, &manifest, &outcome)) <
            0)
            break;
        if (outcome == MANIFEST_READ_UNPARSEABLE) {
            mark->unparseable++;
            result = mark_all_layers(mark, tree, repository);
        } else if (outcome == MANIFEST_READ_PARSED) {
            for (size_t i = 0; i < manifest.reference_count && result == 0; i++) {
                const struct manifest_reference *reference = &manifest.references[i];
                if (reference->role == REFERENCE_MANIFEST)
                    result = worklist_push(worklist, &reference->descriptor.digest);
                else
                    result = mark_blob(mark, &reference->descriptor.digest);
            }
            manifest_release(&manifest);
        }
        if (result < 0)
            break;
        /* Referrers recorded for this subject (cairn's referrers index). */
        struct digest_list referrers = {0};
        if (gc_digest_set_contains(&repository->subjects, &digest) &&
            walk_referrers(tree, repository->name, &digest, &referrers) < 0)
            result = gc_mark_add_error(mark, "%s: cannot list referrers of %s: %s",
                                       repository->name, digest.string, error_message());
        for (size_t i = 0; i < referrers.count && result == 0; i++)
            if (!gc_digest_set_contains(&repository->kept, &referrers.items[i]))
                result = worklist_push(worklist, &referrers.items[i]);
        digest_list_clear(&referrers);
    }
    return result;
}

int gc_mark_revision_subject(struct gc_mark *mark, struct blob_store *store,
                             struct gc_repository *repository, struct gc_revision *revision)
{
    if (revision->subject_state != GC_SUBJECT_UNKNOWN)
        return 0;
    struct manifest manifest;
    enum manifest_read outcome;
    int result =
        read_manifest(mark, store, repository->name, &revision->digest, &manifest, &outcome);
    if (result < 0)
        return result;
    revision->subject_state = GC_SUBJECT_UNREADABLE;
    if (outcome == MANIFEST_READ_PARSED) {
        revision->subject_state = GC_SUBJECT_NONE;
        if (manifest.has_subject) {
            revision->subject_state = GC_SUBJECT_PRESENT;
            revision->subject = manifest.subject.digest;
        }
        manifest_release(&manifest);
    }
    return 0;
}

/* Keeps every revision whose subject is kept, until nothing changes (a
 * signature of a signature is kept too). */
static int subjects_fixed_point(struct gc_mark *mark, const struct tree *tree,
                                struct blob_store *store, struct gc_repository *repository)
{
    struct digest_list worklist = {0};
    int result = 0, changed = 1;
    while (changed && result == 0) {
        changed = 0;
        for (size_t i = 0; i < repository->revision_count && result == 0; i++) {
            struct gc_revision *revision = &repository->revisions[i];
            if (gc_digest_set_contains(&repository->kept, &revision->digest))
                continue;
            if ((result = gc_mark_revision_subject(mark, store, repository, revision)) < 0)
                break;
            if (revision->subject_state == GC_SUBJECT_PRESENT &&
                gc_digest_set_contains(&repository->kept, &revision->subject)) {
                result = worklist_push(&worklist, &revision->digest);
                if (result == 0)
                    result = keep_closure(mark, tree, store, repository, &worklist);
                changed = 1;
            }
        }
    }
    digest_list_clear(&worklist);
    return result;
}

int gc_mark_keep(struct gc_mark *mark, const struct tree *tree, struct blob_store *store,
                 struct gc_repository *repository, const struct digest *manifest)
{
    if (gc_digest_set_contains(&repository->kept, manifest))
        return 0;
    struct digest_list worklist = {0};
    int result = worklist_push(&worklist, manifest);
    if (result == 0)
        result = keep_closure(mark, tree, store, repository, &worklist);
    digest_list_clear(&worklist);
    if (result == 0)
        result = subjects_fixed_point(mark, tree, store, repository);
    return result;
}

/* Revisions that have a link (Distribution leaves empty revision
 * directories behind after a delete; those are not revisions). A link with
 * garbage is a revision all the same (its directory names the digest). */
static int load_revisions(struct gc_mark *mark, const struct tree *tree,
                          struct gc_repository *repository)
{
    struct digest_list listing = {0};
    int result = walk_revisions(tree, repository->name, &listing);
    if (result < 0) {
        digest_list_clear(&listing);
        return gc_mark_add_error(mark, "%s: cannot list revisions: %s", repository->name,
                                 error_message());
    }
    if (listing.count > 0) {
        repository->revisions = calloc(listing.count, sizeof *repository->revisions);
        if (repository->revisions == NULL) {
            digest_list_clear(&listing);
            return error_set(-ENOMEM, "out of memory");
        }
    }
    for (size_t i = 0; i < listing.count && result == 0; i++) {
        char path[TREE_PATH_MAX];
        result = tree_path_revision_link(tree, repository->name, &listing.items[i], path);
        if (result < 0) {
            result = gc_mark_add_error(mark, "%s: %s", repository->name, error_message());
            continue;
        }
        long long pulled = 0;
        int exists = 0;
        if (repository->pulled_since == 0) {
            exists = link_file_exists(path);
        } else {
            exists =
                repository_manifest_pulled_at(tree, repository->name, &listing.items[i], &pulled);
            exists = exists == 0 ? 1 : exists == -ENOENT ? 0 : exists;
        }
        if (exists < 0) {
            result = gc_mark_add_error(mark, "%s: %s", repository->name, error_message());
            continue;
        }
        if (exists == 1) {
            struct gc_revision *revision = &repository->revisions[repository->revision_count++];
            revision->digest = listing.items[i];
            revision->pulled = pulled;
        }
    }
    digest_list_clear(&listing);
    return result;
}

/* The roots of one repository: every revision (unless delete_untagged) and
 * every tag's current target; in an evicting repository only those pulled
 * since its pulled_since. */
static int collect_roots(struct gc_mark *mark, const struct tree *tree,
                         struct gc_repository *repository, struct digest_list *roots)
{
    struct string_list tags = {0};
    int result = walk_tags(tree, repository->name, &tags);
    if (result < 0) {
        string_list_clear(&tags);
        return gc_mark_add_error(mark, "%s: cannot list tags: %s", repository->name,
                                 error_message());
    }
    for (size_t i = 0; i < tags.count && result == 0; i++) {
        char path[TREE_PATH_MAX];
        struct digest target;
        result = tree_path_tag_current_link(tree, repository->name, tags.items[i], path);
        if (result == 0)
            result = link_file_read(path, &target);
        if (result == 0)
            result =
                gc_repository_is_unpulled(repository, &target) ? 0 : worklist_push(roots, &target);
        else if (result == -ENOENT)
            result = 0; /* a tag directory without `current`: no tag */
        else if (result == -EINVAL)
            repository->all_revisions_kept = 1, result = 0; /* target unknown: keep all */
        else
            result = gc_mark_add_error(mark, "%s: tag %s: %s", repository->name, tags.items[i],
                                       error_message());
    }
    string_list_clear(&tags);
    if (result < 0)
        return result;
    if (repository->all_revisions_kept) {
        for (size_t i = 0; i < repository->revision_count && result == 0; i++)
            result = worklist_push(roots, &repository->revisions[i].digest);
    } else if (!mark->delete_untagged) {
        for (size_t i = 0; i < repository->revision_count && result == 0; i++)
            if (repository->revisions[i].pulled >= repository->pulled_since)
                result = worklist_push(roots, &repository->revisions[i].digest);
    }
    return result;
}

/* Marks one repository: its referrer subjects, revisions, roots and what
 * they reach. `mark` may be a worker's own (mark_repositories). */
static int mark_repository(struct gc_mark *mark, const struct tree *tree, struct blob_store *store,
                           struct gc_repository *repository)
{
    struct digest_list roots = {0}, subjects = {0};
    int result = 0;
    if (walk_referrer_subjects(tree, repository->name, &subjects) < 0)
        result = gc_mark_add_error(mark, "%s: cannot list referrers: %s", repository->name,
                                   error_message());
    for (size_t s = 0; s < subjects.count && result == 0; s++)
        if (gc_digest_set_add(&repository->subjects, &subjects.items[s]) < 0)
            result = error_set(-ENOMEM, "out of memory");
    digest_list_clear(&subjects);
    if (result == 0)
        result = load_revisions(mark, tree, repository);
    if (result == 0)
        result = collect_roots(mark, tree, repository, &roots);
    if (result == 0)
        result = keep_closure(mark, tree, store, repository, &roots);
    if (result == 0)
        result = subjects_fixed_point(mark, tree, store, repository);
    digest_list_clear(&roots);
    return result;
}

/* One marking thread: takes the next unmarked repository until none is
 * left, into its own mark (blobs, errors, counts), which the caller merges.
 * Each repository is touched by one thread only. */
struct mark_worker {
    struct gc_mark own;
    struct gc_mark *shared; /* repositories, read-only here */
    const struct tree *tree;
    struct blob_store *store;
    atomic_size_t *next;
    atomic_int *failed;
    int result;
    char message[ERROR_MESSAGE_MAX];
};

static void *mark_worker_run(void *context)
{
    struct mark_worker *worker = context;
    while (!atomic_load(worker->failed)) {
        size_t i = atomic_fetch_add(worker->next, 1);
        if (i >= worker->shared->repository_count)
            break;
        worker->result = mark_repository(&worker->own, worker->tree, worker->store,
                                         &worker->shared->repositories[i]);
        if (worker->result < 0) {
            snprintf(worker->message, sizeof worker->message, "%s", error_message());
            atomic_store(worker->failed, 1);
        }
    }
    return NULL;
}

/* Merges a worker's blobs, errors and counts into `mark`. */
static int merge_worker(struct gc_mark *mark, struct gc_mark *own)
{
    for (size_t i = 0; i < own->blobs.count; i++)
        if (gc_digest_set_add(&mark->blobs, &own->blobs.items[i]) < 0)
            return error_set(-ENOMEM, "out of memory");
    for (size_t i = 0; i < own->errors.count; i++)
        if (string_list_append(&mark->errors, own->errors.items[i]) < 0)
            return error_set(-ENOMEM, "out of memory");
    mark->manifests += own->manifests;
    mark->unparseable += own->unparseable;
    return 0;
}

/* Marks every repository, on mark->jobs threads (0: one per CPU, at most
 * GC_MARK_JOBS_MAX): the mark is reads of many small files, which the
 * kernel serves on every CPU at once. */
static int mark_repositories(struct gc_mark *mark, const struct tree *tree,
                             struct blob_store *store)
{
    size_t jobs = mark->jobs;
    if (jobs == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        jobs = cpus > 0 ? (size_t)cpus : 1;
    }
    if (jobs > GC_MARK_JOBS_MAX)
        jobs = GC_MARK_JOBS_MAX;
    if (jobs > mark->repository_count)
        jobs = mark->repository_count;
    if (jobs <= 1) {
        int result = 0;
        for (size_t i = 0; i < mark->repository_count && result == 0; i++)
            result = mark_repository(mark, tree, store, &mark->repositories[i]);
        return result;
    }
    struct mark_worker *workers = calloc(jobs, sizeof *workers);
    pthread_t *threads = calloc(jobs, sizeof *threads);
    if (workers == NULL || threads == NULL) {
        free(workers);
        free(threads);
        return error_set(-ENOMEM, "out of memory");
    }
    atomic_size_t next = 0;
    atomic_int failed = 0;
    size_t started = 0;
    for (; started < jobs; started++) {
        struct mark_worker *worker = &workers[started];
        gc_mark_init(&worker->own, mark->delete_untagged);
        worker->shared = mark;
        worker->tree = tree;
        worker->store = store;
        worker->next = &next;
        worker->failed = &failed;
        if (pthread_create(&threads[started], NULL, mark_worker_run, worker) != 0)
            break;
    }
    int on_this_thread = started == 0; /* no thread could start: mark here */
    if (on_this_thread) {
        mark_worker_run(&workers[0]);
        started = 1;
    }
    int result = 0;
    for (size_t i = 0; i < started; i++) {
        if (!on_this_thread)
            pthread_join(threads[i], NULL);
        if (workers[i].result < 0 && result == 0) {
            result = workers[i].result;
            error_set(result, "%s", workers[i].message);
        }
        if (result == 0)
            result = merge_worker(mark, &workers[i].own);
        gc_mark_release(&workers[i].own);
    }
    free(workers);
    free(threads);
    return result;
}

int gc_mark_tree(struct gc_mark *mark, const struct tree *tree, struct blob_store *store)
{
    struct string_list names = {0}, layered = {0};
    int result = 0;
    if (walk_repositories(tree, &names) < 0 || walk_repositories_with_layers(tree, &layered) < 0) {
        result = gc_mark_add_error(mark, "cannot list repositories: %s", error_message());
        goto done;
    }
    /* Both lists are sorted: merge them without quadratic work. */
    {
        struct string_list all = {0};
        size_t i = 0, j = 0;
        while (result == 0 && (i < names.count || j < layered.count)) {
            int order = i == names.count     ? 1
                        : j == layered.count ? -1
                                             : strcmp(names.items[i], layered.items[j]);
            const char *name = order <= 0 ? names.items[i] : layered.items[j];
            if (string_list_append(&all, name) < 0)
                result = error_set(-ENOMEM, "out of memory");
            if (order <= 0)
                i++;
            if (order >= 0)
                j++;
        }
        string_list_clear(&names);
        names = all;
    }
    if (result < 0 || names.count == 0)
        goto done;
    mark->repositories = calloc(names.count, sizeof *mark->repositories);
    if (mark->repositories == NULL) {
        result = error_set(-ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < names.count; i++) {
        mark->repositories[i].name = strdup(names.items[i]);
        if (mark->repositories[i].name == NULL) {
            result = error_set(-ENOMEM, "out of memory");
            break;
        }
        mark->repositories[i].pulled_since = pulled_since_of(mark, names.items[i]);
        mark->repository_count++;
    }
    if (result == 0)
        result = mark_repositories(mark, tree, store);
done:
    string_list_clear(&names);
    string_list_clear(&layered);
    return result;
}

/* tools/fsck_links.h */
#include "tools/fsck_links.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/link_file.h"
#include "layout/manifest.h"

enum link_role {
    LINK_LAYER,
    LINK_REVISION,
    LINK_TAG_CURRENT,
    LINK_TAG_INDEX,
    LINK_REFERRER,
};

/* One link file to examine. */
struct link_item {
    enum link_role role;
    const char *name;
    const char *tag;        /* tag links */
    struct digest expected; /* the digest its path spells (not for LINK_TAG_CURRENT) */
    char path[TREE_PATH_MAX];
};

/* What examine() concluded. */
struct finding {
    int has_target; /* the link holds a valid digest: `target` */
    struct digest target;
    int missing;      /* no link file at all (not a problem, except for a tag) */
    int unrepairable; /* unreadable (EACCES, EIO, a directory): not proven wrong */
    enum fsck_problem_kind kind;
    char detail[768];
};

static const char *role_label(enum link_role role)
{
    switch (role) {
    case LINK_LAYER:
        return "layer link";
    case LINK_REVISION:
        return "revision link";
    case LINK_TAG_CURRENT:
        return "tag";
    case LINK_TAG_INDEX:
        return "tag index entry";
    case LINK_REFERRER:
        return "referrer entry";
    }
    return "link";
}

/* Whether step 1 saw the blob in the tree (verified sound, or corrupt and
 * left in place). */
static int in_tree(const struct fsck_report *report, const struct digest *digest)
{
    return fsck_digest_list_contains(&report->sound_blobs, digest) ||
           fsck_digest_list_contains(&report->corrupt_blobs, digest);
}

/* 1 when the blob exists, 0 when it does not. A blob that cannot be checked
 * (EACCES, EIO) counts as present: nothing is removed on a doubt. What step 1
 * found in the tree or in the store's listing is present without asking the
 * store (for a bucket, a network round trip per link); only a blob in
 * neither is asked about, so that one pushed since the listing is not taken
 * for missing (and a missing one is asked about again under the lock). */
static int blob_present(struct fsck_context *context, const struct digest *digest)
{
    const struct fsck_remote_blob *listed = fsck_remote_blob_find(context->report, digest);
    if ((listed != NULL && !listed->gone) || in_tree(context->report, digest))
        return 1;
    struct blob_info info;
    return blob_store_stat(context->store, digest, &info) == -ENOENT ? 0 : 1;
}

/* The size of the blob the store serves for `digest`: the listed size of
 * one only the store holds outside the tree, else a stat (the tree's copy
 * comes first, and costs no round trip). -ENOENT when it is gone. */
static int served_size(struct fsck_context *context, const struct digest *digest, int64_t *size_out)
{
    const struct fsck_remote_blob *listed = fsck_remote_blob_find(context->report, digest);
    if (listed != NULL && !listed->gone && !in_tree(context->report, digest)) {
        *size_out = listed->size;
        return 0;
    }
    struct blob_info info;
    int result = blob_store_stat(context->store, digest, &info);
    if (result == 0)
        *size_out = info.size;
    return result;
}

/* 1 when `name` has a valid revision link for `digest`. */
static int revision_present(struct fsck_context *context, const char *name,
                            const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    struct digest target;
    if (tree_path_revision_link(context->tree, name, digest, path) < 0)
        return 0;
    return link_file_read(path, &target) == 0 && digest_equal(&target, digest);
}

/* Examines a link: 1 with `finding` filled when it is a problem, 0 when
 * fine (or absent and allowed to be), negative on failure to check. */
static int examine(struct fsck_context *context, const struct link_item *item,
                   struct finding *finding)
{
    memset(finding, 0, sizeof *finding);
    int result = link_file_read(item->path, &finding->target);
    if (result == -ENOENT) {
        finding->missing = 1;
        if (item->role != LINK_TAG_CURRENT)
            return 0;
        finding->kind = FSCK_TAG_WITHOUT_REVISION;
        snprintf(finding->detail, sizeof finding->detail, "tag %s:%s has no current link",
                 item->name, item->tag);
        return 1;
    }
    if (result == -EINVAL) {
        finding->kind = FSCK_INVALID_LINK;
        snprintf(finding->detail, sizeof finding->detail, "%s of %s does not hold a digest: %s",
                 role_label(item->role), item->name, error_message());
        return 1;
    }
    if (result < 0) {
        finding->kind = FSCK_INVALID_LINK;
        finding->unrepairable = 1;
        snprintf(finding->detail, sizeof finding->detail, "%s of %s cannot be read: %s",
                 role_label(item->role), item->name, error_message());
        return 1;
    }
    finding->has_target = 1;
    const struct digest *target = &finding->target;
    if (item->role != LINK_TAG_CURRENT && !digest_equal(target, &item->expected)) {
        finding->kind = FSCK_INVALID_LINK;
        snprintf(finding->detail, sizeof finding->detail, "%s of %s holds %s, not %s (its path)",
                 role_label(item->role), item->name, target->string, item->expected.string);
        return 1;
    }
    switch (item->role) {
    case LINK_LAYER:
    case LINK_REVISION:
    case LINK_TAG_INDEX:
        if (blob_present(context, target))
            return 0;
        finding->kind = FSCK_DANGLING_LINK;
        snprintf(finding->detail, sizeof finding->detail, "%s of %s: blob %s does not exist",
                 role_label(item->role), item->name, target->string);
        return 1;
    case LINK_TAG_CURRENT:
        if (revision_present(context, item->name, target))
            return 0;
        finding->kind = FSCK_TAG_WITHOUT_REVISION;
        snprintf(finding->detail, sizeof finding->detail,
                 "tag %s:%s points at %s, which is not a revision of the repository", item->name,
                 item->tag, target->string);
        return 1;
    case LINK_REFERRER:
        if (revision_present(context, item->name, target))
            return 0;
        finding->kind = FSCK_DANGLING_LINK;
        snprintf(finding->detail, sizeof finding->detail, "referrer %s is not a revision of %s",
                 target->string, item->name);
        return 1;
    }
    return 0;
}

/* Removes what `item` names: its link (and the directory that holds it), or
 * for a tag the whole tag directory. */
static int remove_link(struct fsck_context *context, const struct link_item *item)
{
    char stop_at[TREE_PATH_MAX], directory[TREE_PATH_MAX];
    int result = 0;
    switch (item->role) {
    case LINK_LAYER:
        result = tree_path_layers_directory(context->tree, item->name, stop_at);
        break;
    case LINK_REVISION:
        result = tree_path_revisions_directory(context->tree, item->name, stop_at);
        break;
    case LINK_TAG_INDEX:
        result = tree_path_tag_directory(context->tree, item->name, item->tag, stop_at);
        break;
    case LINK_REFERRER:
        result = tree_path_manifests_directory(context->tree, item->name, stop_at);
        break;
    case LINK_TAG_CURRENT:
        if ((result = tree_path_tag_directory(context->tree, item->name, item->tag, directory)) <
                0 ||
            (result = tree_path_tags_directory(context->tree, item->name, stop_at)) < 0 ||
            (result = directory_remove_tree(directory)) < 0)
            return result;
        return directory_sync(stop_at);
    }
    if (result < 0)
        return result;
    return link_file_remove(item->path, stop_at);
}

/* Where a problem is: a tag's is its directory, the others their link. */
static const char *problem_path(struct fsck_context *context, const struct link_item *item)
{
    static _Thread_local char path[TREE_PATH_MAX];
    if (item->role != LINK_TAG_CURRENT ||
        tree_path_tag_directory(context->tree, item->name, item->tag, path) < 0)
        snprintf(path, sizeof path, "%s", item->path);
    return path;
}

/* Examines one link, reports it, and with --repair removes it under the GC
 * lock after examining it again there. Returns 1 when the link is sound (the
 * caller may look further, e.g. at the manifest), 0 when it is absent, a
 * problem or was removed, negative on failure. */
static int check_link(struct fsck_context *context, const struct link_item *item,
                      struct digest *target_out)
{
    struct fsck_report *report = context->report;
    struct finding finding;
    int result = examine(context, item, &finding);
    if (result < 0) {
        char message[ERROR_MESSAGE_MAX];
        snprintf(message, sizeof message, "%s", error_message());
        return error_set(result, "cannot check %s: %s", item->path, message);
    }
    if (!finding.missing)
        report->links_checked++;
    if (finding.has_target) {
        int appended = digest_list_append(&report->referenced, &finding.target);
        if (appended < 0)
            return appended;
        if (target_out != NULL)
            *target_out = finding.target;
    }
    if (result == 0)
        return finding.missing ? 0 : 1;
    /* Confirmed under the GC lock (a writer may be midway through a group of
     * links), and with --repair removed there, after that re-check. */
    int locked = fsck_confirm_lock(context);
    if (locked < 0)
        return fsck_report_add(report, finding.kind, problem_path(context, item), 0,
                               "%s; not confirmed under the GC lock: %s", finding.detail,
                               error_message());
    struct finding again;
    result = examine(context, item, &again);
    if (result <= 0) {
        fsck_repair_unlock(context);
        if (result < 0)
            return result;
        return again.missing ? 0 : 1; /* a write in progress, now complete */
    }
    int repaired = 0;
    char outcome[ERROR_MESSAGE_MAX + 32] = "";
    if (context->options->repair && again.unrepairable) {
        snprintf(outcome, sizeof outcome, "; left alone");
    } else if (context->options->repair) {
        if (remove_link(context, item) == 0) {
            repaired = 1;
            snprintf(outcome, sizeof outcome, "; %s",
                     item->role == LINK_TAG_CURRENT ? "tag directory removed" : "link removed");
        } else {
            snprintf(outcome, sizeof outcome, "; not repaired: %s", error_message());
        }
    }
    fsck_repair_unlock(context);
    return fsck_report_add(report, again.kind, problem_path(context, item), repaired, "%s%s",
                           again.detail, outcome);
}

static const char *reference_label(enum reference_role role)
{
    switch (role) {
    case REFERENCE_CONFIG:
        return "config";
    case REFERENCE_LAYER:
        return "layer";
    case REFERENCE_MANIFEST:
        return "child manifest";
    }
    return "blob";
}

/* The blob a config or layer descriptor names has the size the descriptor
 * gives (the server checked that when the manifest was pushed, so
 * a difference means the store's copy changed since; --deep tells whether
 * its bytes are still right). A blob found corrupt is reported already. */
static int check_size(struct fsck_context *context, const char *name,
                      const struct digest *manifest_digest,
                      const struct manifest_reference *reference, const char *link_path)
{
    const struct descriptor *descriptor = &reference->descriptor;
    if (fsck_digest_list_contains(&context->report->corrupt_blobs, &descriptor->digest))
        return 0;
    int64_t size = 0;
    int result = served_size(context, &descriptor->digest, &size);
    if (result == -ENOENT)
        return 0; /* removed meanwhile: the next run sees a missing blob */
    if (result < 0)
        return fsck_report_add(context->report, FSCK_BLOB_SIZE_MISMATCH, link_path, 0,
                               "manifest %s of %s: the size of %s %s cannot be read: %s",
                               manifest_digest->string, name, reference_label(reference->role),
                               descriptor->digest.string, error_message());
    if (size == descriptor->size)
        return 0;
    /* Bytes re-hashed in this run (step 1, or --deep) are right: then the
     * descriptor is what is wrong. */
    const struct fsck_remote_blob *listed =
        fsck_remote_blob_find(context->report, &descriptor->digest);
    int verified = in_tree(context->report, &descriptor->digest) ||
                   (context->options->deep && listed != NULL && !listed->gone);
    return fsck_report_add(context->report, FSCK_BLOB_SIZE_MISMATCH, link_path, 0,
                           "manifest %s of %s gives %s %s a size of %lld bytes, but the %s store "
                           "has %lld bytes%s",
                           manifest_digest->string, name, reference_label(reference->role),
                           descriptor->digest.string, (long long)descriptor->size,
                           context->store->operations->name, (long long)size,
                           verified ? "; its bytes hash to its digest: the descriptor is wrong"
                                    : " (--deep re-hashes it)");
}

/* The manifest of a sound revision link: it parses, and what it references
 * is in the repository. Reported, never repaired. */
static int check_manifest(struct fsck_context *context, const char *name,
                          const struct digest *digest, const char *link_path)
{
    struct fsck_report *report = context->report;
    if (fsck_digest_list_contains(&report->corrupt_blobs, digest))
        return 0; /* reported as a corrupt blob already */
    char *body = NULL;
    size_t length = 0;
    int result = blob_store_read_all(context->store, digest, MANIFEST_SIZE_MAX, &body, &length);
    if (result == -ENOENT)
        return 0; /* removed meanwhile */
    if (result < 0)
        return fsck_report_add(report, FSCK_MANIFEST_INVALID, link_path, 0,
                               "manifest %s of %s cannot be read: %s", digest->string, name,
                               error_message());
    struct manifest manifest;
    result = manifest_parse(body, length, NULL, &manifest);
    free(body);
    if (result < 0)
        return fsck_report_add(report, FSCK_MANIFEST_INVALID, link_path, 0,
                               "manifest %s of %s does not parse: %s", digest->string, name,
                               error_message());
    for (size_t i = 0; result >= 0 && i < manifest.reference_count; i++) {
        const struct manifest_reference *reference = &manifest.references[i];
        const struct digest *referenced = &reference->descriptor.digest;
        char path[TREE_PATH_MAX];
        if (reference->role == REFERENCE_MANIFEST) {
            if (revision_present(context, name, referenced))
                continue;
            result = fsck_report_add(report, FSCK_MANIFEST_REFERENCE_MISSING, link_path, 0,
                                     "manifest %s references child manifest %s, which is not a "
                                     "revision of %s",
                                     digest->string, referenced->string, name);
            continue;
        }
        struct digest target;
        int linked = tree_path_layer_link(context->tree, name, referenced, path) == 0 &&
                     link_file_read(path, &target) == 0 && digest_equal(&target, referenced);
        if (linked && blob_present(context, referenced)) {
            result = check_size(context, name, digest, reference, link_path);
            continue;
        }
        if (!linked && reference->descriptor.has_urls)
            continue; /* a foreign layer lives elsewhere */
        result = fsck_report_add(report, FSCK_MANIFEST_REFERENCE_MISSING, link_path, 0,
                                 "manifest %s references %s %s, which %s", digest->string,
                                 reference_label(reference->role), referenced->string,
                                 linked ? "is linked but its blob does not exist"
                                        : "is not linked in the repository");
    }
    manifest_release(&manifest);
    return result < 0 ? result : 0;
}

static int check_layers(struct fsck_context *context, const char *name)
{
    struct digest_list layers = {0};
    int result = walk_layers(context->tree, name, &layers);
    for (size_t i = 0; result >= 0 && i < layers.count; i++) {
        struct link_item item = {.role = LINK_LAYER, .name = name, .expected = layers.items[i]};
        result = tree_path_layer_link(context->tree, name, &item.expected, item.path);
        if (result == 0)
            result = check_link(context, &item, NULL);
    }
    digest_list_clear(&layers);
    return result < 0 ? result : 0;
}

/* Every revision link first, then the manifests of the sound ones: an index
 * is checked against the revisions that are left once the links are
 * repaired, so that one pass reports all it leaves (a child's link removed
 * after its index was checked would show up only in the next run). */
static int check_revisions(struct fsck_context *context, const char *name)
{
    struct digest_list revisions = {0};
    int result = walk_revisions(context->tree, name, &revisions);
    unsigned char *sound = calloc(revisions.count ? revisions.count : 1, 1);
    if (sound == NULL)
        result = error_set(-ENOMEM, "out of memory");
    struct link_item item = {.role = LINK_REVISION, .name = name};
    for (size_t i = 0; result >= 0 && i < revisions.count; i++) {
        item.expected = revisions.items[i];
        result = tree_path_revision_link(context->tree, name, &item.expected, item.path);
        if (result == 0)
            result = check_link(context, &item, NULL);
        if (result == 1)
            sound[i] = 1;
    }
    for (size_t i = 0; result >= 0 && i < revisions.count; i++) {
        if (!sound[i])
            continue;
        item.expected = revisions.items[i];
        result = tree_path_revision_link(context->tree, name, &item.expected, item.path);
        if (result == 0)
            result = check_manifest(context, name, &item.expected, item.path);
    }
    free(sound);
    digest_list_clear(&revisions);
    return result < 0 ? result : 0;
}

static int check_tags(struct fsck_context *context, const char *name)
{
    struct string_list tags = {0};
    int result = walk_tags(context->tree, name, &tags);
    for (size_t t = 0; result >= 0 && t < tags.count; t++) {
        const char *tag = tags.items[t];
        struct link_item current = {.role = LINK_TAG_CURRENT, .name = name, .tag = tag};
        result = tree_path_tag_current_link(context->tree, name, tag, current.path);
        if (result == 0)
            result = check_link(context, &current, NULL);
        if (result < 0)
            break;
        /* The index entries (of a tag still there after a repair). */
        struct digest_list index = {0};
        result = walk_tag_index(context->tree, name, tag, &index);
        for (size_t i = 0; result >= 0 && i < index.count; i++) {
            struct link_item item = {
                .role = LINK_TAG_INDEX, .name = name, .tag = tag, .expected = index.items[i]};
            result = tree_path_tag_index_link(context->tree, name, tag, &item.expected, item.path);
            if (result == 0)
                result = check_link(context, &item, NULL);
        }
        digest_list_clear(&index);
    }
    string_list_clear(&tags);
    return result < 0 ? result : 0;
}

static int check_referrers(struct fsck_context *context, const char *name)
{
    struct digest_list subjects = {0};
    int result = walk_referrer_subjects(context->tree, name, &subjects);
    for (size_t s = 0; result >= 0 && s < subjects.count; s++) {
        struct digest_list referrers = {0};
        result = walk_referrers(context->tree, name, &subjects.items[s], &referrers);
        for (size_t i = 0; result >= 0 && i < referrers.count; i++) {
            struct link_item item = {
                .role = LINK_REFERRER, .name = name, .expected = referrers.items[i]};
            result = tree_path_referrer_link(context->tree, name, &subjects.items[s],
                                             &item.expected, item.path);
            if (result == 0)
                result = check_link(context, &item, NULL);
        }
        digest_list_clear(&referrers);
    }
    digest_list_clear(&subjects);
    return result < 0 ? result : 0;
}

int fsck_links_check(struct fsck_context *context)
{
    struct string_list repositories = {0};
    int result = walk_repository_directories(context->tree, &repositories);
    for (size_t r = 0; result == 0 && r < repositories.count; r++) {
        const char *name = repositories.items[r];
        if ((result = check_layers(context, name)) < 0 ||
            (result = check_revisions(context, name)) < 0 ||
            (result = check_tags(context, name)) < 0 ||
            (result = check_referrers(context, name)) < 0)
            break;
    }
    string_list_clear(&repositories);
    fsck_digest_list_sort(&context->report->referenced);
    return result;
}

/* layout/walk.h */
#include "layout/walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/link_file.h"
#include "layout/names.h"

int string_list_append(struct string_list *list, const char *item)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        char **items = realloc(list->items, capacity * sizeof *items);
        if (items == NULL)
            return error_set(-ENOMEM, "out of memory");
        list->items = items;
        list->capacity = capacity;
    }
    char *copy = strdup(item);
    if (copy == NULL)
        return error_set(-ENOMEM, "out of memory");
    list->items[list->count++] = copy;
    return 0;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void string_list_sort(struct string_list *list)
{
    if (list->count > 1)
        qsort(list->items, list->count, sizeof *list->items, compare_strings);
}

void string_list_clear(struct string_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    *list = (struct string_list){0};
}

int digest_list_append(struct digest_list *list, const struct digest *digest)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        struct digest *items = realloc(list->items, capacity * sizeof *items);
        if (items == NULL)
            return error_set(-ENOMEM, "out of memory");
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count++] = *digest;
    return 0;
}

static int compare_digests(const void *a, const void *b)
{
    return strcmp(((const struct digest *)a)->string, ((const struct digest *)b)->string);
}

void digest_list_clear(struct digest_list *list)
{
    free(list->items);
    *list = (struct digest_list){0};
}

/* Calls `visit` with each entry of `path` but "." and "..", and its type
 * (DT_DIR, DT_REG, ...; symbolic links are not followed, an entry gone
 * between readdir and its stat is skipped). A missing directory has no
 * entries. `visit` returns 0 to go on, 1 to stop early (the walk then
 * returns 0) or a negative error, which the walk returns. */
static int for_each_entry(const char *path,
                          int (*visit)(const char *name, unsigned char type, void *context),
                          void *context)
{
    DIR *directory = opendir(path);
    if (directory == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return error_set(-errno, "cannot list %s: %s", path, strerror(errno));
    }
    int result = 0;
    for (;;) {
        errno = 0;
        struct dirent *entry = readdir(directory);
        if (entry == NULL) {
            if (errno != 0)
                result = error_set(-errno, "cannot list %s: %s", path, strerror(errno));
            break;
        }
        const char *name = entry->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
            continue;
        unsigned char type = entry->d_type;
        if (type == DT_UNKNOWN) {
            struct stat status;
            if (fstatat(dirfd(directory), name, &status, AT_SYMLINK_NOFOLLOW) < 0)
                continue; /* gone meanwhile */
            type = S_ISDIR(status.st_mode) ? DT_DIR : DT_REG;
        }
        if ((result = visit(name, type, context)) != 0)
            break;
    }
    closedir(directory);
    return result < 0 ? result : 0;
}

struct subdirectory_filter {
    int (*accept)(const char *name, size_t length);
    struct string_list *out;
};

static int append_subdirectory(const char *name, unsigned char type, void *context)
{
    struct subdirectory_filter *filter = context;
    if (type != DT_DIR || filter->accept(name, strlen(name)) < 0)
        return 0;
    return string_list_append(filter->out, name);
}

/* Appends to `out` the names of the subdirectories of `path` (symbolic links
 * are not followed) that `accept` takes; a missing directory lists nothing. */
static int list_subdirectories(const char *path, int (*accept)(const char *name, size_t length),
                               struct string_list *out)
{
    struct subdirectory_filter filter = {accept, out};
    return for_each_entry(path, append_subdirectory, &filter);
}

static int accept_any(const char *name, size_t length)
{
    (void)name;
    (void)length;
    return 0;
}

int walk_subdirectories(const char *path, struct string_list *out)
{
    int result = list_subdirectories(path, accept_any, out);
    if (result == 0)
        string_list_sort(out);
    return result;
}

static int accept_algorithm(const char *name, size_t length)
{
    enum digest_algorithm algorithm;
    return digest_algorithm_parse(name, length, &algorithm);
}

/* out = "<path>/<child>" (just <path> when child is empty). */
static int join(char out[TREE_PATH_MAX], const char *path, const char *child)
{
    int length = snprintf(out, TREE_PATH_MAX, "%s%s%s", path, child[0] ? "/" : "", child);
    if (length < 0 || length >= TREE_PATH_MAX)
        return error_set(-ENAMETOOLONG, "path too long under %.64s", path);
    return 0;
}

/* Whether `path`/`child` is a directory (1) or not (0). */
static int has_directory(const char *path, const char *child)
{
    char full[TREE_PATH_MAX];
    struct stat status;
    return join(full, path, child) == 0 && lstat(full, &status) == 0 && S_ISDIR(status.st_mode);
}

/* What a walk over repository names does with each one it finds. */
struct repository_visitor {
    const char *marker;
    int (*visit)(const char *name, void *context);
    void *context;
};

/* Recursion over repository names: `name` (length `name_length`, possibly
 * empty) is a valid name whose directory is `path`. The depth is bounded by
 * REPOSITORY_NAME_MAX, since every level adds at least two characters.
 * Stops at the first non-zero value of the visitor (or failure). */
static int walk_repository_level(char path[TREE_PATH_MAX], size_t path_length,
                                 char name[REPOSITORY_NAME_MAX + 1], size_t name_length,
                                 const struct repository_visitor *visitor)
{
    struct string_list children = {0};
    int result = list_subdirectories(path, accept_any, &children);
    for (size_t i = 0; result == 0 && i < children.count; i++) {
        const char *child = children.items[i];
        size_t child_length = strlen(child);
        size_t separator = name_length > 0;
        size_t new_name_length = name_length + separator + child_length;
        /* A prefix of a valid name is itself a valid name; this also skips
         * _layers, _manifests, _uploads and dot files. */
        if (new_name_length > REPOSITORY_NAME_MAX ||
            path_length + 1 + child_length >= TREE_PATH_MAX)
            continue;
        if (separator)
            name[name_length] = '/';
        memcpy(name + name_length + separator, child, child_length + 1);
        if (repository_name_validate(name, new_name_length) < 0)
            continue;
        path[path_length] = '/';
        memcpy(path + path_length + 1, child, child_length + 1);
        if (has_directory(path, visitor->marker))
            result = visitor->visit(name, visitor->context);
        if (result == 0)
            result = walk_repository_level(path, path_length + 1 + child_length, name,
                                           new_name_length, visitor);
        path[path_length] = '\0';
        name[name_length] = '\0';
    }
    string_list_clear(&children);
    return result;
}

/* The directory name of each marker: the tree's grammar, spelled here only. */
static const char *marker_name(enum repository_marker marker)
{
    switch (marker) {
    case REPOSITORY_MARKER_LAYERS:
        return "_layers";
    case REPOSITORY_MARKER_UPLOADS:
        return "_uploads";
    case REPOSITORY_MARKER_MANIFESTS:
    default:
        return "_manifests";
    }
}

int walk_repositories_visit(const struct tree *tree, enum repository_marker marker,
                            int (*visit)(const char *name, void *context), void *context)
{
    char path[TREE_PATH_MAX], name[REPOSITORY_NAME_MAX + 1] = "";
    struct repository_visitor visitor = {marker_name(marker), visit, context};
    int result = tree_path_repositories(tree, path);
    return result < 0 ? result : walk_repository_level(path, strlen(path), name, 0, &visitor);
}

static int append_name(const char *name, void *context)
{
    return string_list_append(context, name);
}

static int repositories_with(const struct tree *tree, enum repository_marker marker,
                             struct string_list *out)
{
    int result = walk_repositories_visit(tree, marker, append_name, out);
    if (result < 0)
        return result;
    string_list_sort(out);
    return 0;
}

int walk_repositories_with_uploads(const struct tree *tree, struct string_list *out)
{
    return repositories_with(tree, REPOSITORY_MARKER_UPLOADS, out);
}

struct layer_search {
    const struct tree *tree;
    const struct digest *digest;
    int (*may_read)(const char *name, void *context);
    void *context;
    char *name_out;
};

int walk_layer_link_matches(const struct tree *tree, const char *name, const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    struct digest target;
    int result = tree_path_layer_link(tree, name, digest, path);
    if (result == 0)
        result = link_file_read(path, &target);
    if (result == -ENOENT || result == -ENOTDIR || result == -EINVAL)
        return 0; /* no link, or not one naming a digest: not linked here */
    if (result < 0)
        return result;
    return digest_equal(&target, digest);
}

static int search_layer_link(const char *name, void *context)
{
    struct layer_search *search = context;
    if (search->may_read != NULL && !search->may_read(name, search->context))
        return 0; /* never looked into */
    int result = walk_layer_link_matches(search->tree, name, search->digest);
    if (result == 1)
        snprintf(search->name_out, REPOSITORY_NAME_MAX + 1, "%s", name);
    return result;
}

int walk_find_layer_link(const struct tree *tree, const struct digest *digest,
                         int (*may_read)(const char *name, void *context), void *context,
                         char name_out[REPOSITORY_NAME_MAX + 1])
{
    struct layer_search search = {tree, digest, may_read, context, name_out};
    name_out[0] = '\0';
    return walk_repositories_visit(tree, REPOSITORY_MARKER_LAYERS, search_layer_link, &search);
}

int walk_repositories(const struct tree *tree, struct string_list *out)
{
    return repositories_with(tree, REPOSITORY_MARKER_MANIFESTS, out);
}

static int list_valid_directories(int path_result, const char *path,
                                  int (*accept)(const char *name, size_t length),
                                  struct string_list *out)
{
    if (path_result < 0)
        return path_result;
    int result = list_subdirectories(path, accept, out);
    if (result == 0)
        string_list_sort(out);
    return result;
}

int walk_tags(const struct tree *tree, const char *name, struct string_list *out)
{
    char path[TREE_PATH_MAX];
    return list_valid_directories(tree_path_tags_directory(tree, name, path), path, tag_validate,
                                  out);
}

int walk_tags_with_current(const struct tree *tree, const char *name, struct string_list *out)
{
    int result = walk_tags(tree, name, out);
    size_t kept = 0;
    for (size_t i = 0; i < out->count; i++) {
        char path[TREE_PATH_MAX];
        struct stat status;
        int found = result == 0;
        if (found && (result = tree_path_tag_current_link(tree, name, out->items[i], path)) < 0)
            found = 0;
        if (found && lstat(path, &status) == 0 && S_ISREG(status.st_mode))
            out->items[kept++] = out->items[i];
        else
            free(out->items[i]);
    }
    out->count = kept;
    if (result < 0)
        string_list_clear(out);
    return result;
}

int walk_uploads(const struct tree *tree, const char *name, struct string_list *out)
{
    char path[TREE_PATH_MAX];
    return list_valid_directories(tree_path_uploads_directory(tree, name, path), path,
                                  upload_id_validate, out);
}

/* One <alg>/[<xx>/]<hex> directory that walk_digest_directories found. */
struct digest_directory {
    struct digest digest; /* <alg>:<hex>, from the names */
    int misplaced;        /* fan-out: under another <xx> than <hex[0:2]> */
    const char *parent;   /* the directory that holds <hex> */
    const char *hex;
};

typedef int digest_directory_visit(const struct digest_directory *found, void *context);

static int list_subdirectories_in_order(const char *path,
                                        int (*accept)(const char *name, size_t length), int sorted,
                                        struct string_list *out)
{
    int result = list_subdirectories(path, accept, out);
    if (result == 0 && sorted)
        string_list_sort(out);
    return result;
}

/* The one walk of digest-named directories: calls visit for each
 * <alg>/<hex> directory under `path`, or each <alg>/<xx>/<hex> with
 * `fan_out` (misplaced ones flagged, not skipped), names outside the
 * grammar skipped; level by level in sorted order with `sorted`. Stops and
 * returns visit's value when it is non-zero. */
static int walk_digest_directories(const char *path, int fan_out, int sorted,
                                   digest_directory_visit *visit, void *context)
{
    struct string_list algorithms = {0};
    int result = list_subdirectories_in_order(path, accept_algorithm, sorted, &algorithms);
    for (size_t a = 0; result == 0 && a < algorithms.count; a++) {
        char directory[TREE_PATH_MAX];
        struct string_list prefixes = {0}, hexes = {0};
        result = join(directory, path, algorithms.items[a]);
        if (result < 0)
            break;
        if (fan_out)
            result = list_subdirectories_in_order(directory, accept_any, sorted, &prefixes);
        else
            result = string_list_append(&prefixes, "");
        for (size_t p = 0; result == 0 && p < prefixes.count; p++) {
            char inner[TREE_PATH_MAX];
            const char *prefix = prefixes.items[p];
            string_list_clear(&hexes);
            result = join(inner, directory, prefix);
            if (result == 0)
                result = list_subdirectories_in_order(inner, accept_any, sorted, &hexes);
            for (size_t h = 0; result == 0 && h < hexes.count; h++) {
                char text[DIGEST_STRING_MAX + 8];
                struct digest_directory found = {.parent = inner, .hex = hexes.items[h]};
                int length = snprintf(text, sizeof text, "%s:%s", algorithms.items[a], found.hex);
                if (length <= 0 || length >= (int)sizeof text ||
                    digest_parse(text, (size_t)length, &found.digest) < 0)
                    continue; /* outside the grammar */
                found.misplaced =
                    fan_out && (strlen(prefix) != 2 || memcmp(prefix, found.hex, 2) != 0);
                result = visit(&found, context);
            }
        }
        string_list_clear(&prefixes);
        string_list_clear(&hexes);
    }
    string_list_clear(&algorithms);
    return result;
}

static int append_digest(const struct digest_directory *found, void *context)
{
    return digest_list_append(context, &found->digest);
}

static int list_digests(int path_result, const char *path, struct digest_list *out)
{
    if (path_result < 0)
        return path_result;
    int result = walk_digest_directories(path, 0, 0, append_digest, out);
    if (result == 0 && out->count > 1)
        qsort(out->items, out->count, sizeof *out->items, compare_digests);
    return result;
}

int walk_revisions(const struct tree *tree, const char *name, struct digest_list *out)
{
    char path[TREE_PATH_MAX];
    return list_digests(tree_path_revisions_directory(tree, name, path), path, out);
}

int walk_layers(const struct tree *tree, const char *name, struct digest_list *out)
{
    char path[TREE_PATH_MAX];
    return list_digests(tree_path_layers_directory(tree, name, path), path, out);
}

int walk_referrers(const struct tree *tree, const char *name, const struct digest *subject,
                   struct digest_list *out)
{
    char path[TREE_PATH_MAX];
    return list_digests(tree_path_referrers_directory(tree, name, subject, path), path, out);
}

struct blob_visit {
    int (*visit)(const struct digest *digest, void *context);
    void *context;
};

static int visit_placed_blob(const struct digest_directory *found, void *context)
{
    struct blob_visit *blobs = context;
    return found->misplaced ? 0 : blobs->visit(&found->digest, blobs->context);
}

int walk_blobs(const struct tree *tree, int (*visit)(const struct digest *digest, void *context),
               void *context)
{
    char path[TREE_PATH_MAX];
    struct blob_visit blobs = {visit, context};
    int result = tree_path_blobs(tree, path);
    return result < 0 ? result : walk_digest_directories(path, 1, 0, visit_placed_blob, &blobs);
}

int walk_tag_index(const struct tree *tree, const char *name, const char *tag,
                   struct digest_list *out)
{
    char tag_directory[TREE_PATH_MAX], path[TREE_PATH_MAX];
    int result = tree_path_tag_directory(tree, name, tag, tag_directory);
    if (result == 0)
        result = join(path, tag_directory, "index");
    return list_digests(result, path, out);
}

int walk_referrer_subjects(const struct tree *tree, const char *name, struct digest_list *out)
{
    char manifests[TREE_PATH_MAX], path[TREE_PATH_MAX];
    int result = tree_path_manifests_directory(tree, name, manifests);
    if (result == 0)
        result = join(path, manifests, "referrers");
    return list_digests(result, path, out);
}

int walk_repositories_with_layers(const struct tree *tree, struct string_list *out)
{
    return repositories_with(tree, REPOSITORY_MARKER_LAYERS, out);
}

struct entry_lists {
    struct string_list *directories, *files;
};

static int append_entry(const char *name, unsigned char type, void *context)
{
    struct entry_lists *lists = context;
    struct string_list *list = type == DT_DIR ? lists->directories : lists->files;
    return list != NULL ? string_list_append(list, name) : 0;
}

int walk_directory_entries(const char *path, struct string_list *directories,
                           struct string_list *files)
{
    struct entry_lists lists = {directories, files};
    return for_each_entry(path, append_entry, &lists);
}

int walk_directory_is_empty(const char *path)
{
    DIR *directory = opendir(path);
    if (directory == NULL)
        return 0;
    struct dirent *entry;
    int empty = 1;
    while (empty && (entry = readdir(directory)) != NULL)
        empty = strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0;
    closedir(directory);
    return empty;
}

static int merge_names(struct string_list *a, const struct string_list *b)
{
    struct string_list merged = {0};
    size_t i = 0, j = 0;
    int result = 0;
    while (result == 0 && (i < a->count || j < b->count)) {
        int order = i == a->count ? 1 : j == b->count ? -1 : strcmp(a->items[i], b->items[j]);
        const char *next = order <= 0 ? a->items[i] : b->items[j];
        result = string_list_append(&merged, next);
        if (order <= 0)
            i++;
        if (order >= 0)
            j++;
    }
    string_list_clear(a);
    *a = merged;
    return result;
}

int walk_repository_directories(const struct tree *tree, struct string_list *out)
{
    struct string_list with_layers = {0};
    int result = walk_repositories(tree, out);
    if (result == 0)
        result = walk_repositories_with_layers(tree, &with_layers);
    if (result == 0)
        result = merge_names(out, &with_layers);
    string_list_clear(&with_layers);
    return result;
}

struct blob_directory_visit {
    int (*visit)(const struct walk_blob_directory *blob, void *context);
    void *context;
    struct walk_blob_directory *blob; /* two paths: on the heap */
};

static int visit_blob_directory(const struct digest_directory *found, void *context)
{
    struct blob_directory_visit *walk = context;
    struct walk_blob_directory *blob = walk->blob;
    blob->digest = found->digest;
    blob->misplaced = found->misplaced;
    int result = join(blob->directory, found->parent, found->hex);
    if (result == 0)
        result = join(blob->data, blob->directory, "data");
    return result < 0 ? result : walk->visit(blob, walk->context);
}

int walk_blob_directories(const struct tree *tree,
                          int (*visit)(const struct walk_blob_directory *blob, void *context),
                          void *context)
{
    char blobs[TREE_PATH_MAX];
    struct blob_directory_visit walk = {visit, context, malloc(sizeof *walk.blob)};
    if (walk.blob == NULL)
        return error_set(-ENOMEM, "out of memory");
    int result = tree_path_blobs(tree, blobs);
    if (result == 0)
        result = walk_digest_directories(blobs, 1, 1, visit_blob_directory, &walk);
    free(walk.blob);
    return result;
}

struct temporary_search {
    const char *path;
    struct string_list *out, *directories;
};

static int sort_temporary(const char *name, unsigned char type, void *context)
{
    struct temporary_search *search = context;
    if (atomic_file_is_temporary(name)) {
        char full[TREE_PATH_MAX];
        int result = join(full, search->path, name);
        return result < 0 ? result : string_list_append(search->out, full);
    }
    return type == DT_DIR ? string_list_append(search->directories, name) : 0;
}

/* Appends to `out` the temporaries in `path` and below (`path` has room
 * for TREE_PATH_MAX and is restored before returning). */
static int collect_temporaries(char path[TREE_PATH_MAX], int depth, struct string_list *out)
{
    struct string_list directories = {0};
    struct temporary_search search = {path, out, &directories};
    size_t length = strlen(path);
    int result = for_each_entry(path, sort_temporary, &search);
    for (size_t i = 0; result == 0 && i < directories.count; i++) {
        const char *name = directories.items[i];
        size_t name_length = strlen(name);
        if (depth >= 512 || length + 1 + name_length >= TREE_PATH_MAX)
            continue; /* deeper or longer than any path of the tree */
        path[length] = '/';
        memcpy(path + length + 1, name, name_length + 1);
        result = collect_temporaries(path, depth + 1, out);
        path[length] = '\0';
    }
    string_list_clear(&directories);
    return result;
}

int walk_temporary_files(const struct tree *tree, struct string_list *out)
{
    char path[TREE_PATH_MAX];
    int length = snprintf(path, sizeof path, "%s", tree->root);
    if (length < 0 || length >= (int)sizeof path)
        return error_set(-ENAMETOOLONG, "path too long: %.64s", tree->root);
    int result = collect_temporaries(path, 0, out);
    string_list_sort(out);
    return result;
}

int walk_hidden_tag_entries(const struct tree *tree, const char *name, struct string_list *out)
{
    char path[TREE_PATH_MAX];
    int result = tree_path_tags_directory(tree, name, path);
    if (result < 0)
        return result;
    struct string_list entries = {0};
    result = walk_directory_entries(path, &entries, &entries);
    for (size_t i = 0; result == 0 && i < entries.count; i++) {
        const char *entry = entries.items[i];
        if (entry[0] == '.' && !atomic_file_is_temporary(entry))
            result = string_list_append(out, entry);
    }
    string_list_clear(&entries);
    string_list_sort(out);
    return result;
}

/* Unit tests for tools/gc_sweep.c: the sweep's decisions, beside writers
 * simulated between the mark and the sweep. */
#include "gc_test_tree.h"

#include <sys/file.h>

#include "layout/atomic_file.h"
#include "layout/gc_lock.h"
#include "layout/names.h"
#include "tools/fsck.h"
#include "tools/gc_mark.h"
#include "tools/gc_sweep.h"

struct run {
    struct gc_mark mark;
    struct gc_sweep_options options;
    struct gc_sweep_result result;
};

/* Step 1 and the mark, as cairn-gc does them. */
static void run_mark(struct gc_fixture *fixture, struct run *run, int delete_untagged, int dry_run,
                     long long grace_seconds)
{
    memset(run, 0, sizeof *run);
    run->options.dry_run = dry_run;
    run->options.grace_seconds = grace_seconds;
    run->options.uploads_older_than_seconds = 168 * 3600;
    assert_int_equal(gc_sweep_mark_start(&fixture->tree, dry_run, &run->options.mark_start, NULL),
                     0);
    gc_mark_init(&run->mark, delete_untagged);
    assert_int_equal(gc_mark_tree(&run->mark, &fixture->tree, fixture->store), 0);
}

static void run_sweep(struct gc_fixture *fixture, struct run *run)
{
    assert_int_equal(
        gc_sweep_run(&fixture->tree, fixture->store, &run->mark, &run->options, &run->result), 0);
}

static void run_gc(struct gc_fixture *fixture, struct run *run, int delete_untagged, int dry_run,
                   long long grace_seconds)
{
    run_mark(fixture, run, delete_untagged, dry_run, grace_seconds);
    run_sweep(fixture, run);
}

static void run_release(struct run *run)
{
    gc_sweep_result_release(&run->result);
    gc_mark_release(&run->mark);
}

static int deleted(const struct run *run, const struct gc_object *object)
{
    for (size_t i = 0; i < run->result.blob_count; i++)
        if (digest_equal(&run->result.blobs[i].digest, &object->digest))
            return 1;
    return 0;
}

static int layer_link_exists(struct gc_fixture *fixture, const char *name,
                             const struct gc_object *object)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_layer_link(&fixture->tree, name, &object->digest, path), 0);
    return support_exists(path);
}

static int revision_exists(struct gc_fixture *fixture, const char *name,
                           const struct gc_object *object)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_revision_link(&fixture->tree, name, &object->digest, path), 0);
    return support_exists(path);
}

static void test_cutoff(void **state)
{
    (void)state;
    struct timespec start = {.tv_sec = 10000, .tv_nsec = 500000000};
    assert_int_equal(gc_sweep_cutoff(10010, 3600, &start), 10010 - 3600 - 1);
    /* grace 0: the mark's start bounds it (what was freshened since stays). */
    assert_int_equal(gc_sweep_cutoff(10010, 0, &start), 9999);
}

static void test_old_unmarked_deleted_marked_kept(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object layer;
    struct gc_object image = gc_simple_image(&fixture, "app", "app", "v1", &layer);
    struct gc_object stray = gc_layer(&fixture, "app", "uploaded, never referenced");
    struct gc_object orphan = gc_put(&fixture, "linked nowhere at all");
    gc_age_everything(&fixture, GC_TWO_DAYS);

    struct run run;
    run_gc(&fixture, &run, 0, 0, 3600);
    assert_int_equal(run.result.errors.count, 0);
    assert_int_equal(run.result.blob_count, 2);
    assert_true(deleted(&run, &stray));
    assert_true(deleted(&run, &orphan));
    assert_true(strcmp(run.result.blobs[0].digest.string, run.result.blobs[1].digest.string) < 0);
    assert_int_equal(run.result.bytes, (uint64_t)(stray.size + orphan.size));
    assert_false(gc_blob_exists(&fixture, &stray));
    assert_false(gc_blob_exists(&fixture, &orphan));
    assert_true(gc_blob_exists(&fixture, &image));
    assert_true(gc_blob_exists(&fixture, &layer));
    /* The swept blob's _layers link went with it; the others stay. */
    assert_int_equal(run.result.layer_links, 1);
    assert_false(layer_link_exists(&fixture, "app", &stray));
    assert_true(layer_link_exists(&fixture, "app", &layer));
    assert_int_equal(run.result.kept_freshened, 0);
    run_release(&run);

    /* A second run finds nothing. */
    run_gc(&fixture, &run, 0, 0, 3600);
    assert_int_equal(run.result.blob_count, 0);
    assert_int_equal(run.result.layer_links, 0);
    assert_int_equal(run.result.directories, 0);
    run_release(&run);
    gc_fixture_close(&fixture);
}

static void test_grace_keeps_young_blobs(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    gc_simple_image(&fixture, "app", "app", "v1", NULL);
    struct gc_object young = gc_layer(&fixture, "app", "pushed half an hour ago");
    gc_age_everything(&fixture, GC_TWO_DAYS);
    char path[TREE_PATH_MAX];
    gc_blob_path(&fixture, &young.digest, path);
    gc_set_mtime(path, (long long)time(NULL) - 1800);

    struct run run;
    run_gc(&fixture, &run, 0, 0, 3600);
    assert_int_equal(run.result.blob_count, 0);
    assert_true(gc_blob_exists(&fixture, &young));
    run_release(&run);

    run_gc(&fixture, &run, 0, 0, 0);
    assert_int_equal(run.result.blob_count, 1);
    assert_false(gc_blob_exists(&fixture, &young));
    run_release(&run);
    gc_fixture_close(&fixture);
}

static void test_dry_run_deletes_nothing(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object kept_layer, old_layer;
    gc_simple_image(&fixture, "app", "new", "latest", &kept_layer);
    struct gc_object old = gc_simple_image(&fixture, "app", "old", NULL, &old_layer);
    gc_simple_image(&fixture, "solo", "solo", NULL, NULL);
    struct gc_object stray = gc_layer(&fixture, "app", "stray");
    char path[TREE_PATH_MAX], lock[TREE_PATH_MAX];
    support_path(path, "%s/docker/registry/v2/repositories/app/.cairn-tmp-abc123", fixture.root);
    support_write_string(path, "left by a crash");
    gc_age_everything(&fixture, GC_TWO_DAYS);

    struct run run;
    run_gc(&fixture, &run, 1, 1, 0);
    assert_int_equal(run.result.errors.count, 0);
    /* Would delete: the stray layer, and the untagged "old" and "solo"
     * images (manifest, config, layer each). */
    assert_int_equal(run.result.blob_count, 7);
    assert_true(deleted(&run, &stray));
    assert_true(deleted(&run, &old));
    assert_true(deleted(&run, &old_layer));
    assert_false(deleted(&run, &kept_layer));
    assert_int_equal(run.result.revision_count, 2);
    assert_int_equal(run.result.layer_links, 5);
    assert_int_equal(run.result.temporary_files, 1);
    /* Nothing happened. */
    assert_true(gc_blob_exists(&fixture, &stray));
    assert_true(gc_blob_exists(&fixture, &old));
    assert_true(revision_exists(&fixture, "app", &old));
    assert_true(layer_link_exists(&fixture, "app", &stray));
    assert_true(support_exists(path));
    /* Not even the lock file was created. */
    assert_int_equal(tree_path_gc_lock(&fixture.tree, lock), 0);
    assert_false(support_exists(lock));
    run_release(&run);
    gc_fixture_close(&fixture);
}

static void test_delete_untagged(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object old_layer, new_layer;
    /* Tag v1 moved from old to new: v1's index still names old. */
    struct gc_object old = gc_simple_image(&fixture, "app", "old", "v1", &old_layer);
    struct gc_object current = gc_simple_image(&fixture, "app", "new", "v1", &new_layer);
    struct gc_object signature_layer = gc_layer(&fixture, "app", "signature of old");
    struct gc_object signature =
        gc_image(&fixture, "app", "signature", &signature_layer, 1, NULL, &old);
    struct gc_object kept_signature_layer = gc_layer(&fixture, "app", "signature of new");
    struct gc_object kept_signature =
        gc_image(&fixture, "app", "kept signature", &kept_signature_layer, 1, NULL, &current);
    gc_age_everything(&fixture, GC_TWO_DAYS);

    /* Without --delete-untagged nothing of it goes. */
    struct run run;
    run_gc(&fixture, &run, 0, 0, 3600);
    assert_int_equal(run.result.blob_count, 0);
    assert_int_equal(run.result.revision_count, 0);
    run_release(&run);

    run_gc(&fixture, &run, 1, 0, 3600);
    assert_int_equal(run.result.errors.count, 0);
    assert_int_equal(run.result.revision_count, 2);
    assert_false(revision_exists(&fixture, "app", &old));
    assert_false(revision_exists(&fixture, "app", &signature));
    assert_true(revision_exists(&fixture, "app", &current));
    assert_true(revision_exists(&fixture, "app", &kept_signature));
    for (size_t i = 0; i < run.result.revision_count; i++)
        assert_string_equal(run.result.revisions[i].name, "app");
    assert_true(
        strcmp(run.result.revisions[0].digest.string, run.result.revisions[1].digest.string) < 0);
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_tag_index_link(&fixture.tree, "app", "v1", &old.digest, path), 0);
    assert_false(support_exists(path));
    assert_int_equal(tree_path_tag_index_link(&fixture.tree, "app", "v1", &current.digest, path),
                     0);
    assert_true(support_exists(path));
    assert_int_equal(
        tree_path_referrer_link(&fixture.tree, "app", &old.digest, &signature.digest, path), 0);
    assert_false(support_exists(path));
    assert_int_equal(tree_path_referrer_link(&fixture.tree, "app", &current.digest,
                                             &kept_signature.digest, path),
                     0);
    assert_true(support_exists(path));
    /* Their blobs were old too: swept in the same run, with their links. */
    assert_false(gc_blob_exists(&fixture, &old));
    assert_false(gc_blob_exists(&fixture, &old_layer));
    assert_false(gc_blob_exists(&fixture, &signature_layer));
    assert_false(layer_link_exists(&fixture, "app", &old_layer));
    assert_true(gc_blob_exists(&fixture, &new_layer));
    assert_true(gc_blob_exists(&fixture, &kept_signature_layer));
    assert_int_equal(run.result.blob_count, 6); /* 2 manifests, 2 configs, 2 layers */
    run_release(&run);
    gc_fixture_close(&fixture);
}

static void test_empty_repository_leaves_catalog(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    gc_simple_image(&fixture, "team", "parent", "v1", NULL);
    gc_simple_image(&fixture, "team/app", "child", NULL, NULL);
    gc_simple_image(&fixture, "solo/deep/name", "solo", NULL, NULL);
    /* A repository whose only tag was deleted: its revision stays without
     * --delete-untagged (and so does its now empty tags/ directory). */
    struct gc_object keeper = gc_simple_image(&fixture, "notags", "keeper", "gone", NULL);
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_tag_directory(&fixture.tree, "notags", "gone", path), 0);
    assert_int_equal(directory_remove_tree(path), 0);
    gc_age_everything(&fixture, GC_TWO_DAYS);

    struct string_list names = {0};
    assert_int_equal(walk_repositories(&fixture.tree, &names), 0);
    assert_int_equal(names.count, 4);
    string_list_clear(&names);

    struct run run;
    /* Without --delete-untagged: only the empty tag directory layout stays. */
    run_gc(&fixture, &run, 0, 0, 3600);
    assert_int_equal(run.result.directories, 0);
    assert_int_equal(tree_path_tags_directory(&fixture.tree, "notags", path), 0);
    assert_true(support_exists(path)); /* a live repository keeps its skeleton */
    run_release(&run);

    run_gc(&fixture, &run, 1, 0, 3600);
    assert_int_equal(run.result.errors.count, 0);
    assert_int_equal(run.result.revision_count, 3);
    assert_false(revision_exists(&fixture, "notags", &keeper));
    assert_int_equal(walk_repositories(&fixture.tree, &names), 0);
    assert_int_equal(names.count, 1);
    assert_string_equal(names.items[0], "team");
    string_list_clear(&names);
    assert_int_equal(tree_path_repository(&fixture.tree, "team/app", path), 0);
    assert_false(support_exists(path));
    assert_int_equal(tree_path_repository(&fixture.tree, "solo", path), 0);
    assert_false(support_exists(path)); /* empty parents went too */
    assert_int_equal(tree_path_repository(&fixture.tree, "notags", path), 0);
    assert_false(support_exists(path));
    assert_int_equal(tree_path_tags_directory(&fixture.tree, "team", path), 0);
    assert_true(support_exists(path));
    assert_int_equal(tree_path_repositories(&fixture.tree, path), 0);
    assert_true(support_exists(path));
    assert_true(run.result.directories > 10);
    run_release(&run);
    gc_fixture_close(&fixture);
}

struct freshen_hook {
    struct gc_fixture *fixture;
    const struct gc_object *object;
};

static void freshen_during_sweep(void *context)
{
    struct freshen_hook *hook = context;
    assert_int_equal(blob_store_freshen(hook->fixture->store, &hook->object->digest), 0);
}

static void test_freshened_after_mark_start_kept(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    gc_simple_image(&fixture, "app", "app", "v1", NULL);
    struct gc_object raced = gc_layer(&fixture, "app", "re-used by a push during the sweep");
    struct gc_object early = gc_layer(&fixture, "app", "HEAD hit between mark and sweep");
    struct gc_object old = gc_layer(&fixture, "app", "really unused");
    gc_age_everything(&fixture, GC_TWO_DAYS);

    struct run run;
    run_mark(&fixture, &run, 0, 0, 0);
    /* A writer freshens `early` after the mark started, before the sweep. */
    assert_int_equal(blob_store_freshen(fixture.store, &early.digest), 0);
    /* And `raced` once it is already a candidate. */
    struct freshen_hook hook = {&fixture, &raced};
    run.options.before_blob_deletion = freshen_during_sweep;
    run.options.hook_context = &hook;
    run_sweep(&fixture, &run);
    assert_int_equal(run.result.errors.count, 0);
    assert_int_equal(run.result.blob_count, 1);
    assert_true(deleted(&run, &old));
    assert_true(gc_blob_exists(&fixture, &raced));
    assert_true(gc_blob_exists(&fixture, &early));
    assert_true(layer_link_exists(&fixture, "app", &raced));
    assert_int_equal(run.result.kept_freshened, 1);
    run_release(&run);
    gc_fixture_close(&fixture);
}

/* Writers between the mark and the sweep, with --delete-untagged: a tag set
 * on an index whose child was untagged (the server freshens the child's
 * blob, not the child's layers, and does not rewrite the child's revision
 * link), and a manifest re-pushed by digest. */
static void test_writes_after_mark_keep_what_they_reach(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object child_layer, repushed_layer;
    struct gc_object child = gc_simple_image(&fixture, "app", "child", NULL, &child_layer);
    struct gc_object index = gc_index(&fixture, "app", &child, 1, NULL);
    struct gc_object repushed = gc_simple_image(&fixture, "app", "again", NULL, &repushed_layer);
    struct gc_object doomed = gc_simple_image(&fixture, "app", "doomed", NULL, NULL);
    gc_age_everything(&fixture, GC_TWO_DAYS);

    struct run run;
    run_mark(&fixture, &run, 1, 0, 0);
    assert_false(gc_digest_set_contains(&run.mark.blobs, &child_layer.digest));
    /* PUT /v2/app/manifests/stable with the index's bytes. */
    assert_int_equal(blob_store_freshen(fixture.store, &child.digest), 0);
    assert_int_equal(blob_store_freshen(fixture.store, &index.digest), 0);
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_revision_link(&fixture.tree, "app", &index.digest, path), 0);
    assert_int_equal(link_file_write(path, &index.digest), 0);
    gc_tag(&fixture, "app", "stable", &index.digest);
    /* PUT /v2/app/manifests/<digest> of `repushed`: freshens its blobs and
     * rewrites its revision link. */
    assert_int_equal(tree_path_revision_link(&fixture.tree, "app", &repushed.digest, path), 0);
    assert_int_equal(link_file_write(path, &repushed.digest), 0);
    assert_int_equal(blob_store_freshen(fixture.store, &repushed.digest), 0);
    assert_int_equal(blob_store_freshen(fixture.store, &repushed_layer.digest), 0);
    run_sweep(&fixture, &run);

    assert_int_equal(run.result.errors.count, 0);
    assert_true(revision_exists(&fixture, "app", &index));
    assert_true(revision_exists(&fixture, "app", &child));
    assert_true(gc_blob_exists(&fixture, &child_layer)); /* old, but reached again */
    assert_true(revision_exists(&fixture, "app", &repushed));
    assert_true(gc_blob_exists(&fixture, &repushed_layer));
    assert_false(revision_exists(&fixture, "app", &doomed));
    assert_false(gc_blob_exists(&fixture, &doomed));
    assert_int_equal(run.result.revision_count, 1);
    run_release(&run);
    gc_fixture_close(&fixture);
}

static void test_uploads_and_temporaries(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    gc_simple_image(&fixture, "app", "app", "v1", NULL);
    char stale[UPLOAD_ID_LENGTH + 1], fresh[UPLOAD_ID_LENGTH + 1];
    char path[TREE_PATH_MAX], started[40];
    assert_int_equal(upload_id_generate(stale), 0);
    assert_int_equal(upload_id_generate(fresh), 0);
    long long now = (long long)time(NULL);
    assert_int_equal(tree_path_upload_data(&fixture.tree, "app", stale, path), 0);
    support_write_string(path, "partial");
    assert_int_equal(tree_path_upload_started_at(&fixture.tree, "app", stale, path), 0);
    tree_format_started_at(now - 200 * 3600, 0, started);
    support_write_string(path, started);
    assert_int_equal(tree_path_upload_data(&fixture.tree, "app", fresh, path), 0);
    support_write_string(path, "partial");
    assert_int_equal(tree_path_upload_started_at(&fixture.tree, "app", fresh, path), 0);
    tree_format_started_at(now - 60, 0, started);
    support_write_string(path, started);
    char old_temporary[PATH_MAX], young_temporary[PATH_MAX];
    support_path(old_temporary, "%s/docker/registry/v2/blobs/.cairn-tmp-Ab12Cd", fixture.root);
    support_write_string(old_temporary, "x");
    gc_set_mtime(old_temporary, now - 2 * 3600);
    support_path(young_temporary, "%s/docker/registry/v2/repositories/app/.cairn-tmp-Zz99Yy",
                 fixture.root);
    support_write_string(young_temporary, "y");

    struct run run;
    run_gc(&fixture, &run, 0, 0, 3600);
    assert_int_equal(run.result.errors.count, 0);
    assert_int_equal(run.result.uploads, 1);
    assert_int_equal(run.result.temporary_files, 1);
    assert_false(support_exists(old_temporary));
    assert_true(support_exists(young_temporary));
    assert_int_equal(tree_path_upload_directory(&fixture.tree, "app", stale, path), 0);
    assert_false(support_exists(path));
    assert_int_equal(tree_path_upload_directory(&fixture.tree, "app", fresh, path), 0);
    assert_true(support_exists(path));
    run_release(&run);
    gc_fixture_close(&fixture);
}

/* cairn-fsck's verdict on the fixture: the number of problems (printed). */
static size_t fsck_problems(struct gc_fixture *fixture)
{
    struct fsck_options options = {
        .jobs = 1, .now = (long long)time(NULL), .stale_upload_seconds = 168 * 3600};
    struct fsck_report report;
    fsck_report_init(&report);
    assert_int_equal(fsck_run(&fixture->tree, fixture->store, &options, &report), 0);
    for (size_t i = 0; i < report.problem_count; i++)
        print_message("  fsck: %s %s %s\n", fsck_problem_kind_name(report.problems[i].kind),
                      report.problems[i].path, report.problems[i].detail);
    size_t count = report.problem_count;
    fsck_report_clear(&report);
    return count;
}

/* A run killed between removing a blob's data and its directory: the empty
 * directory and the _layers links to it go in one run. */
static void test_empty_blob_directory_and_its_links(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    gc_simple_image(&fixture, "app", "app", "v1", NULL);
    struct gc_object half = gc_layer(&fixture, "app", "data removed, directory left");
    gc_link_layer(&fixture, "other", &half.digest);
    char data[TREE_PATH_MAX], directory[TREE_PATH_MAX];
    gc_blob_path(&fixture, &half.digest, data);
    assert_int_equal(unlink(data), 0);
    assert_int_equal(tree_path_blob_directory(&fixture.tree, &half.digest, directory), 0);
    gc_age_everything(&fixture, GC_TWO_DAYS);
    assert_true(fsck_problems(&fixture) > 0);

    struct run run;
    run_gc(&fixture, &run, 0, 0, 3600);
    assert_int_equal(run.result.errors.count, 0);
    assert_false(support_exists(directory));
    assert_false(layer_link_exists(&fixture, "app", &half));
    assert_false(layer_link_exists(&fixture, "other", &half));
    assert_int_equal(run.result.layer_links, 2);
    run_release(&run);
    assert_int_equal(fsck_problems(&fixture), 0);
    gc_fixture_close(&fixture);
}

/* A put killed after its temporary was written: a blob directory holding
 * only an old temporary goes, temporary and directory, in one run; a young
 * one (a write that may be in flight) stays, and so does its directory. */
static void test_blob_directory_holding_only_a_temporary(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    gc_simple_image(&fixture, "app", "app", "v1", NULL);
    struct gc_object old = gc_put(&fixture, "killed long ago");
    struct gc_object young = gc_put(&fixture, "being written");
    char data[TREE_PATH_MAX], old_directory[TREE_PATH_MAX], young_directory[TREE_PATH_MAX];
    char old_temporary[TREE_PATH_MAX], young_temporary[TREE_PATH_MAX];
    gc_blob_path(&fixture, &old.digest, data);
    assert_int_equal(unlink(data), 0);
    gc_blob_path(&fixture, &young.digest, data);
    assert_int_equal(unlink(data), 0);
    assert_int_equal(tree_path_blob_directory(&fixture.tree, &old.digest, old_directory), 0);
    assert_int_equal(tree_path_blob_directory(&fixture.tree, &young.digest, young_directory), 0);
    support_path(old_temporary, "%s/" ATOMIC_FILE_TEMPORARY_PREFIX "Ab12Cd", old_directory);
    support_path(young_temporary, "%s/" ATOMIC_FILE_TEMPORARY_PREFIX "Zz99Yy", young_directory);
    support_write_string(old_temporary, "half a manifest");
    gc_age_everything(&fixture, GC_TWO_DAYS);
    support_write_string(young_temporary, "half a manifest");

    struct run run;
    run_gc(&fixture, &run, 0, 0, 3600);
    assert_int_equal(run.result.errors.count, 0);
    assert_int_equal(run.result.temporary_files, 1);
    assert_false(support_exists(old_temporary));
    assert_false(support_exists(old_directory));
    assert_true(support_exists(young_temporary));
    assert_true(support_exists(young_directory));
    run_release(&run);

    /* Once older than the grace, the young one goes too. */
    gc_set_mtime(young_temporary, (long long)time(NULL) - 7200);
    run_gc(&fixture, &run, 0, 0, 3600);
    assert_int_equal(run.result.temporary_files, 1);
    assert_false(support_exists(young_directory));
    run_release(&run);
    assert_int_equal(fsck_problems(&fixture), 0);
    gc_fixture_close(&fixture);
}

/* (not inlined: the compiler would see the whole array as the path) */
static __attribute__((noinline)) void plant_half_link(const char *path)
{
    support_write_string(path, "sha256:");
}

/* A server killed mid-write leaves temporaries in link directories, tag
 * directories and uploads: the old ones go (grace 1 h), the young stay. */
static void test_temporaries_everywhere(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object layer;
    struct gc_object image = gc_simple_image(&fixture, "team/app", "app", "v1", &layer);
    char directory[TREE_PATH_MAX], link[TREE_PATH_MAX];
    char old_paths[5][TREE_PATH_MAX], young_path[TREE_PATH_MAX];
    assert_int_equal(tree_path_layer_link(&fixture.tree, "team/app", &layer.digest, link), 0);
    /* (the link's own directory) */
    snprintf(directory, sizeof directory, "%s", link);
    *strrchr(directory, '/') = '\0';
    support_path(old_paths[0], "%s/" ATOMIC_FILE_TEMPORARY_PREFIX "aaaaaa", directory);
    assert_int_equal(tree_path_revision_link(&fixture.tree, "team/app", &image.digest, link), 0);
    *strrchr(link, '/') = '\0';
    support_path(old_paths[1], "%s/" ATOMIC_FILE_TEMPORARY_PREFIX "bbbbbb", link);
    assert_int_equal(tree_path_tag_current_link(&fixture.tree, "team/app", "v1", link), 0);
    *strrchr(link, '/') = '\0';
    support_path(old_paths[2], "%s/" ATOMIC_FILE_TEMPORARY_PREFIX "cccccc", link);
    assert_int_equal(tree_path_tag_index_link(&fixture.tree, "team/app", "v1", &image.digest, link),
                     0);
    *strrchr(link, '/') = '\0';
    support_path(old_paths[3], "%s/" ATOMIC_FILE_TEMPORARY_PREFIX "dddddd", link);
    /* A tag whose first PUT was killed before its current link. */
    assert_int_equal(tree_path_tag_current_link(&fixture.tree, "team/app", "half", link), 0);
    *strrchr(link, '/') = '\0';
    assert_int_equal(directory_create(link), 0);
    support_path(old_paths[4], "%s/" ATOMIC_FILE_TEMPORARY_PREFIX "eeeeee", link);
    for (int i = 0; i < 5; i++)
        plant_half_link(old_paths[i]);
    assert_int_equal(tree_path_blob_directory(&fixture.tree, &layer.digest, directory), 0);
    support_path(young_path, "%s/" ATOMIC_FILE_TEMPORARY_PREFIX "ffffff", directory);
    gc_age_everything(&fixture, GC_TWO_DAYS);
    support_write_string(young_path, "a write in flight");

    struct run run;
    run_gc(&fixture, &run, 0, 0, 3600);
    assert_int_equal(run.result.errors.count, 0);
    assert_int_equal(run.result.temporary_files, 5);
    for (int i = 0; i < 5; i++)
        assert_false(support_exists(old_paths[i]));
    assert_true(support_exists(young_path));
    assert_true(gc_blob_exists(&fixture, &image));
    assert_true(gc_blob_exists(&fixture, &layer));
    assert_true(layer_link_exists(&fixture, "team/app", &layer));
    run_release(&run);
    gc_set_mtime(young_path, (long long)time(NULL) - 7200);
    run_gc(&fixture, &run, 0, 0, 3600);
    assert_int_equal(run.result.temporary_files, 1);
    run_release(&run);
    gc_fixture_close(&fixture);
}

/* Hidden entries of a tags directory ('.' names: an interrupted atomic tag
 * change) older than the grace are debris; a young one stays. */
static void test_hidden_tag_entries(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object image = gc_simple_image(&fixture, "app", "app", "v1", NULL);
    char tags[TREE_PATH_MAX], old_entry[TREE_PATH_MAX], young_entry[TREE_PATH_MAX];
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_tags_directory(&fixture.tree, "app", tags), 0);
    support_path(old_entry, "%s/.v2.removing", tags);
    support_path(path, "%s/current/link", old_entry);
    assert_int_equal(link_file_write(path, &image.digest), 0);
    support_path(young_entry, "%s/.v3.new", tags);
    support_path(path, "%s/current/link", young_entry);
    assert_int_equal(link_file_write(path, &image.digest), 0);

    struct run run;
    /* Made "old" by running the sweep two hours from now. */
    run_mark(&fixture, &run, 0, 0, 3600);
    run.options.now = (long long)time(NULL) + 7200;
    run.options.mark_start.tv_sec += 7200;
    run_sweep(&fixture, &run);
    assert_int_equal(run.result.errors.count, 0);
    assert_false(support_exists(old_entry));
    assert_false(support_exists(young_entry));
    assert_true(revision_exists(&fixture, "app", &image));
    assert_int_equal(tree_path_tag_current_link(&fixture.tree, "app", "v1", path), 0);
    assert_true(support_exists(path));
    run_release(&run);

    /* Made now: kept. */
    support_path(path, "%s/current/link", young_entry);
    assert_int_equal(link_file_write(path, &image.digest), 0);
    run_gc(&fixture, &run, 0, 0, 3600);
    assert_true(support_exists(young_entry));
    run_release(&run);
    gc_fixture_close(&fixture);
}

static void test_incomplete_mark_deletes_nothing(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object old = gc_simple_image(&fixture, "app", "old", NULL, NULL);
    struct gc_object stray = gc_layer(&fixture, "app", "stray");
    gc_age_everything(&fixture, GC_TWO_DAYS);
    struct run run;
    run_mark(&fixture, &run, 1, 0, 0);
    assert_int_equal(gc_mark_add_error(&run.mark, "cannot read manifest: planted"), 0);
    run_sweep(&fixture, &run);
    assert_true(run.result.errors.count >= 1);
    assert_int_equal(run.result.blob_count, 0);
    assert_int_equal(run.result.revision_count, 0);
    assert_true(gc_blob_exists(&fixture, &stray));
    assert_true(revision_exists(&fixture, "app", &old));
    run_release(&run);
    gc_fixture_close(&fixture);
}

static void test_batches_release_the_lock(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    enum { COUNT = 40 };
    struct gc_object strays[COUNT];
    for (int i = 0; i < COUNT; i++) {
        char text[64];
        snprintf(text, sizeof text, "stray %d", i);
        strays[i] = gc_layer(&fixture, "app", text);
    }
    gc_age_everything(&fixture, GC_TWO_DAYS);
    struct run run;
    run_mark(&fixture, &run, 0, 0, 0);
    run.options.batch_max = 3;
    run_sweep(&fixture, &run);
    assert_int_equal(run.result.blob_count, COUNT);
    assert_int_equal(run.result.layer_links, COUNT);
    for (int i = 0; i < COUNT; i++)
        assert_false(gc_blob_exists(&fixture, &strays[i]));
    /* The repository had nothing else: it is gone. */
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_repository(&fixture.tree, "app", path), 0);
    assert_false(support_exists(path));
    /* The lock is free again. */
    int fd;
    assert_int_equal(gc_lock_open(&fixture.tree, &fd), 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    close(fd);
    run_release(&run);
    gc_fixture_close(&fixture);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cutoff),
        cmocka_unit_test(test_old_unmarked_deleted_marked_kept),
        cmocka_unit_test(test_grace_keeps_young_blobs),
        cmocka_unit_test(test_dry_run_deletes_nothing),
        cmocka_unit_test(test_delete_untagged),
        cmocka_unit_test(test_empty_repository_leaves_catalog),
        cmocka_unit_test(test_freshened_after_mark_start_kept),
        cmocka_unit_test(test_writes_after_mark_keep_what_they_reach),
        cmocka_unit_test(test_uploads_and_temporaries),
        cmocka_unit_test(test_empty_blob_directory_and_its_links),
        cmocka_unit_test(test_blob_directory_holding_only_a_temporary),
        cmocka_unit_test(test_temporaries_everywhere),
        cmocka_unit_test(test_hidden_tag_entries),
        cmocka_unit_test(test_incomplete_mark_deletes_nothing),
        cmocka_unit_test(test_batches_release_the_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for layout/run_marker.h: a running writer is never counted as
 * stopped, one killed is, recorded with the time it was first
 * seen, and forgotten only by a walk whose cutoff is past that time. */
#include "test_support.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "layout/run_marker.h"
#include "layout/tree.h"

struct fixture {
    char *root;
    struct tree tree;
    char directory[TREE_PATH_MAX];
};

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    assert_non_null(fixture);
    fixture->root = support_root_create();
    assert_int_equal(tree_open(&fixture->tree, fixture->root, 1), 0);
    assert_int_equal(tree_path_run_markers(&fixture->tree, fixture->directory), 0);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    support_root_remove(fixture->root);
    free(fixture);
    return 0;
}

static size_t count_entries(const char *directory, const char *prefix)
{
    DIR *listing = opendir(directory);
    assert_non_null(listing);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(listing)) != NULL)
        if (entry->d_name[0] != '.' && strncmp(entry->d_name, prefix, strlen(prefix)) == 0)
            count++;
    closedir(listing);
    return count;
}

/* Makes every file in the directory look `seconds` older. */
static void age_entries(const char *directory, long long seconds)
{
    DIR *listing = opendir(directory);
    assert_non_null(listing);
    struct dirent *entry;
    while ((entry = readdir(listing)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        support_path(path, "%s/%s", directory, entry->d_name);
        struct timespec times[2] = {{.tv_sec = time(NULL) - seconds},
                                    {.tv_sec = time(NULL) - seconds}};
        assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    }
    closedir(listing);
}

/* A tree nobody recorded: unknown history, and recording it creates the
 * directory with its history stop; a dry survey changes nothing. */
static void test_unknown_history(void **state)
{
    struct fixture *fixture = *state;
    struct run_marker_survey survey;
    assert_int_equal(run_marker_survey(&fixture->tree, 0, time(NULL), &survey), 0);
    assert_true(survey.unknown_history);
    assert_false(support_exists(fixture->directory));
    run_marker_survey_release(&survey);

    long long now = time(NULL);
    assert_int_equal(run_marker_survey(&fixture->tree, 1, now, &survey), 0);
    assert_true(survey.unknown_history);
    assert_int_equal(survey.count, 1);
    assert_int_equal(survey.stops[0].seen, now);
    run_marker_survey_release(&survey);
    assert_int_equal(count_entries(fixture->directory, "stopped."), 1);

    /* The next survey sees the history stop as seen `now`. */
    assert_int_equal(run_marker_survey(&fixture->tree, 1, now + 10, &survey), 0);
    assert_true(survey.unknown_history);
    assert_int_equal(survey.count, 1);
    assert_true(survey.stops[0].seen >= now - 1 && survey.stops[0].seen <= now + 1);
    /* A walk whose cutoff is not past it keeps it; one past it forgets it. */
    assert_int_equal(run_marker_forget(&survey, survey.stops[0].seen), 0);
    assert_int_equal(count_entries(fixture->directory, "stopped."), 1);
    assert_int_equal(run_marker_forget(&survey, survey.stops[0].seen + 1), 0);
    assert_int_equal(count_entries(fixture->directory, "stopped."), 0);
    run_marker_survey_release(&survey);

    assert_int_equal(run_marker_survey(&fixture->tree, 1, now + 20, &survey), 0);
    assert_false(survey.unknown_history);
    assert_int_equal(survey.count, 0);
    run_marker_survey_release(&survey);
}

/* A writer holding its file is running, however old the file; leaving
 * removes it. */
static void test_running_writer_and_clean_exit(void **state)
{
    struct fixture *fixture = *state;
    struct run_marker marker;
    assert_int_equal(run_marker_enter(&fixture->tree, "cairn", &marker), 0);
    assert_true(support_exists(marker.path));
    /* The entering process created the directory: its history is a stop. */
    assert_int_equal(count_entries(fixture->directory, "stopped."), 1);
    assert_int_equal(count_entries(fixture->directory, "cairn."), 1);
    age_entries(fixture->directory, 3600);

    struct run_marker_survey survey;
    assert_int_equal(run_marker_survey(&fixture->tree, 1, time(NULL), &survey), 0);
    assert_int_equal(survey.count, 1); /* the history, not the writer */
    assert_non_null(strstr(survey.stops[0].path, ".history"));
    assert_int_equal(run_marker_forget(&survey, LLONG_MAX), 0);
    run_marker_survey_release(&survey);
    assert_int_equal(count_entries(fixture->directory, "cairn."), 1);

    run_marker_leave(&marker);
    assert_false(support_exists(marker.path));
    assert_int_equal(run_marker_survey(&fixture->tree, 1, time(NULL), &survey), 0);
    assert_int_equal(survey.count, 0);
    run_marker_survey_release(&survey);
    run_marker_leave(&marker); /* twice is harmless */
}

/* A writer killed without leaving: counted at once, renamed
 * with the time it was first seen, kept until a cutoff past that time. */
static void test_killed_writer(void **state)
{
    struct fixture *fixture = *state;
    struct run_marker_survey survey;
    assert_int_equal(run_marker_survey(&fixture->tree, 1, time(NULL), &survey), 0);
    assert_int_equal(run_marker_forget(&survey, LLONG_MAX), 0); /* the history */
    run_marker_survey_release(&survey);

    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct run_marker marker;
        _exit(run_marker_enter(&fixture->tree, "cairn-gc", &marker) == 0 ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(count_entries(fixture->directory, "cairn-gc."), 1);

    long long now = time(NULL);
    /* A dry survey counts it and leaves it as it is. */
    assert_int_equal(run_marker_survey(&fixture->tree, 0, now, &survey), 0);
    assert_int_equal(survey.count, 1);
    run_marker_survey_release(&survey);
    assert_int_equal(count_entries(fixture->directory, "cairn-gc."), 1);

    assert_int_equal(run_marker_survey(&fixture->tree, 1, now, &survey), 0);
    assert_int_equal(survey.count, 1);
    assert_int_equal(survey.stops[0].seen, now);
    run_marker_survey_release(&survey);
    assert_int_equal(count_entries(fixture->directory, "cairn-gc."), 0);
    assert_int_equal(count_entries(fixture->directory, "stopped."), 1);

    /* Seen again later: still seen at `now`. */
    assert_int_equal(run_marker_survey(&fixture->tree, 1, now + 100, &survey), 0);
    assert_int_equal(survey.count, 1);
    assert_int_equal(survey.stops[0].seen, now);
    assert_int_equal(run_marker_forget(&survey, now), 0);
    assert_int_equal(count_entries(fixture->directory, "stopped."), 1);
    assert_int_equal(run_marker_forget(&survey, now + 1), 0);
    assert_int_equal(count_entries(fixture->directory, "stopped."), 0);
    run_marker_survey_release(&survey);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unknown_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_running_writer_and_clean_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_writer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* layout/run_marker.h */
#include "layout/run_marker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "layout/error.h"

#define STOPPED_PREFIX "stopped."

/* An OFD write lock on the whole file, without waiting: 0, or -errno
 * (-EAGAIN or -EACCES when another open file description holds it). */
static int lock_whole_file(int fd)
{
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    return fcntl(fd, F_OFD_SETLK, &lock) == 0 ? 0 : -errno;
}

static int join(char out[TREE_PATH_MAX], const char *directory, const char *name)
{
    int length = snprintf(out, TREE_PATH_MAX, "%s/%s", directory, name);
    if (length < 0 || length >= TREE_PATH_MAX)
        return error_set(-ENAMETOOLONG, "path too long: %.64s/%.64s", directory, name);
    return 0;
}

static int add_stop(struct run_marker_survey *survey, const char *path, long long seen);

/* Creates R/.cairn-run with its history stop (added to `survey` if not
 * NULL); 0 also when it exists. */
static int create_directory(const struct tree *tree, const char *directory, long long now,
                            struct run_marker_survey *survey)
{
    if (mkdir(directory, 0755) < 0) {
        if (errno == EEXIST)
            return 0;
        return error_set(-errno, "cannot create %s: %s", directory, strerror(errno));
    }
    char name[64], path[TREE_PATH_MAX];
    snprintf(name, sizeof name, STOPPED_PREFIX "%lld.history", now);
    int result = join(path, directory, name);
    if (result < 0)
        return result;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return error_set(-errno, "cannot create %s: %s", path, strerror(errno));
    static const char text[] = "what wrote this tree before this file's time is unknown\n";
    ssize_t written = write(fd, text, sizeof text - 1);
    close(fd);
    if (written != (ssize_t)(sizeof text - 1))
        return error_set(-EIO, "cannot write %s", path);
    if ((result = directory_sync(directory)) < 0 ||
        (result = directory_sync(tree->root_directory)) < 0)
        return result;
    return survey != NULL ? add_stop(survey, path, now) : 0;
}

/* The host name as one safe name part: letters, digits and '-'. */
static void host_part(char out[65])
{
    char host[65] = "";
    if (gethostname(host, sizeof host - 1) < 0 || host[0] == '\0')
        strcpy(host, "host");
    host[64] = '\0';
    size_t i = 0;
    for (; host[i] != '\0'; i++) {
        unsigned char c = (unsigned char)host[i];
        out[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                     ? (char)c
                     : '-';
    }
    out[i] = '\0';
}

int run_marker_enter(const struct tree *tree, const char *program, struct run_marker *marker)
{
    marker->fd = -1;
    marker->path[0] = '\0';
    char directory[TREE_PATH_MAX];
    int result = tree_path_run_markers(tree, directory);
    if (result < 0 || (result = create_directory(tree, directory, (long long)time(NULL), NULL)) < 0)
        return result;
    char host[65], name[128];
    host_part(host);
    unsigned int random = 0;
    if (getrandom(&random, sizeof random, 0) != (ssize_t)sizeof random)
        random = (unsigned int)time(NULL) ^ (unsigned int)getpid();
    snprintf(name, sizeof name, "%s.%s.%ld.%08x", program, host, (long)getpid(), random);
    char creating[TREE_PATH_MAX];
    if ((result = join(marker->path, directory, name)) < 0)
        return result;
    int length = snprintf(creating, sizeof creating, "%s/.%s", directory, name);
    if (length < 0 || length >= (int)sizeof creating)
        return error_set(-ENAMETOOLONG, "path too long: %.64s", directory);
    /* Locked under a hidden name, then renamed: a survey never sees the
     * file unlocked while its writer runs. */
    int fd = open(creating, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return error_set(-errno, "cannot create %s: %s", creating, strerror(errno));
    if ((result = lock_whole_file(fd)) < 0) {
        close(fd);
        unlink(creating);
        return error_set(result, "cannot lock %s: %s", creating, strerror(-result));
    }
    char text[512];
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    length = snprintf(text, sizeof text,
                      "%s, process %ld on %s, started %04d-%02d-%02dT%02d:%02d:%02dZ\n", program,
                      (long)getpid(), host, utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                      utc.tm_hour, utc.tm_min, utc.tm_sec);
    if (write(fd, text, (size_t)length) != length)
        result = error_set(-EIO, "cannot write %s", creating);
    else if (rename(creating, marker->path) < 0)
        result = error_set(-errno, "cannot rename %s: %s", creating, strerror(errno));
    else
        result = directory_sync(directory);
    if (result < 0) {
        close(fd);
        unlink(creating);
        unlink(marker->path);
        return result;
    }
    marker->fd = fd;
    return 0;
}

void run_marker_leave(struct run_marker *marker)
{
    if (marker->fd < 0)
        return;
    unlink(marker->path);
    close(marker->fd); /* releases the lock */
    marker->fd = -1;
}

static int add_stop(struct run_marker_survey *survey, const char *path, long long seen)
{
    struct run_marker_stop *stops = realloc(survey->stops, (survey->count + 1) * sizeof *stops);
    if (stops == NULL)
        return error_set(-ENOMEM, "out of memory");
    survey->stops = stops;
    snprintf(stops[survey->count].path, TREE_PATH_MAX, "%s", path);
    stops[survey->count].seen = seen;
    survey->count++;
    return 0;
}

/* `name` is a writer's file: adds it when nobody holds it (renamed first
 * when `record`). */
static int check_writer(struct run_marker_survey *survey, const char *directory, const char *name,
                        int record, long long now)
{
    char path[TREE_PATH_MAX];
    int result = join(path, directory, name);
    if (result < 0)
        return result;
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : error_set(-errno, "cannot open %s: %s", path, strerror(errno));
    struct stat held, current;
    int stopped = fstat(fd, &held) == 0 && S_ISREG(held.st_mode) && lock_whole_file(fd) == 0;
    /* Still the file at the path (a writer leaving removes it first). */
    stopped = stopped && stat(path, &current) == 0 && current.st_ino == held.st_ino &&
              current.st_dev == held.st_dev;
    if (stopped && record) {
        char renamed_name[TREE_PATH_MAX], renamed[TREE_PATH_MAX];
        snprintf(renamed_name, sizeof renamed_name, STOPPED_PREFIX "%lld.%s", now, name);
        if ((result = join(renamed, directory, renamed_name)) == 0) {
            if (rename(path, renamed) == 0)
                result = add_stop(survey, renamed, now);
            else if (errno != ENOENT)
                result = error_set(-errno, "cannot rename %s: %s", path, strerror(errno));
        }
    } else if (stopped) {
        result = add_stop(survey, path, now);
    }
    close(fd);
    return result;
}

int run_marker_survey(const struct tree *tree, int record, long long now,
                      struct run_marker_survey *out)
{
    memset(out, 0, sizeof *out);
    char directory[TREE_PATH_MAX];
    int result = tree_path_run_markers(tree, directory);
    if (result < 0)
        return result;
    DIR *listing = opendir(directory);
    if (listing == NULL) {
        if (errno != ENOENT)
            return error_set(-errno, "cannot read %s: %s", directory, strerror(errno));
        out->unknown_history = 1;
        return record ? create_directory(tree, directory, now, out) : 0;
    }
    struct dirent *entry;
    while (result == 0 && (errno = 0, entry = readdir(listing)) != NULL) {
        const char *name = entry->d_name;
        if (name[0] == '.')
            continue;
        if (strncmp(name, STOPPED_PREFIX, strlen(STOPPED_PREFIX)) == 0) {
            char path[TREE_PATH_MAX], *end;
            long long seen = strtoll(name + strlen(STOPPED_PREFIX), &end, 10);
            if (*end != '.' || seen <= 0)
                seen = now; /* not ours to read: counts as just seen */
            size_t length = strlen(name);
            if (length > 8 && strcmp(name + length - 8, ".history") == 0)
                out->unknown_history = 1;
            if ((result = join(path, directory, name)) == 0)
                result = add_stop(out, path, seen);
        } else {
            result = check_writer(out, directory, name, record, now);
        }
    }
    if (result == 0 && errno != 0)
        result = error_set(-errno, "cannot read %s: %s", directory, strerror(errno));
    closedir(listing);
    if (result == 0 && record && out->count > 0)
        result = directory_sync(directory);
    if (result < 0)
        run_marker_survey_release(out);
    return result;
}

int run_marker_forget(const struct run_marker_survey *survey, long long cutoff)
{
    int result = 0;
    for (size_t i = 0; i < survey->count; i++)
        if (survey->stops[i].seen < cutoff && unlink(survey->stops[i].path) < 0 &&
            errno != ENOENT && result == 0)
            result =
                error_set(-errno, "cannot remove %s: %s", survey->stops[i].path, strerror(errno));
    return result;
}

void run_marker_survey_release(struct run_marker_survey *survey)
{
    free(survey->stops);
    survey->stops = NULL;
    survey->count = 0;
}

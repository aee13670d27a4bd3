/*
 * tests/unit/s3_test_server.h — the real S3-compatible server of the unit
 * tests (tests/s3/s3-server.js, @20minutes/s3rver, which verifies SigV4),
 * started once per test group on a free port of 127.0.0.1 with one bucket.
 *
 *     if (!s3_test_server_available(s3_directory)) return 77;   // skipped
 *     struct s3_test_server server;
 *     if (s3_test_server_start(&server, s3_directory) < 0) ... fail
 *     ... http://127.0.0.1:<server.port>, S3_TEST_BUCKET, S3_TEST_ACCESS_KEY ...
 *     s3_test_server_stop(&server);
 *
 * The server dies with the test (PR_SET_PDEATHSIG) should the test crash.
 */
#ifndef CAIRN_TESTS_UNIT_S3_TEST_SERVER_H
#define CAIRN_TESTS_UNIT_S3_TEST_SERVER_H

#include "test_support.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define S3_TEST_ACCESS_KEY "cairn-test-access"
#define S3_TEST_SECRET_KEY "cairn-test-secret-K3y"
#define S3_TEST_BUCKET "cairn-test"

struct s3_test_server {
    pid_t pid; /* -1 when stopped */
    int port;
    char *root; /* its data directory's parent (support_root_create) */
};

/* Whether node and tests/s3/node_modules are there (else the tests skip). */
static inline int s3_test_server_available(const char *s3_directory)
{
    char modules[PATH_MAX];
    snprintf(modules, sizeof modules, "%s/node_modules/@20minutes/s3rver/package.json",
             s3_directory);
    if (access(modules, R_OK) != 0)
        return 0;
    pid_t child = fork();
    if (child == 0) {
        int null_fd = open("/dev/null", O_WRONLY);
        dup2(null_fd, STDOUT_FILENO);
        dup2(null_fd, STDERR_FILENO);
        execlp("node", "node", "--version", (char *)NULL);
        _exit(127);
    }
    int status;
    return child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

/* Starts the server and waits for its "listening <port>" line: 0 or -1. */
static inline int s3_test_server_start(struct s3_test_server *server, const char *s3_directory)
{
    char script[PATH_MAX], data[PATH_MAX];
    server->pid = -1;
    server->port = 0;
    snprintf(script, sizeof script, "%s/s3-server.js", s3_directory);
    server->root = support_root_create();
    snprintf(data, sizeof data, "%s/data", server->root);
    int pipe_fds[2];
    if (pipe(pipe_fds) < 0)
        return -1;
    server->pid = fork();
    if (server->pid < 0)
        return -1;
    if (server->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlives a crashed test */
        dup2(pipe_fds[1], STDOUT_FILENO);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        execlp("node", "node", script, "--host", "127.0.0.1", "--port", "0", "--directory", data,
               "--access-key", S3_TEST_ACCESS_KEY, "--secret-key", S3_TEST_SECRET_KEY, "--bucket",
               S3_TEST_BUCKET, (char *)NULL);
        _exit(127);
    }
    close(pipe_fds[1]);
    char line[256];
    size_t used = 0;
    int found = 0;
    while (!found && used + 1 < sizeof line) {
        struct pollfd poll_fd = {pipe_fds[0], POLLIN, 0};
        if (poll(&poll_fd, 1, 30000) <= 0)
            break;
        ssize_t got = read(pipe_fds[0], line + used, sizeof line - 1 - used);
        if (got <= 0)
            break;
        used += (size_t)got;
        line[used] = '\0';
        found = strchr(line, '\n') != NULL && sscanf(line, "listening %d", &server->port) == 1;
    }
    close(pipe_fds[0]);
    if (!found) {
        fprintf(stderr, "s3-server.js did not print \"listening <port>\"\n");
        return -1;
    }
    return 0;
}

/* Stops the server (again: nothing) and removes its data. */
static inline void s3_test_server_stop(struct s3_test_server *server)
{
    if (server->pid > 0) {
        kill(server->pid, SIGTERM);
        waitpid(server->pid, NULL, 0);
        server->pid = -1;
    }
    if (server->root != NULL)
        support_root_remove(server->root);
    server->root = NULL;
}

#endif

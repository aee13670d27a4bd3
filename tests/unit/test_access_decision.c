/* Unit tests for src/auth/access_decision.h: identities from an
 * Authorization value or a certificate, the login cache, the decision and
 * the pull scope, without a server. */
#include "test_support.h"

#include <crypt.h>
#include <errno.h>

#include "src/auth/access_decision.h"
#include "src/auth/htpasswd.h"

/* "Basic " + base64("alice:alice-secret"), and a wrong password. */
#define ALICE_BASIC "Basic YWxpY2U6YWxpY2Utc2VjcmV0"
#define ALICE_WRONG "Basic YWxpY2U6d3Jvbmc="
#define ALICE_WRONG_TOO "Basic YWxpY2U6d3JvbmctdG9v"

struct fixture {
    char *root;
    struct htpasswd *htpasswd;
    struct access_rules *rules;
};

static char *alice[] = {"alice"};
static char *anonymous[] = {"anonymous"};
static char *team_a[] = {"team-a/*"};
static char *public_repositories[] = {"public/*"};

#define RULE(subjects_, repositories_, actions_)                                                   \
    {                                                                                              \
        .subjects = subjects_, .subject_count = sizeof subjects_ / sizeof *subjects_,              \
        .repositories = repositories_,                                                             \
        .repository_count = sizeof repositories_ / sizeof *repositories_, .actions = actions_      \
    }

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->root = support_root_create();
    char setting[CRYPT_GENSALT_OUTPUT_SIZE], path[PATH_MAX], content[256];
    assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, setting, sizeof setting));
    struct crypt_data *data = calloc(1, sizeof *data);
    const char *hash = crypt_rn("alice-secret", setting, data, (int)sizeof *data);
    assert_non_null(hash);
    snprintf(content, sizeof content, "alice:%s\n", hash);
    free(data);
    support_path(path, "%s/htpasswd", f->root);
    support_write_string(path, content);
    assert_int_equal(htpasswd_load(path, &f->htpasswd), 0);
    struct access_rule_spec rules[] = {
        RULE(alice, team_a, ACCESS_PULL),
        RULE(anonymous, public_repositories, ACCESS_PULL),
    };
    assert_int_equal(access_rules_create(rules, 2, NULL, 0, &f->rules), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    htpasswd_free(f->htpasswd);
    access_rules_free(f->rules);
    support_root_remove(f->root);
    free(f);
    return 0;
}

static int identify(const struct access_policy *policy, const char *authorization,
                    struct access_identity *identity, struct password_check **check)
{
    return access_identify(policy, authorization, authorization != NULL ? strlen(authorization) : 0,
                           NULL, NULL, identity, check);
}

/* A locked address is refused before bcrypt and before the login cache: a
 * cached success must not tell it that a guess is right. */
static void test_login_limits(void **state)
{
    struct fixture *f = *state;
    struct login_limiter *limiter;
    assert_int_equal(login_limiter_create(64, NULL, NULL, &limiter), 0);
    struct access_policy policy = {
        .htpasswd = f->htpasswd,
        .generation = 7,
        .login_limiter = limiter,
        .login_limits = {
            .enabled = 1, .address_failures = 2, .user_failures = 100, .window_seconds = 60}};
    struct access_identity identity;
    assert_int_equal(identify(&policy, ALICE_BASIC, &identity, NULL), 0); /* now cached */
    assert_int_equal(identify(&policy, ALICE_WRONG, &identity, NULL), -EACCES);
    struct password_check *check = NULL;
    assert_int_equal(identify(&policy, ALICE_WRONG_TOO, &identity, &check), 1);
    access_password_check(check);
    access_password_abandon(check); /* the client left: the failure counts */
    assert_int_equal(identify(&policy, ALICE_BASIC, &identity, NULL), -EAGAIN);
    assert_int_equal(identity.retry_after_seconds, 60);
    assert_string_equal(identity.user, "");
    policy.login_limits.enabled = 0; /* a reload turned them off */
    assert_int_equal(identify(&policy, ALICE_BASIC, &identity, NULL), 0);
    login_limiter_free(limiter);
}

static void test_no_authentication(void **state)
{
    (void)state;
    struct access_policy policy = {0};
    struct access_identity identity;
    assert_false(access_policy_enabled(&policy));
    /* Whatever is sent: nobody is asked who they are. */
    assert_int_equal(identify(&policy, "Basic nonsense", &identity, NULL), 0);
    assert_int_equal(identity.source, IDENTITY_ANONYMOUS);
    assert_true(
        access_decision_allows(&policy, &identity, "any/thing", ACCESS_PUSH | ACCESS_DELETE));
    assert_true(access_decision_allows(&policy, &identity, NULL, ACCESS_CATALOG));
    access_identity_release(&identity);
}

static void test_password(void **state)
{
    struct fixture *f = *state;
    struct access_policy policy = {.htpasswd = f->htpasswd, .generation = 1};
    struct access_identity identity;
    struct password_check *check = NULL;

    /* bcrypt is left to the caller (a worker thread)... */
    assert_int_equal(identify(&policy, ALICE_BASIC, &identity, &check), 1);
    assert_non_null(check);
    access_password_check(check);
    assert_int_equal(access_password_checked(&policy, &identity, check), 0);
    assert_int_equal(identity.source, IDENTITY_PASSWORD);
    assert_string_equal(identity.user, "alice");
    /* ...once: the good login is remembered, for this configuration only. */
    check = NULL;
    assert_int_equal(identify(&policy, ALICE_BASIC, &identity, &check), 0);
    assert_null(check);
    assert_int_equal(identity.source, IDENTITY_PASSWORD);
    policy.generation = 2;
    assert_int_equal(identify(&policy, ALICE_BASIC, &identity, &check), 1);
    access_password_abandon(check);
    /* Without a place to hand it to, the check runs at once. */
    assert_int_equal(identify(&policy, ALICE_BASIC, &identity, NULL), 0);
    assert_int_equal(identity.source, IDENTITY_PASSWORD);

    assert_int_equal(identify(&policy, ALICE_WRONG, &identity, NULL), -EACCES);
    assert_string_equal(identity.user, "");
    assert_int_equal(identify(&policy, "Basic !!!", &identity, NULL), -EACCES);
    assert_int_equal(identify(&policy, "Bearer abc", &identity, NULL), -EACCES); /* no tokens */
    assert_int_equal(identify(&policy, NULL, &identity, NULL), 0);
    assert_int_equal(identity.source, IDENTITY_ANONYMOUS);

    /* Without rules a user may do everything; anonymous nothing, not even /v2/. */
    struct access_identity user = {.source = IDENTITY_PASSWORD, .user = "alice"};
    assert_true(access_decision_allows(&policy, &user, "x", ACCESS_PUSH | ACCESS_DELETE));
    assert_false(access_decision_allows(&policy, &identity, "x", ACCESS_PULL));
    assert_false(access_decision_allows(&policy, &identity, NULL, 0));
    policy.anonymous_pull = 1;
    assert_true(access_decision_allows(&policy, &identity, "x", ACCESS_PULL));
    assert_true(access_decision_allows(&policy, &identity, NULL, 0));
    assert_false(access_decision_allows(&policy, &identity, "x", ACCESS_PUSH));
}

static void test_rules_and_certificate(void **state)
{
    struct fixture *f = *state;
    struct access_policy policy = {.htpasswd = f->htpasswd, .access_rules = f->rules};
    struct access_identity identity;
    /* A certificate counts only where certificates identify users. */
    assert_int_equal(access_identify(&policy, NULL, 0, "alice", NULL, &identity, NULL), 0);
    assert_int_equal(identity.source, IDENTITY_ANONYMOUS);
    policy.client_certificates = 1;
    assert_int_equal(access_identify(&policy, NULL, 0, "alice", NULL, &identity, NULL), 0);
    assert_int_equal(identity.source, IDENTITY_CERTIFICATE);
    assert_string_equal(identity.user, "alice");
    assert_true(access_decision_allows(&policy, &identity, "team-a/app", ACCESS_PULL));
    assert_false(access_decision_allows(&policy, &identity, "team-a/app", ACCESS_PUSH));
    assert_false(access_decision_allows(&policy, &identity, "team-b/app", ACCESS_PULL));
    assert_true(access_decision_allows(&policy, &identity, NULL, 0)); /* let in */

    struct access_identity nobody = {.source = IDENTITY_ANONYMOUS};
    assert_true(access_decision_allows(&policy, &nobody, "public/x", ACCESS_PULL));
    assert_false(access_decision_allows(&policy, &nobody, "team-a/app", ACCESS_PULL));
    assert_false(access_decision_allows(&policy, &nobody, NULL, 0));
}

static int references;

static void acquire(void *owner)
{
    assert_ptr_equal(owner, &references);
    references++;
}

static void release(void *owner)
{
    assert_ptr_equal(owner, &references);
    references--;
}

static void test_pull_scope(void **state)
{
    struct fixture *f = *state;
    struct access_policy policy = {.htpasswd = f->htpasswd,
                                   .access_rules = f->rules,
                                   .owner = &references,
                                   .acquire = acquire,
                                   .release = release};
    struct access_identity user = {.source = IDENTITY_PASSWORD, .user = "alice"};
    struct access_pull_scope scope;
    references = 0;
    assert_int_equal(access_pull_scope_init(&scope, &policy, &user), 0);
    assert_int_equal(references, 1); /* the scope outlives the request */
    assert_false(scope.everything);
    assert_false(scope.listed);
    assert_true(access_pull_scope_allows(&scope, "team-a/app"));
    assert_false(access_pull_scope_allows(&scope, "team-b/app"));
    access_pull_scope_release(&scope);
    assert_int_equal(references, 0);
    access_pull_scope_release(&scope); /* zeroed: nothing more */
    assert_int_equal(references, 0);

    struct access_policy open = {.owner = &references, .acquire = acquire, .release = release};
    assert_int_equal(access_pull_scope_init(&scope, &open, &user), 0);
    assert_true(scope.everything);
    assert_true(access_pull_scope_allows(&scope, "anything"));
    access_pull_scope_release(&scope);
    assert_int_equal(references, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_authentication),
        cmocka_unit_test_setup_teardown(test_login_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rules_and_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_scope, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

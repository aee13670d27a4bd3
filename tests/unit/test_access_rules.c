/* Unit tests for src/auth/access_rules.h. */
#include "test_support.h"

#include <errno.h>

#include "layout/error.h"
#include "src/auth/access_rules.h"

#define RULE(subjects_, repositories_, actions_)                                                   \
    {                                                                                              \
        .subjects = subjects_, .subject_count = sizeof subjects_ / sizeof *subjects_,              \
        .repositories = repositories_,                                                             \
        .repository_count = sizeof repositories_ / sizeof *repositories_, .actions = actions_      \
    }

static void test_patterns(void **state)
{
    (void)state;
    /* "*": one component */
    assert_int_equal(access_pattern_match("team-a/*", "team-a/x"), 1);
    assert_int_equal(access_pattern_match("team-a/*", "team-a/x/y"), 0);
    assert_int_equal(access_pattern_match("team-a/*", "team-a"), 0);
    assert_int_equal(access_pattern_match("team-a/*", "team-b/x"), 0);
    assert_int_equal(access_pattern_match("team-a/*", "team-ab/x"), 0);
    assert_int_equal(access_pattern_match("*", "app"), 1);
    assert_int_equal(access_pattern_match("*", "a/b"), 0);
    assert_int_equal(access_pattern_match("*/app", "x/app"), 1);
    assert_int_equal(access_pattern_match("*/app", "x/y/app"), 0);
    assert_int_equal(access_pattern_match("app-*-prod", "app-web-prod"), 1);
    assert_int_equal(access_pattern_match("app-*-prod", "app--prod"), 1);
    assert_int_equal(access_pattern_match("app-*-prod", "app-a/b-prod"), 0);
    assert_int_equal(access_pattern_match("a*b*c", "aXbYbZc"), 1);

    /* "**": across components */
    assert_int_equal(access_pattern_match("team-a/**", "team-a/x"), 1);
    assert_int_equal(access_pattern_match("team-a/**", "team-a/x/y/z"), 1);
    assert_int_equal(access_pattern_match("team-a/**", "team-a"), 0);
    assert_int_equal(access_pattern_match("team-a/**", "team-b/x"), 0);
    assert_int_equal(access_pattern_match("**", "anything/at/all"), 1);
    assert_int_equal(access_pattern_match("**", "x"), 1);
    assert_int_equal(access_pattern_match("**/app", "app"), 1);
    assert_int_equal(access_pattern_match("**/app", "a/b/app"), 1);
    assert_int_equal(access_pattern_match("**/app", "a/b/xapp"), 0);
    assert_int_equal(access_pattern_match("a/**/b", "a/b"), 1);
    assert_int_equal(access_pattern_match("a/**/b", "a/x/y/b"), 1);
    assert_int_equal(access_pattern_match("a/**/b", "a/xb"), 0);
    assert_int_equal(access_pattern_match("a**", "a/b/c"), 1);
    assert_int_equal(access_pattern_match("a/**-prod", "a/x/y-prod"), 1);

    /* "?": one character, not '/' */
    assert_int_equal(access_pattern_match("v?", "v1"), 1);
    assert_int_equal(access_pattern_match("v?", "v"), 0);
    assert_int_equal(access_pattern_match("v?", "v12"), 0);
    assert_int_equal(access_pattern_match("a?b", "a/b"), 0);

    /* literals */
    assert_int_equal(access_pattern_match("library/ubuntu", "library/ubuntu"), 1);
    assert_int_equal(access_pattern_match("library/ubuntu", "library/ubuntu2"), 0);
    assert_int_equal(access_pattern_match("library/ubuntu", "library/ubunt"), 0);
    assert_int_equal(access_pattern_match("a.b_c-d", "a.b_c-d"), 1);

    /* malformed patterns */
    assert_int_equal(access_pattern_match("", "x"), -EINVAL);
    assert_int_equal(access_pattern_match("***", "x"), -EINVAL);
    assert_int_equal(access_pattern_match("Team/x", "x"), -EINVAL);
    assert_int_equal(access_pattern_match("[ab]", "a"), -EINVAL);
    assert_int_equal(access_pattern_match("a b", "a b"), -EINVAL);
}

/* Many stars against a long name must not take exponential time. */
static void test_pattern_no_blowup(void **state)
{
    (void)state;
    char name[256];
    memset(name, 'a', 255);
    name[255] = '\0';
    assert_int_equal(access_pattern_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", name), 0);
    assert_int_equal(access_pattern_match("**a**a**a**a**a**a**a**a**a**a**a**b", name), 0);
    assert_int_equal(access_pattern_match("**a**a**a**a**a**a**a**a**a**a**a**", name), 1);
    char longer[300];
    memset(longer, 'a', 299);
    longer[299] = '\0';
    assert_int_equal(access_pattern_match("**", longer), 0); /* beyond a repository name */
}

static char *everyone[] = {"*"};
static char *anonymous[] = {"anonymous"};
static char *alice[] = {"alice"};
static char *developers[] = {"group:developers"};
static char *admins_and_bob[] = {"group:admins", "bob"};
static char *all_repositories[] = {"**"};
static char *team_a[] = {"team-a/*"};
static char *team_a_deep[] = {"team-a/**"};
static char *public_repositories[] = {"public/**", "library/*"};
static char *secret[] = {"team-a/secret"};

static char *developer_members[] = {"carol", "dave"};
static char *admin_members[] = {"root"};
static struct access_group_spec groups[] = {
    {.name = "developers", .members = developer_members, .member_count = 2},
    {.name = "admins", .members = admin_members, .member_count = 1},
};

static void test_rules(void **state)
{
    (void)state;
    struct access_rule_spec rules[] = {
        /* first match wins: nobody but admins touches team-a/secret */
        RULE(admins_and_bob, secret, ACCESS_PULL | ACCESS_PUSH | ACCESS_DELETE),
        RULE(everyone, secret, 0),
        RULE(developers, team_a, ACCESS_PULL | ACCESS_PUSH),
        RULE(alice, team_a_deep, ACCESS_PULL),
        RULE(anonymous, public_repositories, ACCESS_PULL),
        RULE(everyone, public_repositories, ACCESS_PULL | ACCESS_CATALOG),
        RULE(admins_and_bob, all_repositories,
             ACCESS_PULL | ACCESS_PUSH | ACCESS_DELETE | ACCESS_CATALOG),
    };
    struct access_rules *compiled = NULL;
    assert_int_equal(access_rules_create(rules, 7, groups, 2, &compiled), 0);

    /* groups */
    assert_int_equal(access_rules_allows(compiled, "carol", "team-a/app", ACCESS_PULL), 1);
    assert_int_equal(
        access_rules_allows(compiled, "carol", "team-a/app", ACCESS_PULL | ACCESS_PUSH), 1);
    assert_int_equal(access_rules_allows(compiled, "carol", "team-a/app", ACCESS_DELETE), 0);
    assert_int_equal(
        access_rules_allows(compiled, "carol", "team-a/app", ACCESS_PUSH | ACCESS_DELETE), 0);
    assert_int_equal(access_rules_allows(compiled, "dave", "team-a/app", ACCESS_PUSH), 1);
    assert_int_equal(access_rules_allows(compiled, "carol", "team-b/x", ACCESS_PULL), 0);
    /* team-a/<star> does not reach nested names; alice's team-a/<star><star> does */
    assert_int_equal(access_rules_allows(compiled, "carol", "team-a/x/y", ACCESS_PULL), 0);
    assert_int_equal(access_rules_allows(compiled, "alice", "team-a/x/y", ACCESS_PULL), 1);
    assert_int_equal(access_rules_allows(compiled, "alice", "team-a/x", ACCESS_PULL), 1);
    assert_int_equal(access_rules_allows(compiled, "alice", "team-a/x", ACCESS_PUSH), 0);

    /* first match: the deny rule for team-a/secret beats the later group rules */
    assert_int_equal(access_rules_allows(compiled, "carol", "team-a/secret", ACCESS_PULL), 0);
    assert_int_equal(access_rules_allows(compiled, "alice", "team-a/secret", ACCESS_PULL), 0);
    assert_int_equal(access_rules_allows(compiled, "root", "team-a/secret", ACCESS_DELETE), 1);
    assert_int_equal(access_rules_allows(compiled, "bob", "team-a/secret", ACCESS_PUSH), 1);
    assert_int_equal(access_rules_allows(compiled, "bob", "anything/else", ACCESS_DELETE), 1);
    /* the anonymous deny rule does not apply: "*" never matches anonymous */
    assert_int_equal(access_rules_allows(compiled, NULL, "team-a/secret", ACCESS_PULL), 0);

    /* anonymous */
    assert_int_equal(access_rules_allows(compiled, NULL, "public/x/y", ACCESS_PULL), 1);
    assert_int_equal(access_rules_allows(compiled, NULL, "library/ubuntu", ACCESS_PULL), 1);
    assert_int_equal(access_rules_allows(compiled, NULL, "library/ubuntu", ACCESS_PUSH), 0);
    assert_int_equal(access_rules_allows(compiled, NULL, "library/a/b", ACCESS_PULL), 0);
    assert_int_equal(access_rules_allows(compiled, NULL, "team-a/app", ACCESS_PULL), 0);
    /* "*": any authenticated user */
    assert_int_equal(access_rules_allows(compiled, "zoe", "public/thing", ACCESS_PULL), 1);
    assert_int_equal(access_rules_allows(compiled, "zoe", "private/thing", ACCESS_PULL), 0);
    /* a user called "anonymous" or "*" is a user, not the keyword */
    assert_int_equal(access_rules_allows(compiled, "anonymous", "team-a/x", ACCESS_PULL), 0);
    assert_int_equal(access_rules_allows(compiled, "group:admins", "x", ACCESS_PULL), 0);

    /* catalog: only rules listing ACCESS_CATALOG, whatever their patterns */
    assert_int_equal(access_rules_allows(compiled, "zoe", NULL, ACCESS_CATALOG), 1);
    assert_int_equal(access_rules_allows(compiled, "root", NULL, ACCESS_CATALOG), 1);
    assert_int_equal(access_rules_allows(compiled, NULL, NULL, ACCESS_CATALOG), 0);
    assert_int_equal(access_rules_allows(compiled, "zoe", NULL, ACCESS_PULL), 0);
    assert_int_equal(access_rules_allows(compiled, "zoe", "public/x", ACCESS_CATALOG), 0);
    /* filtering the catalog */
    assert_int_equal(access_rules_may_pull(compiled, "carol", "team-a/app"), 1);
    assert_int_equal(access_rules_may_pull(compiled, "carol", "team-a/secret"), 0);
    assert_int_equal(access_rules_may_pull(compiled, "zoe", "public/a"), 1);
    assert_int_equal(access_rules_may_pull(compiled, "zoe", "team-a/app"), 0);

    /* malformed queries */
    assert_int_equal(access_rules_allows(compiled, "root", "x", 0), 0);
    assert_int_equal(access_rules_allows(compiled, "root", "x", 1u << 7), 0);
    assert_int_equal(access_rules_allows(compiled, "root", "", ACCESS_PULL), 0);
    assert_int_equal(access_rules_allows(NULL, "root", "x", ACCESS_PULL), 0);
    access_rules_free(compiled);
    access_rules_free(NULL);
}

static void test_no_rules_denies(void **state)
{
    (void)state;
    struct access_rules *compiled = NULL;
    assert_int_equal(access_rules_create(NULL, 0, NULL, 0, &compiled), 0);
    assert_int_equal(access_rules_allows(compiled, "root", "x", ACCESS_PULL), 0);
    assert_int_equal(access_rules_allows(compiled, NULL, "x", ACCESS_PULL), 0);
    assert_int_equal(access_rules_allows(compiled, "root", NULL, ACCESS_CATALOG), 0);
    access_rules_free(compiled);
}

static void test_create_rejections(void **state)
{
    (void)state;
    struct access_rules *compiled = NULL;
    static char *unknown_group[] = {"group:nobody"};
    static char *empty_subject[] = {""};
    static char *bad_pattern[] = {"Team/*"};
    struct access_rule_spec rules[] = {
        RULE(everyone, all_repositories, ACCESS_PULL),
        RULE(unknown_group, all_repositories, ACCESS_PULL),
    };
    assert_int_equal(access_rules_create(rules, 2, groups, 2, &compiled), -EINVAL);
    assert_null(compiled);
    assert_non_null(strstr(error_message(), "access rule 2"));
    assert_non_null(strstr(error_message(), "nobody"));

    struct access_rule_spec empty[] = {RULE(empty_subject, all_repositories, ACCESS_PULL)};
    assert_int_equal(access_rules_create(empty, 1, NULL, 0, &compiled), -EINVAL);
    struct access_rule_spec pattern[] = {RULE(everyone, bad_pattern, ACCESS_PULL)};
    assert_int_equal(access_rules_create(pattern, 1, NULL, 0, &compiled), -EINVAL);
    assert_non_null(strstr(error_message(), "access rule 1: repository pattern \"Team/"));
    struct access_rule_spec bits[] = {RULE(everyone, all_repositories, 1u << 9)};
    assert_int_equal(access_rules_create(bits, 1, NULL, 0, &compiled), -EINVAL);
    struct access_rule_spec no_subjects[] = {{.subjects = NULL,
                                              .subject_count = 0,
                                              .repositories = all_repositories,
                                              .repository_count = 1,
                                              .actions = ACCESS_PULL}};
    assert_int_equal(access_rules_create(no_subjects, 1, NULL, 0, &compiled), -EINVAL);
    struct access_group_spec twice[] = {groups[0], groups[0]};
    assert_int_equal(access_rules_create(NULL, 0, twice, 2, &compiled), -EINVAL);
    assert_null(compiled);
}

/* The matcher keeps its own copy: the configuration may go away. */
static void test_config_copied(void **state)
{
    (void)state;
    char *subject = strdup("erin");
    char *pattern = strdup("erin/**");
    char *member = strdup("erin");
    char *group_name = strdup("g");
    char *subjects[] = {subject, "group:g"};
    char *patterns[] = {pattern};
    char *members[] = {member};
    struct access_group_spec group = {.name = group_name, .members = members, .member_count = 1};
    struct access_rule_spec rule = RULE(subjects, patterns, ACCESS_PUSH);
    struct access_rules *compiled = NULL;
    assert_int_equal(access_rules_create(&rule, 1, &group, 1, &compiled), 0);
    memset(subject, 'x', 4);
    memset(pattern, 'x', 4);
    memset(member, 'x', 4);
    free(subject);
    free(pattern);
    free(member);
    free(group_name);
    assert_int_equal(access_rules_allows(compiled, "erin", "erin/tools", ACCESS_PUSH), 1);
    access_rules_free(compiled);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_pattern_no_blowup),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_no_rules_denies),
        cmocka_unit_test(test_create_rejections),
        cmocka_unit_test(test_config_copied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * src/auth/access_rules.h — authorization: who may do what to which repository.
 *
 * The configuration's ordered rules (cairn.access) and groups (cairn.groups)
 * are compiled once into an immutable matcher; any number of threads may
 * query it at once. A reload compiles a new one and swaps it.
 *
 * Decision, for a subject, a repository and an action:
 * - Rules are tried in order. The FIRST rule whose subjects match AND whose
 *   repository patterns match decides: allowed iff the rule lists every
 *   requested action. No rule matches: denied (default deny).
 * - Subjects of a rule: a user name (exact, case-sensitive), "group:<name>"
 *   (the user is a member of that group), "anonymous" (the request carries no
 *   credentials: subject NULL) or "*" (any AUTHENTICATED user; not anonymous).
 *   These spellings are reserved: a user actually named "anonymous", "*" or
 *   "group:x" cannot be named in a rule.
 * - Repository patterns are globs over the whole name: `*` matches any run of
 *   characters within one path component (never '/'), `?` exactly one
 *   character other than '/', `**` any run of characters including '/'. A
 *   `**` that is a whole component followed by '/' may also match zero
 *   components: `"**" "/x"` matches "x" and "a/b/x", `"a/" "**" "/b"`
 *   matches "a/b". Other characters match themselves. So `"team-a/" "*"`
 *   (written that way here only because a C comment cannot hold slash-star)
 *   matches "team-a/x" but neither "team-a/x/y" nor "team-a"; `"team-a/" "**"`
 *   matches "team-a/x" and "team-a/x/y" (not "team-a"). Patterns may only
 *   use the characters of repository names (a-z 0-9 . _ - /) plus `*` and
 *   `?`; `***` is refused.
 * - The catalog (/v2/_catalog) has no repository: access_rules_allows() with
 *   repository NULL and ACCESS_CATALOG is allowed by the first rule whose
 *   subjects match and that lists ACCESS_CATALOG, whatever its repository
 *   patterns; rules without ACCESS_CATALOG are skipped for it (so a catalog
 *   is denied only by no rule granting it). The entries of the catalog are
 *   then filtered with access_rules_may_pull().
 *
 * Not this module's business: when no authentication is configured at all,
 * the caller does not consult the rules and allows everything (Distribution's
 * behaviour without `auth:`). When authentication is configured and there are
 * no rules at all, the caller (access_control.h) lets any authenticated user
 * do everything, as Distribution does with htpasswd; a matcher built from
 * zero rules itself denies everything. `cairn.anonymous_pull` is applied by the
 * caller (e.g. allow pulls for subject NULL before consulting the rules).
 * Push in the registry API also needs pull (a client HEADs blobs first): the
 * caller asks for ACCESS_PULL | ACCESS_PUSH where it needs both.
 *
 *     struct access_rules *rules;
 *     if (access_rules_create(config->access_rules, config->access_rule_count,
 *                             config->groups, config->group_count, &rules) < 0)
 *         log_error("%s", error_message());      // "access rule 3: ..."
 *     if (!access_rules_allows(rules, user_or_NULL, "team-a/app", ACCESS_PUSH))
 *         ... 401 when user is NULL, else 403 DENIED ...
 *     access_rules_free(rules);
 */
#ifndef CAIRN_SRC_AUTH_ACCESS_RULES_H
#define CAIRN_SRC_AUTH_ACCESS_RULES_H

#include <stddef.h>

/* What a request wants to do: the actions of rules and of tokens. */
enum access_action {
    ACCESS_PULL = 1 << 0,
    ACCESS_PUSH = 1 << 1,
    ACCESS_DELETE = 1 << 2,
    ACCESS_CATALOG = 1 << 3,
};

/* One rule as the configuration writes it (cairn.access[]): who, which
 * repositories, which actions. */
struct access_rule_spec {
    char **subjects; /* user names, "group:<name>", "anonymous" or "*" */
    size_t subject_count;
    char **repositories; /* glob patterns over repository names (above) */
    size_t repository_count;
    unsigned actions; /* ACCESS_* bits */
};

/* One group (cairn.groups): a name and its members' user names. */
struct access_group_spec {
    char *name;
    char **members;
    size_t member_count;
};

/* Longest pattern accepted (a repository name is at most 255 bytes). */
#define ACCESS_PATTERN_MAX 255

struct access_rules;

/* Compiles the rules and groups (which are copied: the config may be freed
 * afterwards). 0, or -EINVAL with "access rule <n>: <reason>" (1-based) for
 * an empty subject or pattern list, a malformed pattern, unknown action bits,
 * or a "group:<name>" naming no group; -ENOMEM. `*out` is only set on
 * success. Zero rules is valid (everything denied). */
int access_rules_create(const struct access_rule_spec *rules, size_t rule_count,
                        const struct access_group_spec *groups, size_t group_count,
                        struct access_rules **out);

/* NULL is allowed. */
void access_rules_free(struct access_rules *rules);

/* 1 when `subject` (a user name, or NULL for an anonymous request) may do
 * `actions` (ACCESS_* bits; all of them are needed) to `repository` (or, with
 * repository NULL, ACCESS_CATALOG alone: the catalog). 0 otherwise, including
 * for malformed queries (no action, ACCESS_CATALOG with a repository, another
 * action without one, a repository longer than 255 bytes). */
int access_rules_allows(const struct access_rules *rules, const char *subject,
                        const char *repository, unsigned actions);

/* access_rules_allows(rules, subject, repository, ACCESS_PULL): whether a
 * repository may appear in `subject`'s catalog. */
int access_rules_may_pull(const struct access_rules *rules, const char *subject,
                          const char *repository);

/* Whether `pattern` matches `name` with the glob rules above (exposed for
 * tests and for `cairn --check-config`). 1, 0, or -EINVAL for a malformed
 * pattern. */
int access_pattern_match(const char *pattern, const char *name);

#endif

/* src/auth/access_rules.h */
#include "src/auth/access_rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout/error.h"

#define ACCESS_ALL (ACCESS_PULL | ACCESS_PUSH | ACCESS_DELETE | ACCESS_CATALOG)
#define REPOSITORY_NAME_MAX 255

enum subject_kind {
    SUBJECT_USER,
    SUBJECT_GROUP,
    SUBJECT_ANONYMOUS,
    SUBJECT_AUTHENTICATED,
};

struct subject {
    enum subject_kind kind;
    char *user;         /* SUBJECT_USER */
    size_t group_index; /* SUBJECT_GROUP */
};

enum token_kind {
    TOKEN_LITERAL,
    TOKEN_ONE,            /* ? */
    TOKEN_STAR,           /* * within a component */
    TOKEN_GLOBSTAR,       /* ** anything */
    TOKEN_GLOBSTAR_SLASH, /* a whole-component "**" + '/': zero or more components */
};

struct token {
    enum token_kind kind;
    char literal;
};

struct pattern {
    struct token *tokens;
    size_t count;
};

struct rule {
    struct subject *subjects;
    size_t subject_count;
    struct pattern *patterns;
    size_t pattern_count;
    unsigned actions;
};

struct group {
    char *name;
    char **members;
    size_t member_count;
};

struct access_rules {
    struct rule *rules;
    size_t rule_count;
    struct group *groups;
    size_t group_count;
};

static int is_name_character(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
           c == '/';
}

/* Compiles `text` into tokens. 0 or -EINVAL (message without a prefix). */
static int pattern_compile(const char *text, struct pattern *out)
{
    size_t length = strlen(text);
    if (length == 0)
        return error_set(-EINVAL, "empty repository pattern");
    if (length > ACCESS_PATTERN_MAX)
        return error_set(-EINVAL, "repository pattern longer than %d bytes", ACCESS_PATTERN_MAX);
    struct token *tokens = calloc(length, sizeof *tokens);
    if (tokens == NULL)
        return error_set(-ENOMEM, "out of memory");
    size_t count = 0;
    for (size_t i = 0; i < length;) {
        char c = text[i];
        if (c == '*' && text[i + 1] == '*') {
            if (text[i + 2] == '*') {
                free(tokens);
                return error_set(-EINVAL, "\"***\" in repository pattern \"%s\"", text);
            }
            if ((i == 0 || text[i - 1] == '/') && text[i + 2] == '/') {
                tokens[count++] = (struct token){.kind = TOKEN_GLOBSTAR_SLASH};
                i += 3;
            } else {
                tokens[count++] = (struct token){.kind = TOKEN_GLOBSTAR};
                i += 2;
            }
        } else if (c == '*') {
            tokens[count++] = (struct token){.kind = TOKEN_STAR};
            i++;
        } else if (c == '?') {
            tokens[count++] = (struct token){.kind = TOKEN_ONE};
            i++;
        } else if (is_name_character(c)) {
            tokens[count++] = (struct token){.kind = TOKEN_LITERAL, .literal = c};
            i++;
        } else {
            free(tokens);
            return error_set(-EINVAL,
                             "repository pattern \"%s\": character '%c' cannot be in a "
                             "repository name (allowed: a-z 0-9 . _ - / and * ?)",
                             text, c >= 0x20 && c < 0x7f ? c : '?');
        }
    }
    out->tokens = tokens;
    out->count = count;
    return 0;
}

/* Dynamic programming over (token, position), one row per token from the
 * end: linear in pattern x name, no backtracking blow-up. */
static int pattern_matches(const struct pattern *pattern, const char *name, size_t length)
{
    if (length > REPOSITORY_NAME_MAX)
        return 0;
    unsigned char rows[2][REPOSITORY_NAME_MAX + 2];
    unsigned char *next = rows[0], *current = rows[1];
    for (size_t j = 0; j <= length; j++)
        next[j] = j == length;
    for (size_t t = pattern->count; t-- > 0;) {
        const struct token *token = &pattern->tokens[t];
        unsigned char slash_ahead = 0; /* GLOBSTAR_SLASH: some '/' at k >= j with next[k+1] */
        for (size_t j = length + 1; j-- > 0;) {
            int more = j < length;
            switch (token->kind) {
            case TOKEN_LITERAL:
                current[j] = more && name[j] == token->literal && next[j + 1];
                break;
            case TOKEN_ONE:
                current[j] = more && name[j] != '/' && next[j + 1];
                break;
            case TOKEN_STAR:
                current[j] = next[j] || (more && name[j] != '/' && current[j + 1]);
                break;
            case TOKEN_GLOBSTAR:
                current[j] = next[j] || (more && current[j + 1]);
                break;
            case TOKEN_GLOBSTAR_SLASH:
                if (more && name[j] == '/' && next[j + 1])
                    slash_ahead = 1;
                current[j] = next[j] || slash_ahead;
                break;
            }
        }
        unsigned char *swap = next;
        next = current;
        current = swap;
    }
    return next[0];
}

int access_pattern_match(const char *pattern, const char *name)
{
    struct pattern compiled;
    int result = pattern_compile(pattern, &compiled);
    if (result < 0)
        return result;
    result = pattern_matches(&compiled, name, strlen(name));
    free(compiled.tokens);
    return result;
}

void access_rules_free(struct access_rules *rules)
{
    if (rules == NULL)
        return;
    for (size_t i = 0; i < rules->rule_count; i++) {
        struct rule *rule = &rules->rules[i];
        for (size_t j = 0; j < rule->subject_count; j++)
            free(rule->subjects[j].user);
        free(rule->subjects);
        for (size_t j = 0; j < rule->pattern_count; j++)
            free(rule->patterns[j].tokens);
        free(rule->patterns);
    }
    free(rules->rules);
    for (size_t i = 0; i < rules->group_count; i++) {
        free(rules->groups[i].name);
        for (size_t j = 0; j < rules->groups[i].member_count; j++)
            free(rules->groups[i].members[j]);
        free(rules->groups[i].members);
    }
    free(rules->groups);
    free(rules);
}

static int groups_copy(struct access_rules *rules, const struct access_group_spec *groups,
                       size_t group_count)
{
    if (group_count == 0)
        return 0;
    rules->groups = calloc(group_count, sizeof *rules->groups);
    if (rules->groups == NULL)
        return error_set(-ENOMEM, "out of memory");
    for (size_t i = 0; i < group_count; i++) {
        const struct access_group_spec *source = &groups[i];
        if (source->name == NULL || source->name[0] == '\0')
            return error_set(-EINVAL, "group %zu has no name", i + 1);
        for (size_t k = 0; k < i; k++) {
            if (strcmp(groups[k].name, source->name) == 0)
                return error_set(-EINVAL, "group \"%s\" is defined twice", source->name);
        }
        struct group *group = &rules->groups[i];
        rules->group_count = i + 1;
        group->name = strdup(source->name);
        if (group->name == NULL)
            return error_set(-ENOMEM, "out of memory");
        if (source->member_count > 0) {
            group->members = calloc(source->member_count, sizeof *group->members);
            if (group->members == NULL)
                return error_set(-ENOMEM, "out of memory");
        }
        for (size_t j = 0; j < source->member_count; j++) {
            if (source->members[j] == NULL)
                return error_set(-EINVAL, "group \"%s\": empty member", source->name);
            group->members[j] = strdup(source->members[j]);
            if (group->members[j] == NULL)
                return error_set(-ENOMEM, "out of memory");
            group->member_count = j + 1;
        }
    }
    return 0;
}

static int rule_compile(struct access_rules *rules, const struct access_rule_spec *source,
                        size_t number, struct rule *rule)
{
    if (source->subject_count == 0)
        return error_set(-EINVAL, "access rule %zu: no subjects", number);
    if (source->repository_count == 0)
        return error_set(-EINVAL, "access rule %zu: no repositories", number);
    if ((source->actions & ~(unsigned)ACCESS_ALL) != 0)
        return error_set(-EINVAL, "access rule %zu: unknown action bits 0x%x", number,
                         source->actions & ~(unsigned)ACCESS_ALL);
    rule->actions = source->actions;

    rule->subjects = calloc(source->subject_count, sizeof *rule->subjects);
    if (rule->subjects == NULL)
        return error_set(-ENOMEM, "out of memory");
    for (size_t i = 0; i < source->subject_count; i++) {
        const char *text = source->subjects[i];
        struct subject *subject = &rule->subjects[i];
        rule->subject_count = i + 1;
        if (text == NULL || text[0] == '\0')
            return error_set(-EINVAL, "access rule %zu: empty subject", number);
        if (strcmp(text, "anonymous") == 0) {
            subject->kind = SUBJECT_ANONYMOUS;
        } else if (strcmp(text, "*") == 0) {
            subject->kind = SUBJECT_AUTHENTICATED;
        } else if (strncmp(text, "group:", 6) == 0) {
            subject->kind = SUBJECT_GROUP;
            size_t k = 0;
            while (k < rules->group_count && strcmp(rules->groups[k].name, text + 6) != 0)
                k++;
            if (k == rules->group_count)
                return error_set(-EINVAL, "access rule %zu: no group named \"%s\"", number,
                                 text + 6);
            subject->group_index = k;
        } else {
            subject->kind = SUBJECT_USER;
            subject->user = strdup(text);
            if (subject->user == NULL)
                return error_set(-ENOMEM, "out of memory");
        }
    }

    rule->patterns = calloc(source->repository_count, sizeof *rule->patterns);
    if (rule->patterns == NULL)
        return error_set(-ENOMEM, "out of memory");
    for (size_t i = 0; i < source->repository_count; i++) {
        if (source->repositories[i] == NULL)
            return error_set(-EINVAL, "access rule %zu: empty repository pattern", number);
        int result = pattern_compile(source->repositories[i], &rule->patterns[i]);
        if (result < 0) {
            char reason[ERROR_MESSAGE_MAX];
            snprintf(reason, sizeof reason, "%s", error_message());
            return error_set(result, "access rule %zu: %s", number, reason);
        }
        rule->pattern_count = i + 1;
    }
    return 0;
}

int access_rules_create(const struct access_rule_spec *rules, size_t rule_count,
                        const struct access_group_spec *groups, size_t group_count,
                        struct access_rules **out)
{
    struct access_rules *compiled = calloc(1, sizeof *compiled);
    if (compiled == NULL)
        return error_set(-ENOMEM, "out of memory");
    int result = groups_copy(compiled, groups, group_count);
    if (result == 0 && rule_count > 0) {
        compiled->rules = calloc(rule_count, sizeof *compiled->rules);
        if (compiled->rules == NULL)
            result = error_set(-ENOMEM, "out of memory");
    }
    for (size_t i = 0; result == 0 && i < rule_count; i++) {
        compiled->rule_count = i + 1;
        result = rule_compile(compiled, &rules[i], i + 1, &compiled->rules[i]);
    }
    if (result < 0) {
        access_rules_free(compiled);
        return result;
    }
    *out = compiled;
    return 0;
}

static int group_has_member(const struct group *group, const char *user)
{
    for (size_t i = 0; i < group->member_count; i++) {
        if (strcmp(group->members[i], user) == 0)
            return 1;
    }
    return 0;
}

static int subject_matches(const struct access_rules *rules, const struct rule *rule,
                           const char *subject)
{
    for (size_t i = 0; i < rule->subject_count; i++) {
        const struct subject *candidate = &rule->subjects[i];
        switch (candidate->kind) {
        case SUBJECT_ANONYMOUS:
            if (subject == NULL)
                return 1;
            break;
        case SUBJECT_AUTHENTICATED:
            if (subject != NULL)
                return 1;
            break;
        case SUBJECT_USER:
            if (subject != NULL && strcmp(candidate->user, subject) == 0)
                return 1;
            break;
        case SUBJECT_GROUP:
            if (subject != NULL &&
                group_has_member(&rules->groups[candidate->group_index], subject))
                return 1;
            break;
        }
    }
    return 0;
}

int access_rules_allows(const struct access_rules *rules, const char *subject,
                        const char *repository, unsigned actions)
{
    if (rules == NULL || actions == 0 || (actions & ~(unsigned)ACCESS_ALL) != 0)
        return 0;
    if (repository == NULL) {
        if (actions != ACCESS_CATALOG)
            return 0;
        for (size_t i = 0; i < rules->rule_count; i++) {
            const struct rule *rule = &rules->rules[i];
            if ((rule->actions & ACCESS_CATALOG) && subject_matches(rules, rule, subject))
                return 1;
        }
        return 0;
    }
    if (actions & ACCESS_CATALOG)
        return 0;
    size_t length = strlen(repository);
    if (length == 0 || length > REPOSITORY_NAME_MAX)
        return 0;
    for (size_t i = 0; i < rules->rule_count; i++) {
        const struct rule *rule = &rules->rules[i];
        if (!subject_matches(rules, rule, subject))
            continue;
        for (size_t j = 0; j < rule->pattern_count; j++) {
            if (pattern_matches(&rule->patterns[j], repository, length))
                return (rule->actions & actions) == actions;
        }
    }
    return 0;
}

int access_rules_may_pull(const struct access_rules *rules, const char *subject,
                          const char *repository)
{
    return access_rules_allows(rules, subject, repository, ACCESS_PULL);
}

/* src/auth/htpasswd.h */
#include "src/auth/htpasswd.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "layout/error.h"

/* "$2y$10$" + 22 characters of salt + 31 of hash. */
#define BCRYPT_LENGTH 60
#define BCRYPT_SETTING_LENGTH 29
#define BCRYPT_COST_MIN 4
#define BCRYPT_COST_MAX 17
#define DUMMY_COST_DEFAULT 10

struct htpasswd_entry {
    char *user;
    char hash[BCRYPT_LENGTH + 1];
};

struct htpasswd {
    struct htpasswd_entry *entries; /* sorted by user */
    size_t count;
    /* A bcrypt setting ("$2b$NN$<salt>") at the highest cost of the file,
     * hashed for users that do not exist. */
    char dummy_setting[CRYPT_GENSALT_OUTPUT_SIZE];
};

static int is_bcrypt_character(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '/';
}

/* What to call a hash we do not accept, from its prefix. */
static const char *scheme_name(const char *hash, size_t length)
{
    if (length >= 5 && strncmp(hash, "{SHA}", 5) == 0)
        return "SHA-1 ({SHA})";
    if (length >= 6 && strncmp(hash, "$apr1$", 6) == 0)
        return "MD5 ($apr1$)";
    if (length >= 3 && strncmp(hash, "$1$", 3) == 0)
        return "MD5-crypt ($1$)";
    if (length >= 3 && strncmp(hash, "$5$", 3) == 0)
        return "SHA-256-crypt ($5$)";
    if (length >= 3 && strncmp(hash, "$6$", 3) == 0)
        return "SHA-512-crypt ($6$)";
    if (length >= 4 && strncmp(hash, "$2x$", 4) == 0)
        return "bcrypt $2x$ (the buggy variant)";
    if (length >= 1 && hash[0] == '$')
        return "an unknown crypt scheme";
    return "crypt(3) DES or plain text";
}

/* Validates a bcrypt hash ("$2y$05$" + 53 characters); returns its cost or
 * -EINVAL with the reason (prefixed by `where`). */
static int bcrypt_validate(const char *hash, size_t length, const char *where)
{
    if (length < 4 || hash[0] != '$' || hash[1] != '2' ||
        (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') || hash[3] != '$')
        return error_set(-EINVAL,
                         "%s: unsupported password hash scheme: %s; only bcrypt is supported "
                         "(htpasswd -B)",
                         where, scheme_name(hash, length));
    if (length != BCRYPT_LENGTH || hash[4] < '0' || hash[4] > '9' || hash[5] < '0' ||
        hash[5] > '9' || hash[6] != '$')
        return error_set(-EINVAL, "%s: malformed bcrypt hash", where);
    int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
    if (cost < BCRYPT_COST_MIN || cost > BCRYPT_COST_MAX)
        return error_set(-EINVAL, "%s: bcrypt cost %d is outside %d..%d", where, cost,
                         BCRYPT_COST_MIN, BCRYPT_COST_MAX);
    for (size_t i = 7; i < length; i++) {
        if (!is_bcrypt_character(hash[i]))
            return error_set(-EINVAL, "%s: malformed bcrypt hash", where);
    }
    return cost;
}

static int compare_entries(const void *a, const void *b)
{
    const struct htpasswd_entry *left = a, *right = b;
    return strcmp(left->user, right->user);
}

/* Reads the whole file (at most HTPASSWD_FILE_MAX bytes) into a malloc'd
 * buffer of `*capacity_out` bytes, which the caller wipes and frees. */
static int read_whole_file(const char *path, char **data_out, size_t *length_out,
                           size_t *capacity_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(-errno, "%s: cannot open: %s", path, strerror(errno));
    struct stat status;
    if (fstat(fd, &status) < 0) {
        int result = error_set(-errno, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return result;
    }
    if (!S_ISREG(status.st_mode)) {
        close(fd);
        return error_set(-EINVAL, "%s: not a regular file", path);
    }
    if (status.st_size > (off_t)HTPASSWD_FILE_MAX) {
        close(fd);
        return error_set(-EFBIG, "%s: larger than %u bytes", path, HTPASSWD_FILE_MAX);
    }
    /* One byte more than the limit, to see a file that grew past it since
     * fstat. */
    size_t capacity = status.st_size < (off_t)HTPASSWD_FILE_MAX ? (size_t)status.st_size + 1
                                                                : HTPASSWD_FILE_MAX + 1;
    char *data = malloc(capacity);
    if (data == NULL) {
        close(fd);
        return error_set(-ENOMEM, "%s: out of memory", path);
    }
    size_t length = 0;
    int result = 0;
    for (;;) {
        if (length == capacity) {
            if (capacity > HTPASSWD_FILE_MAX) {
                result = error_set(-EFBIG, "%s: larger than %u bytes", path, HTPASSWD_FILE_MAX);
                break;
            }
            size_t larger =
                capacity * 2 > HTPASSWD_FILE_MAX + 1 ? HTPASSWD_FILE_MAX + 1 : capacity * 2;
            char *grown = OPENSSL_clear_realloc(data, capacity, larger);
            if (grown == NULL) {
                result = error_set(-ENOMEM, "%s: out of memory", path);
                break;
            }
            data = grown;
            capacity = larger;
        }
        ssize_t n = read(fd, data + length, capacity - length);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            result = error_set(-errno, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        length += (size_t)n;
    }
    close(fd);
    if (result < 0) {
        OPENSSL_clear_free(data, capacity);
        return result;
    }
    *data_out = data;
    *length_out = length;
    *capacity_out = capacity;
    return 0;
}

void htpasswd_free(struct htpasswd *table)
{
    if (table == NULL)
        return;
    for (size_t i = 0; i < table->count; i++) {
        free(table->entries[i].user);
        OPENSSL_cleanse(table->entries[i].hash, sizeof table->entries[i].hash);
    }
    free(table->entries);
    free(table);
}

static int make_dummy_setting(struct htpasswd *table, int cost)
{
    unsigned char random[16];
    if (RAND_bytes(random, sizeof random) != 1)
        return error_set(-EIO, "htpasswd: no random bytes for the dummy hash");
    if (crypt_gensalt_rn("$2b$", (unsigned long)cost, (const char *)random, sizeof random,
                         table->dummy_setting, sizeof table->dummy_setting) == NULL)
        return error_set(-EIO, "htpasswd: crypt_gensalt_rn failed: %s", strerror(errno));
    return 0;
}

int htpasswd_load(const char *path, struct htpasswd **out)
{
    char *data = NULL;
    size_t length = 0, capacity = 0;
    int read_result = read_whole_file(path, &data, &length, &capacity);
    if (read_result < 0)
        return read_result;

    struct htpasswd *table = calloc(1, sizeof *table);
    size_t allocated = 0;
    int result = 0;
    int highest_cost = 0;
    if (table == NULL) {
        result = error_set(-ENOMEM, "%s: out of memory", path);
        goto done;
    }

    size_t line_number = 0;
    char *cursor = data;
    char *end = data + length;
    while (cursor < end) {
        line_number++;
        char *line = cursor;
        char *newline = memchr(cursor, '\n', (size_t)(end - cursor));
        char *line_end = newline != NULL ? newline : end;
        cursor = newline != NULL ? newline + 1 : end;

        while (line < line_end && (*line == ' ' || *line == '\t' || *line == '\r'))
            line++;
        while (line_end > line &&
               (line_end[-1] == ' ' || line_end[-1] == '\t' || line_end[-1] == '\r'))
            line_end--;
        if (line == line_end || line[0] == '#')
            continue;

        char where[PATH_MAX + 32];
        snprintf(where, sizeof where, "%s:%zu", path, line_number);
        if (memchr(line, '\0', (size_t)(line_end - line)) != NULL) {
            result = error_set(-EINVAL, "%s: NUL byte in line", where);
            goto done;
        }
        char *colon = memchr(line, ':', (size_t)(line_end - line));
        if (colon == NULL) {
            result = error_set(-EINVAL, "%s: expected user:hash", where);
            goto done;
        }
        size_t user_length = (size_t)(colon - line);
        if (user_length == 0 || user_length > HTPASSWD_USER_MAX) {
            result = error_set(-EINVAL, "%s: the user name is empty or longer than %d bytes", where,
                               HTPASSWD_USER_MAX);
            goto done;
        }
        for (size_t i = 0; i < user_length; i++) {
            unsigned char c = (unsigned char)line[i];
            if (c < 0x20 || c == 0x7f) {
                result = error_set(-EINVAL, "%s: control character in the user name", where);
                goto done;
            }
        }
        const char *hash = colon + 1;
        size_t hash_length = (size_t)(line_end - hash);
        int cost = bcrypt_validate(hash, hash_length, where);
        if (cost < 0) {
            result = cost;
            goto done;
        }
        if (cost > highest_cost)
            highest_cost = cost;

        if (table->count == allocated) {
            size_t larger = allocated == 0 ? 16 : allocated * 2;
            struct htpasswd_entry *grown = realloc(table->entries, larger * sizeof *grown);
            if (grown == NULL) {
                result = error_set(-ENOMEM, "%s: out of memory", path);
                goto done;
            }
            table->entries = grown;
            allocated = larger;
        }
        struct htpasswd_entry *entry = &table->entries[table->count];
        entry->user = strndup(line, user_length);
        if (entry->user == NULL) {
            result = error_set(-ENOMEM, "%s: out of memory", path);
            goto done;
        }
        memcpy(entry->hash, hash, BCRYPT_LENGTH);
        entry->hash[BCRYPT_LENGTH] = '\0';
        table->count++;
    }

    if (table->count > 1)
        qsort(table->entries, table->count, sizeof *table->entries, compare_entries);
    for (size_t i = 1; i < table->count; i++) {
        if (strcmp(table->entries[i - 1].user, table->entries[i].user) == 0) {
            result =
                error_set(-EINVAL, "%s: user \"%s\" is listed twice", path, table->entries[i].user);
            goto done;
        }
    }
    result = make_dummy_setting(table, highest_cost > 0 ? highest_cost : DUMMY_COST_DEFAULT);

done:
    OPENSSL_clear_free(data, capacity);
    if (result < 0) {
        htpasswd_free(table);
        return result;
    }
    *out = table;
    return 0;
}

size_t htpasswd_user_count(const struct htpasswd *table)
{
    return table->count;
}

int htpasswd_check(const struct htpasswd *table, const char *user, const char *password)
{
    const struct htpasswd_entry *entry = NULL;
    if (user != NULL && table->count > 0) {
        struct htpasswd_entry key = {.user = (char *)user};
        entry =
            bsearch(&key, table->entries, table->count, sizeof *table->entries, compare_entries);
    }
    const char *setting = entry != NULL ? entry->hash : table->dummy_setting;

    struct crypt_data *scratch = calloc(1, sizeof *scratch);
    if (scratch == NULL)
        return error_set(-ENOMEM, "htpasswd: out of memory");
    const char *computed =
        crypt_rn(password != NULL ? password : "", setting, scratch, (int)sizeof *scratch);
    int matches = 0;
    if (computed != NULL && entry != NULL && strlen(computed) == BCRYPT_LENGTH)
        matches = CRYPTO_memcmp(computed, entry->hash, BCRYPT_LENGTH) == 0;
    OPENSSL_cleanse(scratch, sizeof *scratch);
    free(scratch);

    if (matches)
        return 0;
    if (entry == NULL)
        return error_set(-EACCES, "authentication failed: unknown user or wrong password");
    if (computed == NULL)
        return error_set(-EACCES, "authentication failed: the stored hash could not be computed");
    return error_set(-EACCES, "authentication failed: unknown user or wrong password");
}

/* Strict standard base64 with padding. Returns the decoded length or -EINVAL. */
static int base64_decode_strict(const char *text, size_t length, unsigned char *out,
                                size_t out_size)
{
    if (length == 0 || length % 4 != 0)
        return -EINVAL;
    size_t padding = 0;
    if (text[length - 1] == '=')
        padding = text[length - 2] == '=' ? 2 : 1;
    size_t decoded_length = length / 4 * 3 - padding;
    if (decoded_length > out_size)
        return -EINVAL;
    size_t written = 0;
    for (size_t i = 0; i < length; i += 4) {
        unsigned value = 0;
        int last_group = i + 4 == length;
        for (size_t j = 0; j < 4; j++) {
            char c = text[i + j];
            unsigned sextet;
            if (c >= 'A' && c <= 'Z')
                sextet = (unsigned)(c - 'A');
            else if (c >= 'a' && c <= 'z')
                sextet = (unsigned)(c - 'a' + 26);
            else if (c >= '0' && c <= '9')
                sextet = (unsigned)(c - '0' + 52);
            else if (c == '+')
                sextet = 62;
            else if (c == '/')
                sextet = 63;
            else if (c == '=' && last_group && j >= 4 - padding)
                sextet = 0;
            else
                return -EINVAL;
            value = value << 6 | sextet;
        }
        /* Bits under the padding must be zero (one canonical encoding). */
        if ((padding == 1 && last_group && (value & 0xff) != 0) ||
            (padding == 2 && last_group && (value & 0xffff) != 0))
            return -EINVAL;
        unsigned char bytes[3] = {(unsigned char)(value >> 16), (unsigned char)(value >> 8),
                                  (unsigned char)value};
        size_t count = last_group ? 3 - padding : 3;
        memcpy(out + written, bytes, count);
        written += count;
    }
    return (int)written;
}

int basic_credentials_parse(const char *header, size_t length, char *user, size_t user_size,
                            char *password, size_t password_size)
{
    if (user_size > 0)
        user[0] = '\0';
    if (password_size > 0)
        password[0] = '\0';
    if (length < 6 || strncasecmp(header, "Basic", 5) != 0 || header[5] != ' ')
        return error_set(-EINVAL, "Authorization: not Basic credentials");
    size_t start = 5;
    while (start < length && header[start] == ' ')
        start++;
    size_t end = length;
    while (end > start && (header[end - 1] == ' ' || header[end - 1] == '\t'))
        end--;
    if (end == start)
        return error_set(-EINVAL, "Authorization: empty Basic credentials");
    /* user (255) + ':' + password, in base64 */
    const size_t decoded_max = HTPASSWD_USER_MAX + 1 + HTPASSWD_PASSWORD_MAX;
    if (end - start > (decoded_max + 2) / 3 * 4)
        return error_set(-EINVAL, "Authorization: Basic credentials too long");

    unsigned char decoded[HTPASSWD_USER_MAX + 1 + HTPASSWD_PASSWORD_MAX + 3];
    int decoded_length = base64_decode_strict(header + start, end - start, decoded, sizeof decoded);
    int result = 0;
    if (decoded_length < 0) {
        result = error_set(-EINVAL, "Authorization: malformed base64 in Basic credentials");
        goto done;
    }
    unsigned char *colon = memchr(decoded, ':', (size_t)decoded_length);
    if (colon == NULL) {
        result = error_set(-EINVAL, "Authorization: Basic credentials without ':'");
        goto done;
    }
    size_t user_length = (size_t)(colon - decoded);
    size_t password_length = (size_t)decoded_length - user_length - 1;
    if (user_length == 0) {
        result = error_set(-EINVAL, "Authorization: empty user name");
        goto done;
    }
    for (int i = 0; i < decoded_length; i++) {
        if (decoded[i] < 0x20 || decoded[i] == 0x7f) {
            result = error_set(-EINVAL, "Authorization: control character in Basic credentials");
            goto done;
        }
    }
    if (user_length > HTPASSWD_USER_MAX || user_length >= user_size ||
        password_length > HTPASSWD_PASSWORD_MAX || password_length >= password_size) {
        result = error_set(-EINVAL, "Authorization: user name or password too long");
        goto done;
    }
    memcpy(user, decoded, user_length);
    user[user_length] = '\0';
    memcpy(password, colon + 1, password_length);
    password[password_length] = '\0';

done:
    OPENSSL_cleanse(decoded, sizeof decoded);
    return result;
}

int basic_challenge_format(char *out, size_t out_size, const char *realm)
{
    static const char prefix[] = "Basic realm=\"";
    static const char suffix[] = "\",charset=\"UTF-8\"";
    size_t length = 0;
    if (out_size < sizeof prefix)
        return error_set(-ENAMETOOLONG, "challenge does not fit");
    memcpy(out, prefix, sizeof prefix - 1);
    length = sizeof prefix - 1;
    for (const char *p = realm; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f)
            return error_set(-EINVAL, "realm contains a control character");
        if (c == '"' || c == '\\') {
            if (length + 1 >= out_size)
                return error_set(-ENAMETOOLONG, "challenge does not fit");
            out[length++] = '\\';
        }
        if (length + 1 >= out_size)
            return error_set(-ENAMETOOLONG, "challenge does not fit");
        out[length++] = (char)c;
    }
    if (length + sizeof suffix > out_size)
        return error_set(-ENAMETOOLONG, "challenge does not fit");
    memcpy(out + length, suffix, sizeof suffix);
    return (int)(length + sizeof suffix - 1);
}

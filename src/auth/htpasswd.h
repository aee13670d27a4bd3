/*
 * src/auth/htpasswd.h — Basic authentication against an htpasswd file (bcrypt only).
 *
 * The file is Apache's format, as `htpasswd -B` writes it: one `user:hash`
 * per line; blank lines and lines starting with '#' are ignored; spaces,
 * tabs and '\r' around a line are trimmed (as Distribution does). Only bcrypt
 * hashes are accepted (`$2y$`, `$2b$`, `$2a$`, cost 4 to 17), as in
 * Distribution (which does not cap the cost; cairn does, so that one line
 * cannot make every login take minutes): a line
 * with any other scheme ({SHA}, MD5 `$apr1$`, `$1$`, `$5$`, `$6$`, crypt or
 * plain text), a malformed line, an empty or over-long user name or a user
 * listed twice makes the whole load fail with "<path>:<line>: <reason>" in
 * error_message(); the line's content (which may hold a hash) is never
 * quoted.
 *
 * Invariants:
 * - A `struct htpasswd` is immutable once loaded: any number of threads may
 *   call htpasswd_check() on it at once. A reload builds a new table and
 *   swaps it; the old one is freed when its last user is done.
 * - Passwords are never logged, copied into the table or kept after a
 *   check; the hashing scratch space is wiped.
 * - htpasswd_check() costs one bcrypt computation whether or not the user
 *   exists: an unknown user is checked against a dummy hash with the highest
 *   cost found in the file, so response times do not tell which users exist.
 *   The result is compared in constant time (CRYPTO_memcmp).
 * - bcrypt is slow on purpose (milliseconds at cost 5, ~0.1 s at cost 10):
 *   call htpasswd_check() from the worker pool, never on an event loop.
 *
 *     struct htpasswd *table;
 *     if (htpasswd_load(config->htpasswd_path, &table) < 0)
 *         log_error("%s", error_message());   // "users:3: unsupported ..."
 *
 *     char user[HTPASSWD_USER_MAX + 1], password[HTPASSWD_PASSWORD_MAX + 1];
 *     if (basic_credentials_parse(value, value_length, user, sizeof user,
 *                                 password, sizeof password) < 0 ||
 *         htpasswd_check(table, user, password) != 0)
 *         ... 401 with basic_challenge_format(...) ...
 *     OPENSSL_cleanse(password, sizeof password);
 *     htpasswd_free(table);
 */
#ifndef CAIRN_SRC_AUTH_HTPASSWD_H
#define CAIRN_SRC_AUTH_HTPASSWD_H

#include <stddef.h>

/* Longest user name accepted in the file and in a Basic header (Apache's limit). */
#define HTPASSWD_USER_MAX 255
/* Longest password accepted in a Basic header. bcrypt only reads the first
 * 72 bytes, like `htpasswd -B`. */
#define HTPASSWD_PASSWORD_MAX 1024
/* Largest htpasswd file accepted. */
#define HTPASSWD_FILE_MAX (16u << 20)

struct htpasswd;

/* Loads `path`. 0, or -errno from opening/reading it, -EFBIG when it is over
 * HTPASSWD_FILE_MAX, -EINVAL with "<path>:<line>: <reason>" for a bad line,
 * -ENOMEM. `*out` is only set on success. A file with no users is valid
 * (nobody can log in). */
int htpasswd_load(const char *path, struct htpasswd **out);

/* NULL is allowed. */
void htpasswd_free(struct htpasswd *table);

/* Number of users in the table. */
size_t htpasswd_user_count(const struct htpasswd *table);

/* 0 when `password` is `user`'s password; -EACCES otherwise (unknown user,
 * wrong password, or a hashing failure), with a message that names neither
 * the password nor the hash; -ENOMEM. Treat anything but 0 as a refusal. */
int htpasswd_check(const struct htpasswd *table, const char *user, const char *password);

/* Parses an Authorization header value "Basic <base64(user:password)>" (the
 * scheme case-insensitive, one or more spaces, optional trailing spaces or
 * tabs). The base64 is strict (standard alphabet, '=' padding required, no
 * whitespace inside, no stray bits). The user is everything before the first
 * ':' and must not be empty; the password is the rest and may contain ':'.
 * Neither may contain control characters (RFC 7617) or NUL. Both are copied
 * NUL-terminated into the caller's buffers; the decoded copy is wiped. 0, or
 * -EINVAL (not Basic, malformed, or a part does not fit its buffer); the
 * message never contains the credentials. The caller wipes `password` after
 * use (OPENSSL_cleanse). */
int basic_credentials_parse(const char *header, size_t length, char *user, size_t user_size,
                            char *password, size_t password_size);

/* Writes the WWW-Authenticate value `Basic realm="<realm>",charset="UTF-8"`
 * with '"' and '\' escaped. Returns the length written, -EINVAL when the realm
 * holds a control character, -ENAMETOOLONG when it does not fit. */
int basic_challenge_format(char *out, size_t out_size, const char *realm);

#endif

/* auth: checking a user's password, by PAM (service "xenapid") or against a file of
 * salted crypt(3) hashes written by `xenapid --set-password USER`.  Passwords are
 * never stored or logged in clear. */
#ifndef XENAPID_AUTH_H
#define XENAPID_AUTH_H

#include <stdbool.h>

#include "config.h"
#include "xerr.h"

/* true when the password is right; false otherwise (why goes to the log, not the client). */
bool auth_check(const struct config *cfg, const char *user, const char *password);
/* Add or replace USER's hash in the password file (created 0600). */
xerr *auth_set_password(const char *path, const char *user, const char *password);

#endif

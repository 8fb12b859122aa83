/* The per-bottle certificate authority.
 *
 * The `bottle` CLI creates it at launch (ca_ensure) and publishes ca.crt to
 * the agent's trust store; the bundle loads it (ca_load) to mint leaf
 * certificates for the hosts it intercepts.  ca.key never leaves the host:
 * only the CLI (briefly) and the bundle hold it.
 */
#ifndef BOTTLE_CA_H
#define BOTTLE_CA_H

#include "err.h"

#include <openssl/types.h>
#include <stddef.h>

#define CA_KEY_FILE  "ca.key"
#define CA_CERT_FILE "ca.crt"
/* A CA made ahead of time in the state home, for the next bottle to take
 * with one rename(2), so that no launch waits on key generation. */
#define CA_SPARE_DIR ".ca-spare"

/* Create the per-bottle CA in dir (which must exist) unless it exists:
 * dir/ca.key (EC P-256, PEM, mode 0600, written atomically: temp+rename,
 * O_NOFOLLOW) and dir/ca.crt (PEM, 0644).  Subject CN "bot-bottle CA <id>",
 * basicConstraints critical CA:TRUE pathlen:0, keyUsage critical
 * keyCertSign,cRLSign, subjectKeyIdentifier, validity now-1h .. +10 years,
 * random 128-bit serial.
 *
 * Idempotent: an existing valid pair is kept (so resume keeps trust).  A
 * missing, unreadable-as-PEM, mismatched or expired (or expiring within a
 * day) pair is replaced.  An insecure ca.key (see ca_load) is refused with
 * -EACCES rather than replaced.  0 or -errno with err. */
int ca_ensure(const char *dir, const char *id, struct error *err)
    __attribute__((warn_unused_result));

/* Make state_home/.ca-spare (ca.key + ca.crt, as ca_ensure() makes them,
 * CN "bot-bottle CA spare") unless it exists.  Built in a temp dir and
 * renamed into place, so a taker sees a whole pair or none.  0 or -errno. */
int ca_make_spare(const char *state_home, struct error *err)
    __attribute__((warn_unused_result));

/* Load dir/ca.key and dir/ca.crt.  ca.key must be a regular file (not a
 * symlink) owned by the caller's euid and not accessible to group or others
 * (-EACCES, saying which); the pair must match and the certificate be
 * current (-EINVAL otherwise; -ENOENT if a file is missing).  On success
 * the caller owns *key (EVP_PKEY_free) and *cert (X509_free); on error
 * both are NULL.  The PEM bytes of the key are wiped from memory after
 * decoding.  Does not allocate outside OpenSSL (safe in the daemon). */
int ca_load(const char *dir, EVP_PKEY **key, X509 **cert, struct error *err)
    __attribute__((warn_unused_result));

/* Give x a random positive 128-bit serial number.  0 or -ENOMEM. */
int ca_random_serial(X509 *x) __attribute__((warn_unused_result));

/* The most recent queued OpenSSL error as text, in buf (at least 1 byte), and
 * clear the queue.  "unknown error" if none is queued.  Returns buf. */
const char *ca_ssl_error(char *buf, size_t len);

#endif

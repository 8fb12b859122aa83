/* A ClientHello parser for the proxy: which host does the agent's TLS
 * stream name (SNI), and which application protocols does it offer (ALPN)?
 * Pure and allocation-free; it faces the agent and is fuzzed
 * (fuzz/fuzz_sni.c). */
#ifndef BOTTLE_BUNDLE_SNI_H
#define BOTTLE_BUNDLE_SNI_H

#include <stddef.h>
#include <stdint.h>

enum sni_result {
	SNI_FOUND,     /* a complete ClientHello with a host_name */
	SNI_NONE,      /* a valid ClientHello without SNI */
	SNI_NEED_MORE, /* a valid prefix: read more and call again */
	SNI_NOT_TLS,   /* not a TLS handshake record */
	SNI_MALFORMED, /* a TLS handshake record, but not a valid ClientHello */
};

enum sni_alpn_flags {
	SNI_ALPN_HTTP11 = 1, /* "http/1.1" offered */
	SNI_ALPN_H2 = 2,     /* "h2" offered */
};

/* Longest host name sni_parse() accepts (RFC 1035's 255 octets). */
#define SNI_NAME_MAX 255

/* Parse buf[0..len) (the client's byte stream as received so far) as TLS
 * handshake records carrying a ClientHello.  The message may span several
 * records; it is only judged once all of it has arrived, so a truncated
 * hello is always SNI_NEED_MORE, never SNI_FOUND.  Bytes after the
 * ClientHello are ignored.
 *
 * On SNI_FOUND, name holds the first host_name entry, lowercased and
 * NUL-terminated; a name that is empty, longer than SNI_NAME_MAX or holds
 * bytes outside [A-Za-z0-9.-_] makes the hello SNI_MALFORMED.  On SNI_FOUND
 * and SNI_NONE, *alpn holds enum sni_alpn_flags (0 without ALPN).  On any
 * other result name and *alpn are unspecified.  Never reads past len. */
enum sni_result sni_parse(const uint8_t *buf, size_t len, char name[256],
			  unsigned *alpn);

/* "found", "none", ... for logs. */
const char *sni_result_str(enum sni_result r);

#endif

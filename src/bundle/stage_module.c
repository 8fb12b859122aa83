/* bottle-bundle-stages.so: the table the bundle loads.  See stage.h. */
#include "bundle/stage.h"

#include "lib/ca.h"

/* The module's one exported symbol: the rest is hidden (meson.build). */
#define EXPORT __attribute__((visibility("default")))

EXPORT const struct stage_ops bottle_stage_ops = {
    .version = BOTTLE_VERSION,
    .size = sizeof(struct stage_ops),
    .log_init = log_init,
    .dlp_config_check = dlp_config_check,
    .dlp_db_new = dlp_db_new,
    .dlp_db_free = dlp_db_free,
    .dlp_db_count = dlp_db_count,
    .dlp_db_from_cache = dlp_db_from_cache,
    .dlp_db_max_span = dlp_db_max_span,
    .dlp_stream_new = dlp_stream_new,
    .dlp_stream_feed = dlp_stream_feed,
    .dlp_stream_finish = dlp_stream_finish,
    .dlp_stream_logged = dlp_stream_logged,
    .dlp_stream_free = dlp_stream_free,
    .dlp_scan = dlp_scan,
    .dlp_redact = dlp_redact,
    .ca_ensure = ca_ensure,
    .ca_make_spare = ca_make_spare,
    .tls_ca_load = tls_ca_load,
    .tls_ca_free = tls_ca_free,
    .tls_ca_server_ctx = tls_ca_server_ctx,
    .tls_client_ctx_new = tls_client_ctx_new,
    .tls_client_ctx_free = tls_client_ctx_free,
    .tls_io_server = tls_io_server,
    .tls_io_client = tls_io_client,
    .tls_io_set_fd = tls_io_set_fd,
    .tls_io_free = tls_io_free,
    .tls_io_handshake = tls_io_handshake,
    .tls_io_read = tls_io_read,
    .tls_io_pending = tls_io_pending,
    .tls_io_write = tls_io_write,
    .tls_io_failure = tls_io_failure,
};

// libnghttp2 as Debian 12 ships it (1.52, with the security backports that add
// nghttp2_option_set_stream_reset_rate_limit and nghttp2_option_set_max_continuations).
// Only Sources/HTTP2/HTTP2Session.swift uses it.
#include <nghttp2/nghttp2.h>

#ifndef SLUICE_CHIREDIS_SHIM_H
#define SLUICE_CHIREDIS_SHIM_H
/* hiredis (Debian libhiredis-dev). Linked through the module map rather than
 * hiredis.pc, whose flags SwiftPM warns about. Commands go through
 * redisAppendCommandArgv + redisGetReply (binary safe, pipelines), never the
 * printf-style redisCommand. */
#include <hiredis/hiredis.h>

/* redisContext.errstr is a char[128], which Swift imports as a tuple. */
static inline const char *sluice_redis_errstr(const redisContext *c) { return c->errstr; }
#endif

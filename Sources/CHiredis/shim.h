// The hiredis C client (Debian's libhiredis-dev), for RedisKit. Included directly rather than
// through pkg-config: hiredis's .pc adds -D_FILE_OFFSET_BITS=64, which clashes with Glibc's
// flock in Swift (CFuse3's shim.h leaves the macro out for the same reason).
#ifndef AIFS_CHIREDIS_SHIM_H
#define AIFS_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <sys/time.h>

/// redisConnectWithTimeout with the timeout in milliseconds (struct timeval is awkward in Swift).
static inline redisContext *aifs_redis_connect(const char *host, int port, long timeout_ms) {
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    return redisConnectWithTimeout(host, port, tv);
}

/// Read/write timeout of an open connection, in milliseconds.
static inline int aifs_redis_set_timeout(redisContext *c, long timeout_ms) {
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    return redisSetTimeout(c, tv);
}

static inline redisReply *aifs_redis_command_argv(redisContext *c, int argc, const char **argv, const size_t *lens) {
    return (redisReply *)redisCommandArgv(c, argc, argv, lens);
}
/// Queues a command for a pipeline (sent with the next aifs_redis_get_reply).
static inline int aifs_redis_append_argv(redisContext *c, int argc, const char **argv, const size_t *lens) {
    return redisAppendCommandArgv(c, argc, argv, lens);
}

static inline redisReply *aifs_redis_get_reply(redisContext *c) {
    void *reply = NULL;
    if (redisGetReply(c, &reply) != REDIS_OK) return NULL;
    return (redisReply *)reply;
}
#endif

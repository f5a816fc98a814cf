#ifndef CFUSE3_SHIM_H
#define CFUSE3_SHIM_H

// The libfuse 3.14 low-level API, plus static inline wrappers for what Swift cannot import:
// macros, variadics and bitfields. Do not define _FILE_OFFSET_BITS here (clashes with Glibc's
// flock in Swift); libfuse's headers are 64-bit clean on x86_64 and aarch64.
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <sys/stat.h>

/// Builds `fuse_args` from a C argv (copied) and creates a low-level session.
static inline struct fuse_session *cfuse_session_new(int argc, char **argv,
                                                     const struct fuse_lowlevel_ops *ops,
                                                     void *userdata) {
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    for (int i = 0; i < argc; i++) {
        if (fuse_opt_add_arg(&args, argv[i]) != 0) {
            fuse_opt_free_args(&args);
            return NULL;
        }
    }
    struct fuse_session *se = fuse_session_new(&args, ops, sizeof(*ops), userdata);
    fuse_opt_free_args(&args);
    return se;
}

/// A receive buffer for a hand-written session loop (libfuse allocates `mem` on first use).
static inline struct fuse_buf *cfuse_buf_new(void) {
    return (struct fuse_buf *)calloc(1, sizeof(struct fuse_buf));
}
static inline void cfuse_buf_free(struct fuse_buf *buf) {
    if (buf) { free(buf->mem); free(buf); }
}

// fuse_file_info bitfields.
static inline void cfuse_fi_set_direct_io(struct fuse_file_info *fi, int v) { fi->direct_io = v ? 1 : 0; }
static inline void cfuse_fi_set_nonseekable(struct fuse_file_info *fi, int v) { fi->nonseekable = v ? 1 : 0; }
static inline void cfuse_fi_set_keep_cache(struct fuse_file_info *fi, int v) { fi->keep_cache = v ? 1 : 0; }
static inline void cfuse_fi_set_cache_readdir(struct fuse_file_info *fi, int v) { fi->cache_readdir = v ? 1 : 0; }
static inline int cfuse_fi_flags(const struct fuse_file_info *fi) { return fi ? fi->flags : 0; }
static inline uint64_t cfuse_fi_fh(const struct fuse_file_info *fi) { return fi ? fi->fh : 0; }

/// A zeroed `fuse_entry_param` filled with the common fields.
static inline void cfuse_entry_fill(struct fuse_entry_param *e, fuse_ino_t ino, const struct stat *st,
                                    double attr_timeout, double entry_timeout) {
    memset(e, 0, sizeof(*e));
    e->ino = ino;
    e->generation = 0;
    e->attr = *st;
    e->attr_timeout = attr_timeout;
    e->entry_timeout = entry_timeout;
}

/// Enables or disables a capability in `conn->want` (called from the `init` callback).
static inline void cfuse_conn_want(struct fuse_conn_info *conn, unsigned cap, int on) {
    if (on) {
        if (conn->capable & cap) conn->want |= cap;
    } else {
        conn->want &= ~cap;
    }
}
static inline unsigned cfuse_cap_writeback_cache(void) { return FUSE_CAP_WRITEBACK_CACHE; }
static inline unsigned cfuse_cap_splice_read(void) { return FUSE_CAP_SPLICE_READ; }
static inline unsigned cfuse_cap_splice_write(void) { return FUSE_CAP_SPLICE_WRITE; }
static inline unsigned cfuse_cap_splice_move(void) { return FUSE_CAP_SPLICE_MOVE; }

#endif

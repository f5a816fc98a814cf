/*
 * fusefloor: the "FUSE floor" baseline for Benchmarks/bench.py.
 *
 * The smallest libfuse low-level filesystem that serves the same request sequence as an aifs
 * round trip: open/write/flush/release on `in`, then open/read/read/release on `out`. It does
 * no work: `in` keeps the bytes written, `out` hands them back once and then reports EOF, so a
 * round trip through it costs only the kernel and libfuse. One thread (fuse_session_loop), no
 * locks, both files direct_io (like aifs's input and output), `out` non-seekable.
 *
 * With a count N it also lists N empty directories d00000…, answered the same way, as the
 * floor for `ls -l` of a big directory. Like aifs, names and attributes are cached for 1 s.
 * Extended attributes are not implemented (libfuse answers ENOSYS, which the kernel remembers).
 *
 * Built by the benchmark at run time:
 *     gcc -O2 -Wall -o fusefloor fusefloor.c $(pkg-config --cflags --libs fuse3)
 *     ./fusefloor MOUNTPOINT [N]    (stays in the foreground; SIGTERM unmounts and exits)
 *
 * Written for this project from the libfuse 3 headers (fuse_lowlevel.h); one client at a time.
 */
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { ROOT = 1, IN = 2, OUT = 3, DIR0 = 4 };   /* directory i is inode DIR0 + i */

static long dirs;               /* how many directories d00000… the root holds */

static char data[1 << 20];      /* bytes written to `in`, not yet read from `out` */
static size_t data_len, data_pos;

static int fill_attr(fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_uid = getuid();
    st->st_gid = getgid();
    switch (ino) {
    case ROOT: st->st_mode = S_IFDIR | 0755; st->st_nlink = 2; return 0;
    case IN:   st->st_mode = S_IFREG | 0200; st->st_nlink = 1; return 0;
    case OUT:  st->st_mode = S_IFREG | 0444; st->st_nlink = 1; return 0;
    default:
        if (ino < DIR0 || ino >= DIR0 + (fuse_ino_t) dirs) return -1;
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
        return 0;
    }
}

/* The inode of directory name "dNNNNN", or 0. */
static fuse_ino_t dir_inode(const char *name)
{
    char *end;
    long i;
    if (name[0] != 'd' || strlen(name) != 6) return 0;
    i = strtol(name + 1, &end, 10);
    return (*end == '\0' && i >= 0 && i < dirs) ? DIR0 + (fuse_ino_t) i : 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    if (parent != ROOT) { fuse_reply_err(req, ENOENT); return; }
    if (strcmp(name, "in") == 0) e.ino = IN;
    else if (strcmp(name, "out") == 0) e.ino = OUT;
    else if ((e.ino = dir_inode(name)) == 0) { fuse_reply_err(req, ENOENT); return; }
    fill_attr(e.ino, &e.attr);
    e.attr_timeout = 1.0;
    e.entry_timeout = 1.0;
    fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;
    (void) fi;
    if (fill_attr(ino, &st) != 0) fuse_reply_err(req, ENOENT);
    else fuse_reply_attr(req, &st, 1.0);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (ino != IN && ino != OUT) { fuse_reply_err(req, EISDIR); return; }
    fi->direct_io = 1;
    fi->nonseekable = (ino == OUT);
    fuse_reply_open(req, fi);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void) off; (void) fi;
    if (ino != IN) { fuse_reply_err(req, EBADF); return; }
    if (data_len + size > sizeof data) { fuse_reply_err(req, EFBIG); return; }
    memcpy(data + data_len, buf, size);
    data_len += size;
    fuse_reply_write(req, size);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    size_t n;
    (void) off; (void) fi;
    if (ino != OUT) { fuse_reply_err(req, EBADF); return; }
    n = data_len - data_pos;
    if (n > size) n = size;
    fuse_reply_buf(req, data + data_pos, n);   /* n == 0 is EOF */
    data_pos += n;
    if (data_pos == data_len) data_pos = data_len = 0;
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void) ino; (void) fi;
    fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void) ino; (void) fi;
    fuse_reply_err(req, 0);
}

/* Entries: ".", "..", "in", "out", then the directories; the offset is the entry's index + 1. */
static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    static const char *fixed[] = { ".", "..", "in", "out" };
    static const fuse_ino_t fixed_ino[] = { ROOT, ROOT, IN, OUT };
    char *buf;
    size_t used = 0;
    (void) fi;
    if (ino != ROOT) { fuse_reply_err(req, ENOTDIR); return; }
    buf = malloc(size);
    if (buf == NULL) { fuse_reply_err(req, ENOMEM); return; }
    for (off_t i = off; i < 4 + dirs; i++) {
        struct stat st;
        char name[32];
        size_t need;
        fuse_ino_t entry = i < 4 ? fixed_ino[i] : DIR0 + (fuse_ino_t) (i - 4);
        if (i >= 4) snprintf(name, sizeof name, "d%05u", (unsigned) (i - 4));
        fill_attr(entry, &st);
        need = fuse_add_direntry(req, buf + used, size - used, i < 4 ? fixed[i] : name, &st, i + 1);
        if (need > size - used) break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static const struct fuse_lowlevel_ops ops = {
    .lookup = op_lookup,
    .getattr = op_getattr,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .readdir = op_readdir,
};

int main(int argc, char **argv)
{
    char *fargv[] = { argv[0], "-o", "fsname=fusefloor,subtype=fusefloor", NULL };
    struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
    struct fuse_session *se;
    int ret = 1;

    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s MOUNTPOINT [DIRECTORIES]\n", argv[0]);
        return 2;
    }
    dirs = argc == 3 ? strtol(argv[2], NULL, 10) : 0;
    if (dirs < 0 || dirs > 100000) dirs = 0;
    se = fuse_session_new(&args, &ops, sizeof ops, NULL);
    if (se == NULL) return 1;
    if (fuse_set_signal_handlers(se) == 0) {
        if (fuse_session_mount(se, argv[1]) == 0) {
            ret = fuse_session_loop(se) < 0;
            fuse_session_unmount(se);
        }
        fuse_remove_signal_handlers(se);
    }
    fuse_session_destroy(se);
    return ret;
}

#!/usr/bin/env bash
# Installs or removes aifs like a system filesystem. `./mount --install` and `./mount --uninstall`
# call this; it can also be run on its own:
#   scripts/install.sh install BINARY    copy BINARY and everything below into place
#   scripts/install.sh uninstall         remove what `install` put there
#
# What goes where (every directory can be changed with the variable named in brackets):
#   $PREFIX/bin/aifs                                   the command             [PREFIX=/usr/local, BINDIR]
#   $SBINDIR/mount.fuse.aifs -> $BINDIR/aifs           for mount -t fuse.aifs  [SBINDIR=/sbin: the only
#                                                      place mount(8) looks for helpers]
#   $PREFIX/share/man/man1/aifs.1, man5/aifs.5         rendered from docs/aifs.{1,5}.md  [MANDIR]
#   $PREFIX/lib/systemd/system/aifs@.service           from examples/systemd  [UNITDIR]
#   $PREFIX/share/{bash-completion,zsh,fish}/…         shell completion       [COMPLETIONDIR=$PREFIX/share]
# DESTDIR stages the whole tree elsewhere (for packaging): files go under $DESTDIR, while the
# paths written into them (the unit's ExecStart, the symlink's target) stay without it.
# Man pages are rendered with go-md2man (Debian package go-md2man). The directories that
# `install` had to create are listed in $PREFIX/share/aifs/created-directories, and `uninstall`
# removes those that are empty again, so an install followed by an uninstall leaves nothing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

PREFIX=${PREFIX:-/usr/local}
BINDIR=${BINDIR:-$PREFIX/bin}
SBINDIR=${SBINDIR:-/sbin}
MANDIR=${MANDIR:-$PREFIX/share/man}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
COMPLETIONDIR=${COMPLETIONDIR:-$PREFIX/share}
DESTDIR=${DESTDIR:-}

say() { printf 'install: %s\n' "$*" >&2; }

BASH_COMPLETION=$COMPLETIONDIR/bash-completion/completions/aifs
ZSH_COMPLETION=$COMPLETIONDIR/zsh/site-functions/_aifs
FISH_COMPLETION=$COMPLETIONDIR/fish/vendor_completions.d/aifs.fish
HELPER=$SBINDIR/mount.fuse.aifs
CREATED=$PREFIX/share/aifs/created-directories

# mkdir -p that remembers each directory it creates (without $DESTDIR) in NEW_DIRS, parents first.
NEW_DIRS=()
make_dir() {
    local dir=$1 missing=()
    [ -z "$DESTDIR" ] || mkdir -p "$DESTDIR"
    while [ "$dir" != / ] && [ ! -d "$DESTDIR$dir" ]; do missing=("$dir" "${missing[@]}"); dir=$(dirname "$dir"); done
    for dir in "${missing[@]}"; do
        mkdir "$DESTDIR$dir"
        NEW_DIRS+=("$dir")
    done
}

install_all() {
    local binary=$1
    [ -x "$binary" ] || { say "$binary is not an executable"; exit 1; }
    command -v go-md2man >/dev/null || { say "go-md2man is missing (apt-get install go-md2man)"; exit 1; }
    if [ -e "$DESTDIR$HELPER" ] && [ ! -L "$DESTDIR$HELPER" ]; then
        say "$DESTDIR$HELPER exists and is not our symlink; leaving everything as it is"
        exit 1
    fi
    trap note_new_dirs EXIT  # also when a step fails, so uninstall can still clean up
    make_dir "$(dirname "$CREATED")"
    # The binary: a copy, replacing the symlink that ./mount may have left there.
    make_dir "$BINDIR"
    rm -f "$DESTDIR$BINDIR/aifs"
    install -m 0755 "$binary" "$DESTDIR$BINDIR/aifs"
    say "$DESTDIR$BINDIR/aifs"
    make_dir "$SBINDIR"
    ln -sfn "$BINDIR/aifs" "$DESTDIR$HELPER"
    say "$DESTDIR$HELPER -> $BINDIR/aifs"
    for section in 1 5; do
        make_dir "$MANDIR/man$section"
        go-md2man -in "$ROOT/docs/aifs.$section.md" -out "$DESTDIR$MANDIR/man$section/aifs.$section"
        chmod 0644 "$DESTDIR$MANDIR/man$section/aifs.$section"
        say "$DESTDIR$MANDIR/man$section/aifs.$section"
    done
    make_dir "$UNITDIR"
    sed "s|/usr/local/bin/aifs|$BINDIR/aifs|g" "$ROOT/examples/systemd/aifs@.service" > "$DESTDIR$UNITDIR/aifs@.service"
    chmod 0644 "$DESTDIR$UNITDIR/aifs@.service"
    say "$DESTDIR$UNITDIR/aifs@.service"
    local shell file
    for shell in bash zsh fish; do
        case $shell in bash) file=$BASH_COMPLETION ;; zsh) file=$ZSH_COMPLETION ;; fish) file=$FISH_COMPLETION ;; esac
        make_dir "$(dirname "$file")"
        "$binary" --generate-completion-script "$shell" > "$DESTDIR$file"
        chmod 0644 "$DESTDIR$file"
        say "$DESTDIR$file"
    done
}

# Adds the directories this run created to the list (an earlier install's list is kept).
note_new_dirs() {
    if [ ${#NEW_DIRS[@]} -gt 0 ] && [ -d "$DESTDIR$(dirname "$CREATED")" ]; then
        printf '%s\n' "${NEW_DIRS[@]}" >> "$DESTDIR$CREATED"
    fi
}

uninstall_all() {
    # The helper goes only if it is a symlink to an aifs binary (someone else's file stays).
    if [ -L "$DESTDIR$HELPER" ]; then
        case "$(readlink "$DESTDIR$HELPER")" in
            */aifs) rm -f "$DESTDIR$HELPER"; say "removed $DESTDIR$HELPER" ;;
            *) say "kept $DESTDIR$HELPER: it does not point at aifs" ;;
        esac
    elif [ -e "$DESTDIR$HELPER" ]; then
        say "kept $DESTDIR$HELPER: not a symlink we made"
    fi
    local file
    for file in "$BINDIR/aifs" "$MANDIR/man1/aifs.1" "$MANDIR/man5/aifs.5" "$UNITDIR/aifs@.service" \
                "$BASH_COMPLETION" "$ZSH_COMPLETION" "$FISH_COMPLETION"; do
        if [ -e "$DESTDIR$file" ] || [ -L "$DESTDIR$file" ]; then
            rm -f "$DESTDIR$file"
            say "removed $DESTDIR$file"
        fi
    done
    # The directories install created, deepest first, if nothing else was put in them.
    if [ -f "$DESTDIR$CREATED" ]; then
        local dirs dir
        mapfile -t dirs < "$DESTDIR$CREATED"
        rm -f "$DESTDIR$CREATED"
        for ((i = ${#dirs[@]} - 1; i >= 0; i--)); do
            dir=$DESTDIR${dirs[i]}
            if [ -d "$dir" ] && rmdir "$dir" 2>/dev/null; then say "removed $dir/"; fi
        done
    fi
}

case "${1:-}" in
    install)
        [ $# -eq 2 ] || { say "usage: $0 install BINARY"; exit 2; }
        install_all "$2" ;;
    uninstall)
        uninstall_all ;;
    *)
        sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
        exit 2 ;;
esac

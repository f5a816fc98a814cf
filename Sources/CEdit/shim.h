// libedit (Debian's libedit-dev, BSD-licensed): line editing and history for `aifs chat`,
// through its readline-compatible API.
#include <stdio.h>
#include <editline/readline.h>

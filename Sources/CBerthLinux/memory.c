#define _GNU_SOURCE
#include "CBerthLinux.h"

#include <malloc.h>

int berth_malloc_trim(void) {
    return malloc_trim(0);
}

#define _GNU_SOURCE
#include "CBerthLinux.h"

#include <link.h>
#include <malloc.h>
#include <unistd.h>

struct collect {
    struct berth_code_range *ranges;
    int max;
    int count;
};

static int collect_main_program(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct collect *c = data;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W)) continue;
        // Whole pages inside the segment only: a page it shares with a writable
        // segment may hold data that was written to.
        uintptr_t start = (info->dlpi_addr + ph->p_vaddr + page - 1) & ~(page - 1);
        uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz) & ~(page - 1);
        if (end <= start) continue;
        if (c->count < c->max) {
            c->ranges[c->count].start = start;
            c->ranges[c->count].length = end - start;
        }
        c->count++;
    }
    return 1;  // the first object dl_iterate_phdr reports is the executable itself
}

int berth_program_code_ranges(struct berth_code_range *ranges, int max) {
    struct collect c = {ranges, max, 0};
    dl_iterate_phdr(collect_main_program, &c);
    return c.count;
}

int berth_malloc_trim(void) {
    return malloc_trim(0);
}

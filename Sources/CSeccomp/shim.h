#ifndef CSECCOMP_SHIM_H
#define CSECCOMP_SHIM_H

// libseccomp 2.5 (Debian 12). Its function-like macros (SCMP_ACT_ERRNO, SCMP_SYS, SCMP_A0)
// do not reach Swift; Container spells out the few values it needs.
#include <seccomp.h>

// libseccomp 2.5 has no export to memory (seccomp_export_bpf_mem came in 2.6), so the
// compiled filter goes through a memfd. memfd_create(2) sits behind _GNU_SOURCE, which
// Swift's Glibc module does not define; declare it here (glibc >= 2.27 has it).
int memfd_create(const char *name, unsigned int flags);
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif

#endif

/* args: the process start-up state the loader builds.
 *
 * Exercises: argc/argv/envp on the initial stack, environment passing,
 * and the auxiliary vector (AT_PAGESZ, AT_RANDOM, AT_PLATFORM, AT_EXECFN,
 * AT_UID..AT_EGID, AT_SECURE, AT_HWCAP, AT_PHDR/AT_PHENT/AT_PHNUM,
 * AT_ENTRY, AT_BASE, AT_CLKTCK).  Addresses differ between emulators, so
 * only properties of them are printed ("yes"/"no").
 *
 * Usage: args [ARG...]          prints every argv[i], then PYUSER_TEST_VAR
 *        args --env NAME ...    additionally prints the value of NAME
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#if defined(__LP64__)
typedef Elf64_Phdr Phdr;
#else
typedef Elf32_Phdr Phdr;
#endif

#if defined(__mips__)
#define _start __start /* the MIPS entry symbol */
#endif
extern char _start[];

/* HWCAP bits of 32-bit ARM Linux (arch/arm/include/uapi/asm/hwcap.h). */
#define ARM_HWCAP_VFP (1UL << 6)
#define ARM_HWCAP_NEON (1UL << 12)
#define ARM_HWCAP_VFPv3 (1UL << 13)
#define ARM_HWCAP_TLS (1UL << 15)

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

int main(int argc, char **argv)
{
    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=\"%s\"\n", i, argv[i]);
    printf("argv[argc]==NULL: %s\n", yesno(argv[argc] == NULL));

    const char *v = getenv("PYUSER_TEST_VAR");
    printf("PYUSER_TEST_VAR=%s\n", v ? v : "(unset)");
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--env") == 0) {
            const char *e = getenv(argv[i + 1]);
            printf("env %s=%s\n", argv[i + 1], e ? e : "(unset)");
        }

    printf("AT_PAGESZ=%lu\n", getauxval(AT_PAGESZ));
    printf("AT_CLKTCK=%lu\n", getauxval(AT_CLKTCK));

    const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
    int rnd_nonzero = 0;
    if (rnd)
        for (int i = 0; i < 16; i++)
            rnd_nonzero |= rnd[i];
    printf("AT_RANDOM non-null: %s, 16 bytes not all zero: %s\n", yesno(rnd != NULL),
           yesno(rnd_nonzero));

    const char *plat = (const char *)getauxval(AT_PLATFORM);
    printf("AT_PLATFORM=%s\n", plat ? plat : "(null)");

    const char *execfn = (const char *)getauxval(AT_EXECFN);
    printf("AT_EXECFN=%s\n", execfn ? execfn : "(null)");
    printf("AT_EXECFN==argv[0]: %s\n", yesno(execfn && strcmp(execfn, argv[0]) == 0));

    printf("AT_UID==getuid: %s\n", yesno(getauxval(AT_UID) == (unsigned long)getuid()));
    printf("AT_EUID==geteuid: %s\n", yesno(getauxval(AT_EUID) == (unsigned long)geteuid()));
    printf("AT_GID==getgid: %s\n", yesno(getauxval(AT_GID) == (unsigned long)getgid()));
    printf("AT_EGID==getegid: %s\n", yesno(getauxval(AT_EGID) == (unsigned long)getegid()));
    printf("AT_SECURE=%lu\n", getauxval(AT_SECURE));

#if defined(__arm__)
    unsigned long hw = getauxval(AT_HWCAP);
    printf("AT_HWCAP vfp=%s vfpv3=%s neon=%s tls=%s\n", yesno(hw & ARM_HWCAP_VFP),
           yesno(hw & ARM_HWCAP_VFPv3), yesno(hw & ARM_HWCAP_NEON), yesno(hw & ARM_HWCAP_TLS));
#else
    printf("AT_HWCAP non-zero: %s\n", yesno(getauxval(AT_HWCAP) != 0));
#endif

    /* A static non-PIE program: no interpreter, so AT_BASE is 0, and the
     * program headers and entry point are at their link-time addresses. */
    printf("AT_BASE=%lu\n", getauxval(AT_BASE));
    const Phdr *ph = (const Phdr *)getauxval(AT_PHDR);
    unsigned long phnum = getauxval(AT_PHNUM);
    unsigned long entry = getauxval(AT_ENTRY);
    printf("AT_PHENT==sizeof(Phdr): %s\n", yesno(getauxval(AT_PHENT) == sizeof(Phdr)));
    printf("AT_PHNUM in 1..64: %s\n", yesno(phnum >= 1 && phnum <= 64));
    printf("AT_ENTRY==_start: %s\n", yesno(entry == (unsigned long)_start));
    int entry_in_load = 0, phdr_in_load = 0, n_load = 0;
    if (ph)
        for (unsigned long i = 0; i < phnum && i < 64; i++) {
            if (ph[i].p_type != PT_LOAD)
                continue;
            n_load++;
            unsigned long lo = ph[i].p_vaddr, hi = ph[i].p_vaddr + ph[i].p_memsz;
            if (entry >= lo && entry < hi && (ph[i].p_flags & PF_X))
                entry_in_load = 1;
            if ((unsigned long)ph >= lo && (unsigned long)ph < hi)
                phdr_in_load = 1;
        }
    printf("AT_PHDR readable, has PT_LOAD: %s\n", yesno(n_load > 0));
    printf("AT_ENTRY inside an executable PT_LOAD: %s\n", yesno(entry_in_load));
    printf("AT_PHDR inside a PT_LOAD: %s\n", yesno(phdr_in_load));
    return 0;
}

/* hello-pie: a position-independent static executable (ET_DYN, no PT_INTERP).
 *
 * Exercises: loading an ET_DYN image with no interpreter at a base address
 * the loader picks, entry point relative to that base, raw syscalls.
 *
 * Debian's armhf glibc ships no rcrt1.o (no static-pie start-up code), so
 * this program is freestanding: it has its own _start and makes the write
 * and exit_group syscalls itself.  It is built with -static-pie -nostdlib
 * and must carry no dynamic relocations (the Makefile checks that), so it
 * runs correctly wherever it is loaded.
 * Expected output: "Hello, world!\n", status 0.
 */

__attribute__((used)) static const char msg[] = "Hello, world!\n";

#if defined(__arm__)
static long sys3(long nr, long a, long b, long c)
{
    register long r7 __asm__("r7") = nr;
    register long r0 __asm__("r0") = a;
    register long r1 __asm__("r1") = b;
    register long r2 __asm__("r2") = c;
    __asm__ volatile("svc 0" : "+r"(r0) : "r"(r7), "r"(r1), "r"(r2) : "memory");
    return r0;
}
#define NR_write 4
#define NR_exit_group 248
#elif defined(__aarch64__)
static long sys3(long nr, long a, long b, long c)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
#define NR_write 64
#define NR_exit_group 94
#elif defined(__x86_64__)
static long sys3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}
#define NR_write 1
#define NR_exit_group 231
#elif defined(__riscv) && __riscv_xlen == 64
static long sys3(long nr, long a, long b, long c)
{
    register long a7 __asm__("a7") = nr;
    register long a0 __asm__("a0") = a;
    register long a1 __asm__("a1") = b;
    register long a2 __asm__("a2") = c;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2) : "memory");
    return a0;
}
#define NR_write 64
#define NR_exit_group 94
#elif defined(__i386__)
static long sys3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}
#define NR_write 4
#define NR_exit_group 252
#elif defined(__mips__) && _MIPS_SIM == _ABIO32
static long sys3(long nr, long a, long b, long c)
{
    register long v0 __asm__("$2") = nr;
    register long a0 __asm__("$4") = a;
    register long a1 __asm__("$5") = b;
    register long a2 __asm__("$6") = c;
    register long a3 __asm__("$7");
    __asm__ volatile("syscall"
                     : "+r"(v0), "=r"(a3)
                     : "r"(a0), "r"(a1), "r"(a2)
                     : "$1", "$3", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15",
                       "$24", "$25", "hi", "lo", "memory");
    return a3 ? -v0 : v0;
}
#define NR_write 4004
#define NR_exit_group 4246
#define _start __start
#elif defined(__mips__) && _MIPS_SIM == _ABI64
static long sys3(long nr, long a, long b, long c)
{
    register long v0 __asm__("$2") = nr;
    register long a0 __asm__("$4") = a;
    register long a1 __asm__("$5") = b;
    register long a2 __asm__("$6") = c;
    register long a3 __asm__("$7");
    __asm__ volatile("syscall"
                     : "+r"(v0), "=r"(a3)
                     : "r"(a0), "r"(a1), "r"(a2)
                     : "$1", "$3", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15",
                       "$24", "$25", "hi", "lo", "memory");
    return a3 ? -v0 : v0;
}
#define NR_write 5001
#define NR_exit_group 5205
#define _start __start
#elif defined(__s390x__)
static long sys3(long nr, long a, long b, long c)
{
    register long r1 __asm__("r1") = nr;
    register long r2 __asm__("r2") = a;
    register long r3 __asm__("r3") = b;
    register long r4 __asm__("r4") = c;
    __asm__ volatile("svc 0" : "+r"(r2) : "r"(r1), "r"(r3), "r"(r4) : "memory");
    return r2;
}
#define NR_write 4
#define NR_exit_group 248
#elif defined(__powerpc__)
/* sc: number in r0, arguments r3-r5, result in r3 with CR0.SO set on error */
static long sys3(long nr, long a, long b, long c)
{
    register long r0 __asm__("r0") = nr;
    register long r3 __asm__("r3") = a;
    register long r4 __asm__("r4") = b;
    register long r5 __asm__("r5") = c;
    __asm__ volatile("sc\n bns+ 1f\n neg %1, %1\n1:"
                     : "+r"(r0), "+r"(r3), "+r"(r4), "+r"(r5)
                     :
                     : "r6", "r7", "r8", "r9", "r10", "r11", "r12", "cr0", "ctr", "memory");
    return r3;
}
#define NR_write 4
#define NR_exit_group 234
/* msg's address relative to the PC: -fPIE on PowerPC reads it from a GOT that
 * a dynamic relocation fills in, and there is no ld.so to apply it */
static long msg_address(void)
{
    long address;
    __asm__("bcl 20, 31, 1f\n1: mflr %0\n addis %0, %0, (msg - 1b)@ha\n"
            " addi %0, %0, (msg - 1b)@l"
            : "=b"(address) : : "lr");
    return address;
}
#define MSG_ADDRESS msg_address()
#elif defined(__m68k__)
/* trap #0: number in d0, arguments d1-d3, result in d0 */
static long sys3(long nr, long a, long b, long c)
{
    register long d0 __asm__("d0") = nr;
    register long d1 __asm__("d1") = a;
    register long d2 __asm__("d2") = b;
    register long d3 __asm__("d3") = c;
    __asm__ volatile("trap #0" : "+r"(d0) : "r"(d1), "r"(d2), "r"(d3) : "memory");
    return d0;
}
#define NR_write 4
#define NR_exit_group 247
/* msg's address relative to the PC (-fPIE reads it from a GOT that needs a
 * dynamic relocation) */
static long msg_address(void)
{
    long address;
    __asm__("lea msg(%%pc), %0" : "=a"(address));
    return address;
}
#define MSG_ADDRESS msg_address()
#else
#error "hello_pie.c: add the syscall convention for this architecture"
#endif

#ifndef MSG_ADDRESS
#define MSG_ADDRESS ((long)msg)
#endif

__attribute__((noreturn, used)) void _start(void)
{
    long n = sys3(NR_write, 1, MSG_ADDRESS, sizeof(msg) - 1);
    sys3(NR_exit_group, n == (long)sizeof(msg) - 1 ? 0 : 1, 0, 0);
    for (;;)
        ;
}

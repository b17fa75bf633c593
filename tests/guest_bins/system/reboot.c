/* Reboot through PSCI SYSTEM_RESET, three times, then a semihosting exit.
 *
 * The boot count lives in RAM outside the image: a reset reloads the image
 * (so `loaded` reads 7 on every boot) but does not clear RAM (QEMU's
 * machine reset reloads its ROM blobs and leaves RAM alone).  Each boot
 * turns the MMU on and sets SCTLR.A (alignment checks) before resetting;
 * the next must start with both off again, and an unaligned word load from
 * normal memory must then just work (a data abort would print FAULT 4).
 */
#include "lib.h"

#define MARK 0x47000000u
#define MAGIC 0x52425430u /* "RBT0" */
#define PSCI_SYSTEM_RESET 0x84000009u

static volatile uint32_t loaded = 7;
static uint8_t bytes[8] __attribute__((aligned(4))) = {1, 2, 3, 4, 5, 6, 7, 8};

static uint32_t load_word(const uint8_t *at)
{
	uint32_t v;
	__asm__ volatile("ldr %0, [%1]" : "=r"(v) : "r"(at) : "memory");
	return v;
}

static uint32_t sctlr(void)
{
	uint32_t v;
	__asm__ volatile("mrc p15, 0, %0, c1, c0, 0" : "=r"(v));
	return v;
}

static void set_sctlr(uint32_t v)
{
	__asm__ volatile("mcr p15, 0, %0, c1, c0, 0\n\tisb" ::"r"(v) : "memory");
}

static void psci_system_reset(void)
{
	register uint32_t r0 __asm__("r0") = PSCI_SYSTEM_RESET;
	__asm__ volatile(".arch_extension virt\n\thvc #0" : "+r"(r0) :: "memory");
}

int main(void)
{
	uint32_t mmu_at_entry = sctlr() & 1u;
	uint32_t align_at_entry = sctlr() & 2u;
	if (REG(MARK) != MAGIC) {
		REG(MARK) = MAGIC;
		REG(MARK + 4) = 0;
	}
	uint32_t boot = ++REG(MARK + 4);
	mmu_enable();
	uart_puts("boot ");
	put_dec(boot);
	uart_puts(": mmu at entry ");
	uart_puts(mmu_at_entry ? "on" : "off");
	uart_puts(", alignment checks at entry ");
	uart_puts(align_at_entry ? "on" : "off");
	uart_puts(", loaded ");
	put_dec(loaded);
	uart_puts(", unaligned word ");
	put_hex(load_word(bytes + 1));
	uart_puts("\n");
	loaded = 8;
	if (boot < 3) {
		set_sctlr(sctlr() | 2u);
		psci_system_reset();
		uart_puts("SYSTEM_RESET returned\n");
		sh_exit_status(100);
	}
	REG(MARK) = 0;
	sh_exit_status(boot);
}

/* Tiny support library for the virt-board test firmware. */
#ifndef LIB_H
#define LIB_H
#include <stdint.h>

#define REG(addr) (*(volatile uint32_t *)(addr))

/* QEMU virt memory map (hw/arm/virt.c). */
#define UART0 0x09000000u
#define RTC 0x09010000u
#define GICD 0x08000000u
#define GICC 0x08010000u

#define UART_DR 0x00
#define UART_FR 0x18
#define UART_IMSC 0x38
#define UART_MIS 0x40
#define UART_ICR 0x44
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)
#define INT_RX (1u << 4)
#define INT_RT (1u << 6)

void uart_putc(char c);
void uart_puts(const char *s);
void put_dec(uint32_t v);
void put_hex(uint32_t v);

uint32_t sh_call(uint32_t op, uint32_t arg);
uint32_t sh_call_hlt(uint32_t op, uint32_t arg);
void sh_write0(const char *s);
void sh_exit_status(uint32_t status) __attribute__((noreturn));

void mmu_enable(void);

typedef void (*irq_handler_t)(void);
void gic_init(void);
void gic_enable(unsigned intid, irq_handler_t handler);

static inline void irq_enable(void) { __asm__ volatile("cpsie i" ::: "memory"); }
static inline void wfi(void) { __asm__ volatile("wfi" ::: "memory"); }

static inline uint32_t cntfrq(void)
{
	uint32_t v;
	__asm__ volatile("mrc p15, 0, %0, c14, c0, 0" : "=r"(v));
	return v;
}
static inline void cntv_tval(uint32_t v) { __asm__ volatile("mcr p15, 0, %0, c14, c3, 0" ::"r"(v)); }
static inline void cntv_ctl(uint32_t v) { __asm__ volatile("mcr p15, 0, %0, c14, c3, 1" ::"r"(v)); __asm__ volatile("isb"); }

#endif

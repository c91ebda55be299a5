// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * SMP exit-rate mode of the probe guest (`test=smpexit cpus=N count=C`):
 * the BSP starts the other N-1 CPUs with INIT/SIPI (real-mode trampoline
 * copied to AP_TRAMPOLINE, see start.S), then every CPU, BSP included,
 * writes port 0x80 (a no-op device in the VMM: one userspace PIO exit
 * each) C times. The host times "SMPEXIT start" to "SMPEXIT done" and
 * divides C by it: PIO exits per second per vCPU, all vCPUs at once.
 * Shared state is a few words touched with locked instructions.
 */
#include "smp.h"

#include "lib.h"

#define AP_TRAMPOLINE 0x8000u /* free low RAM (the VMM uses 0x5000..0x7FFF) */
#define LAPIC 0xFEE00000u
#define LAPIC_SVR 0xF0u
#define LAPIC_ICR_LOW 0x300u
#define LAPIC_ICR_HIGH 0x310u
#define MAX_CPUS 64
#define AP_STACK 4096

extern const u8 ap_trampoline[], ap_trampoline_end[];

/* Used by start.S: AP n takes ticket n-1 and the stack above ap_stacks[n]. */
u32 ap_next;
u8 ap_stacks[MAX_CPUS + 1][AP_STACK] __attribute__((aligned(16)));

static volatile u32 aps_up;
static volatile u32 go;
static volatile u32 aps_done;
static u32 exits_per_cpu;

static void atomic_inc(volatile u32* p) {
  __asm__ volatile("lock; incl %0" : "+m"(*p) : : "memory");
}

static void pio_loop(void) {
  for (u32 i = 0; i < exits_per_cpu; i++) outb(0x80, 0);
}

void ap_main(u32 ticket);
void ap_main(u32 ticket) {
  (void)ticket;
  atomic_inc(&aps_up);
  while (!go) __asm__ volatile("pause");
  pio_loop();
  atomic_inc(&aps_done);
  for (;;) __asm__ volatile("cli; hlt");
}

static void delay_cycles(u64 cycles) {
  u64 end = rdtsc() + cycles;
  while (rdtsc() < end) __asm__ volatile("pause");
}

static void send_ipi_all_but_self(u32 low) {
  mmio_write32(LAPIC + LAPIC_ICR_HIGH, 0);
  mmio_write32(LAPIC + LAPIC_ICR_LOW, low);
  for (u32 spin = 0; spin < 1000000 && (mmio_read32(LAPIC + LAPIC_ICR_LOW) & (1u << 12)); spin++)
    __asm__ volatile("pause");
}

void mode_smp_exits(void) {
  u32 cpus = cmdline_u32("cpus", 2);
  exits_per_cpu = cmdline_u32("count", 100000);
  if (cpus < 1 || cpus > MAX_CPUS) {
    print("PROBE: RESULT FAIL smpexit cpus=%u out of 1..%u\n", cpus, MAX_CPUS);
    guest_exit(1);
  }
  memcpy((void*)AP_TRAMPOLINE, ap_trampoline, (u32)(ap_trampoline_end - ap_trampoline));
  mmio_write32(LAPIC + LAPIC_SVR, mmio_read32(LAPIC + LAPIC_SVR) | 0x100); /* APIC enable */
  if (cpus > 1) {
    send_ipi_all_but_self(0x000C4500);                         /* INIT, all but self */
    delay_cycles(10000000);                                    /* ~10 ms */
    send_ipi_all_but_self(0x000C4600 | (AP_TRAMPOLINE >> 12)); /* SIPI */
    delay_cycles(1000000);
    send_ipi_all_but_self(0x000C4600 | (AP_TRAMPOLINE >> 12));
  }
  u64 deadline = deadline_after(10);
  while (aps_up < cpus - 1) {
    if (deadline_passed(deadline)) {
      print("PROBE: RESULT FAIL smpexit: %u of %u APs started\n", aps_up, cpus - 1);
      guest_exit(1);
    }
    __asm__ volatile("pause");
  }
  print("SMPEXIT start cpus=%u count=%u\n", cpus, exits_per_cpu);
  go = 1;
  pio_loop();
  while (aps_done < cpus - 1) __asm__ volatile("pause");
  print("SMPEXIT done\n");
  print("PROBE: RESULT PASS smpexit\n");
  guest_exit(0);
}

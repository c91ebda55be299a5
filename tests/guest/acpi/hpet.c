// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * HPET probe, stage 2 (32-bit, flat; booted by SeaBIOS through start.S,
 * whose PIC setup it keeps: IRQ 0 at vector 0x08, IRQ 8 at 0x70). Checks,
 * one "HPET ok NAME ..." or "HPET FAIL NAME ..." line each:
 *   caps      capabilities 0x8086A201, period 10,000,000 fs, 3 timers
 *   counter   the main counter runs only while enabled
 *   pit       the PIT (reprogrammed to ~1 kHz) interrupts on IRQ 0
 *   silent    legacy replacement with timer 0 off: IRQ 0 stops (at most
 *             the few PIT ticks KVM already owed, not 300)
 *   periodic  timer 0, periodic 100 Hz, 32-bit mode, legacy: 50..101 IRQ 0s in a second
 *             and the comparator advanced by exactly the periods passed
 *   oneshot   timer 1, one-shot, legacy: exactly one IRQ 8
 *   rtcgate   the RTC's 1024 Hz periodic interrupt does not reach IRQ 8
 *             while legacy replacement is on, and does again after it
 *   pitback   the PIT interrupts again once legacy replacement is off
 *   level     timer 2, level, route 2: GEN_INT_STATUS bit set, cleared by
 *             writing 1
 * Then it prints '<', waits 100,000,000 counter ticks (one second at
 * 100 MHz) and prints '>' (the host times the two bytes against its clock)
 * and "HPET RESULT PASS|FAIL"; exit code 0 or 1 through port 0x501.
 * Single-threaded; the interrupt handlers only count.
 */
#include "lib.h"

#define HPET 0xFED00000u
#define CAP 0x000
#define CONF 0x010
#define STATUS 0x020
#define COUNTER 0x0F0
#define TCONF(n) (0x100 + 0x20 * (n))
#define TCMP(n) (0x108 + 0x20 * (n))

#define T_LEVEL (1u << 1)
#define T_ENB (1u << 2)
#define T_PERIODIC (1u << 3)
#define T_SETVAL (1u << 6)
#define T_32BIT (1u << 8)

static int failures;
static volatile u32 irq0_count;
static volatile u32 irq8_count;

static u32 hr(u32 reg) {
  return mmio_read32(HPET + reg);
}
static void hw(u32 reg, u32 v) {
  mmio_write32(HPET + reg, v);
}

static void check(int ok, const char* name, const char* fmt_extra, u32 a, u32 b) {
  print(ok ? "HPET ok %s " : "HPET FAIL %s ", name);
  print(fmt_extra, a, b);
  print("\n");
  if (!ok) ++failures;
}

/* ---- interrupts ---- */
struct IdtEntry {
  u16 offset_low;
  u16 selector;
  u8 zero;
  u8 type;
  u16 offset_high;
} __attribute__((packed));
static struct IdtEntry idt[256];
static struct {
  u16 limit;
  u32 base;
} __attribute__((packed)) idt_pointer;

void on_irq0(void) {
  ++irq0_count;
  outb(0x20, 0x20);
}
void on_irq8(void) {
  outb(0x70, 0x0C);
  (void)inb(0x71); /* acknowledge the RTC (register C) */
  ++irq8_count;
  outb(0xA0, 0x20);
  outb(0x20, 0x20);
}
void on_other(void) {
  outb(0xA0, 0x20);
  outb(0x20, 0x20);
}
void irq0_entry(void);
void irq8_entry(void);
void other_entry(void);
/* The handlers return without IRET: this host's software KVM cannot
 * emulate a protected-mode IRET (KVM's emulator handles only real mode's).
 * Same privilege level, so the frame is EIP, CS, EFLAGS: it is rewritten to
 * EFLAGS, EIP and left with POPF; RET (an interrupt between the two nests
 * harmlessly below the EIP). */
#define HANDLER(name, fn)                                \
  ".globl " name "\n" name ":\n pushal\n cld\n call " fn \
  "\n"                                                   \
  " movl 32(%esp), %eax\n movl 40(%esp), %ebx\n"         \
  " movl %eax, 40(%esp)\n movl %ebx, 36(%esp)\n"         \
  " popal\n addl $4, %esp\n popfl\n ret\n"
__asm__(".text\n" HANDLER("irq0_entry", "on_irq0") HANDLER("irq8_entry", "on_irq8")
            HANDLER("other_entry", "on_other"));

static void set_gate(unsigned vector, void (*handler)(void)) {
  const u32 a = (u32)handler;
  idt[vector].offset_low = (u16)a;
  idt[vector].selector = 0x08;
  idt[vector].zero = 0;
  idt[vector].type = 0x8E; /* present, 32-bit interrupt gate */
  idt[vector].offset_high = (u16)(a >> 16);
}

static void setup_interrupts(void) {
  for (unsigned v = 0; v < 256; ++v) set_gate(v, other_entry);
  set_gate(0x08, irq0_entry);
  set_gate(0x70, irq8_entry);
  idt_pointer.limit = sizeof idt - 1;
  idt_pointer.base = (u32)idt;
  __asm__ volatile("lidt %0" : : "m"(idt_pointer));
  outb(0x21, 0xFA); /* master: IRQ 0 and the cascade */
  outb(0xA1, 0xFE); /* slave: IRQ 8 */
}

/* ---- timing on the HPET counter (which runs throughout) ---- */
static void wait_ticks(u32 ticks) {
  const u32 start = hr(COUNTER);
  while (hr(COUNTER) - start < ticks) __asm__ volatile("pause");
}

/* Counts IRQ 0 and IRQ 8 over `ticks` counter ticks, interrupts on. */
static void count_irqs(u32 ticks, u32* irq0, u32* irq8) {
  irq0_count = 0;
  irq8_count = 0;
  __asm__ volatile("sti");
  wait_ticks(ticks);
  __asm__ volatile("cli");
  *irq0 = irq0_count;
  *irq8 = irq8_count;
}

static void pit_rate(u16 divisor) {
  outb(0x43, 0x34); /* channel 0, lo/hi, mode 2 */
  outb(0x40, (u8)divisor);
  outb(0x40, (u8)(divisor >> 8));
}

static void rtc_periodic(int on) {
  outb(0x70, 0x0A);
  outb(0x71, 0x26); /* 32 kHz base, rate 6: 1024 Hz */
  outb(0x70, 0x0B);
  u8 b = inb(0x71);
  outb(0x70, 0x0B);
  outb(0x71, on ? (u8)(b | 0x40) : (u8)(b & ~0x40));
  outb(0x70, 0x0C);
  (void)inb(0x71);
}

void stage2_main(void) {
  serial_init();
  print("HPET probe\n");
  const u32 cap = hr(CAP);
  const u32 period = hr(CAP + 4);
  check(cap == 0x8086A201u && period == 10000000u && ((cap >> 8) & 0x1F) == 2, "caps",
        "id=%x period=%u", cap, period);
  if (failures) { /* no HPET (--hpet off): nothing else to time against */
    print("HPET RESULT FAIL\n");
    outb(0x501, 1);
  }

  hw(CONF, 0);
  hw(COUNTER, 0);
  hw(COUNTER + 4, 0);
  const u32 halted = hr(COUNTER);
  for (volatile int i = 0; i < 100000; ++i) {
  }
  const u32 still = hr(COUNTER);
  hw(CONF, 1);
  wait_ticks(1000);
  const u32 running = hr(COUNTER);
  check(halted == still && running >= 1000, "counter", "halted=%u running=%u", still, running);

  setup_interrupts();
  u32 i0, i8;
  pit_rate(1193);                 /* ~1000 Hz */
  count_irqs(50000000, &i0, &i8); /* 0.5 s */
  check(i0 >= 300 && i0 <= 560, "pit", "irq0=%u irq8=%u", i0, i8);

  hw(CONF, 3); /* legacy replacement, no timer enabled */
  count_irqs(30000000, &i0, &i8);
  /* 300 if the PIT ran on; <= 10: ticks KVM's PIT already owed the guest
   * (its re-injection queue) and an edge in the PIC may still arrive. */
  check(i0 <= 10, "silent", "irq0=%u irq8=%u", i0, i8);

  /* Timer 0 periodic at 100 Hz: SETVAL then comparator (sets it and the
   * period), then the period alone. Interrupts are never more than the
   * periods; some may be lost when the host runs the vCPU late (an edge
   * the PIC already holds is merged: no reinjection, as in QEMU's HPET),
   * so the rate itself is checked on the comparator, which must have
   * advanced by exactly the periods the counter went through. */
  hw(TCONF(0), T_ENB | T_PERIODIC | T_SETVAL | T_32BIT); /* 32-bit comparator */
  const u32 first = hr(COUNTER) + 1000000;
  hw(TCMP(0), first);
  hw(TCMP(0), 1000000);
  count_irqs(100000000, &i0, &i8); /* 1 s */
  const u32 now = hr(COUNTER), cmp = hr(TCMP(0));
  const u32 periods = (now - first) / 1000000 + 1; /* boundaries passed */
  /* The boundary just passed may not have fired yet (host latency). */
  const u32 advanced = (cmp - first) / 1000000;
  check(i0 >= 50 && i0 <= 101 && (cmp - first) % 1000000 == 0 &&
            (advanced == periods || advanced + 1 == periods),
        "periodic", "irq0=%u periods=%u", i0, periods);
  hw(TCONF(0), 0);

  hw(TCONF(1), T_ENB);
  hw(TCMP(1), hr(COUNTER) + 2000000); /* 20 ms */
  count_irqs(10000000, &i0, &i8);
  /* irq0 <= 1: timer 0's last edge may still wait in the PIC. */
  check(i8 == 1 && i0 <= 1, "oneshot", "irq8=%u irq0=%u", i8, i0);
  hw(TCONF(1), 0);

  rtc_periodic(1);
  count_irqs(20000000, &i0, &i8); /* 0.2 s, legacy on */
  const u32 gated = i8;
  hw(CONF, 1);                    /* legacy off */
  count_irqs(20000000, &i0, &i8); /* 0.2 s: ~205 RTC ticks */
  rtc_periodic(0);
  check(gated == 0 && i8 >= 40 && i8 <= 220, "rtcgate", "legacy=%u normal=%u", gated, i8);
  check(i0 >= 100, "pitback", "irq0=%u irq8=%u", i0, 0);

  hw(TCONF(2), T_ENB | T_LEVEL | (2u << 9));
  hw(TCMP(2), hr(COUNTER) + 100000);
  wait_ticks(5000000); /* 50 ms: the host's timer thread may be late */
  const u32 st = hr(STATUS);
  hw(STATUS, 4);
  const u32 cleared = hr(STATUS);
  hw(TCONF(2), 0);
  check((st & 4) && !(cleared & 4), "level", "status=%x after=%x", st, cleared);

  putc_serial('<');
  wait_ticks(100000000);
  putc_serial('>');
  print("\nHPET RESULT %s\n", failures ? "FAIL" : "PASS");
  outb(0x501, failures ? 1 : 0);
  for (;;) __asm__ volatile("hlt");
}

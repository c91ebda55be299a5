// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The probe guest's test=fdc mode (see tests/guest/README.md): what a
 * driver probing the ISA floppy controller at 0x3F0 (IRQ 6) without drives
 * sees. It prints one "FDC name: ..." line per step: CMOS 0x10 and 0x14,
 * the registers 0x3F0-0x3F5 and 0x3F7, a DOR reset (SRA, MSR and the
 * 8259's IRR bit 6 after it), the four SENSE INTERRUPT STATUS answers and
 * the INVALID fifth, VERSION, PART ID, SPECIFY, DUMPREG, CONFIGURE, LOCK
 * and unlock, an invalid opcode, SENSE DRIVE STATUS, SEEK and RECALIBRATE
 * with their interrupts, a READ with no medium, a DSR software reset. Then
 * "FDC DONE" and exit 0 (a controller that never takes a byte: "FDC FAIL
 * what", exit 1). The PIC is initialised first (vectors 0x20/0x28, all
 * masked: IRR still latches), so the lines are the same whether firmware
 * ran before (QEMU's -kernel) or not. No interrupts are taken.
 * Single-threaded guest code.
 */
#include "pci.h"

#define FDC_DOR 0x3F2
#define FDC_MSR 0x3F4
#define FDC_FIFO 0x3F5
#define FDC_DIR 0x3F7
#define MSR_RQM 0x80
#define MSR_DIO 0x40

static u8 cmos(u8 index) {
  outb(0x70, index);
  return inb(0x71);
}

static u8 irr6(void) {
  outb(0x20, 0x0A); /* OCW3: read IRR */
  return (inb(0x20) >> 6) & 1;
}

static void fdc_fail(const char* what) __attribute__((noreturn));
static void fdc_fail(const char* what) {
  print("FDC FAIL %s\n", what);
  guest_exit(1);
}

/* Waits for RQM with DIO as `dio` (0: the FIFO takes a byte; 1: a byte to read). */
static int wait_rqm(u8 dio) {
  for (u32 i = 0; i < 100000; ++i) {
    const u8 msr = inb(FDC_MSR);
    if ((msr & MSR_RQM) && ((msr & MSR_DIO) != 0) == dio) return 1;
  }
  return 0;
}

/* Sends `n` command bytes, then prints the MSR and every result byte. */
static void command(const char* name, const u8* bytes, u32 n) {
  for (u32 i = 0; i < n; ++i) {
    if (!wait_rqm(0)) fdc_fail(name);
    outb(FDC_FIFO, bytes[i]);
  }
  print("FDC %s: msr=%x result", name, inb(FDC_MSR));
  for (u32 i = 0; i < 16 && (inb(FDC_MSR) & (MSR_RQM | MSR_DIO)) == (MSR_RQM | MSR_DIO); ++i)
    print(" %x", inb(FDC_FIFO));
  print(" | msr=%x sra=%x irr6=%u\n", inb(FDC_MSR), inb(0x3F0), irr6());
}

static void sense_interrupts(const char* name, u32 count) {
  static const u8 sense[] = {0x08};
  char label[32];
  for (u32 i = 0; i < count; ++i) {
    u32 k = 0;
    for (const char* p = name; *p && k < sizeof label - 4; ++p) label[k++] = *p;
    label[k++] = '-';
    label[k++] = (char)('0' + i);
    label[k] = 0;
    command(label, sense, 1);
  }
}

void mode_fdc(void) {
  /* 8259 master and slave: ICW1..ICW4, everything masked. */
  outb(0x20, 0x11);
  outb(0x21, 0x20);
  outb(0x21, 0x04);
  outb(0x21, 0x01);
  outb(0x21, 0xFF);
  outb(0xA0, 0x11);
  outb(0xA1, 0x28);
  outb(0xA1, 0x02);
  outb(0xA1, 0x01);
  outb(0xA1, 0xFF);
  print("FDC cmos: 10=%x 14=%x 3d=%x 38=%x irr6=%u\n", cmos(0x10), cmos(0x14) & 0xC1, cmos(0x3D),
        cmos(0x38), irr6());
  print("FDC regs: 3f0=%x 3f1=%x 3f2=%x 3f3=%x 3f4=%x 3f7=%x\n", inb(0x3F0), inb(0x3F1), inb(0x3F2),
        inb(0x3F3), inb(0x3F4), inb(FDC_DIR));

  /* DOR reset: nRESET low, then high with DMA enabled, drive 0. */
  outb(FDC_DOR, 0x00);
  print("FDC in-reset: dor=%x sra=%x\n", inb(FDC_DOR), inb(0x3F0));
  outb(FDC_DOR, 0x0C);
  print("FDC reset: dor=%x sra=%x srb=%x irr6=%u msr=%x\n", inb(FDC_DOR), inb(0x3F0), inb(0x3F1),
        irr6(), inb(FDC_MSR));
  sense_interrupts("sense", 5);

  static const u8 version[] = {0x10};
  command("version", version, 1);
  static const u8 partid[] = {0x18};
  command("partid", partid, 1);
  static const u8 specify[] = {0x03, 0xDF, 0x02};
  command("specify", specify, 3);
  static const u8 dumpreg[] = {0x0E};
  command("dumpreg", dumpreg, 1);
  static const u8 configure[] = {0x13, 0x00, 0x57, 0x00};
  command("configure", configure, 4);
  command("dumpreg2", dumpreg, 1);
  static const u8 lock[] = {0x94};
  command("lock", lock, 1);
  static const u8 unlock[] = {0x14};
  command("unlock", unlock, 1);
  static const u8 invalid[] = {0x01};
  command("invalid", invalid, 1);
  static const u8 sense_drive[] = {0x04, 0x01};
  command("sense-drive", sense_drive, 2);
  static const u8 seek[] = {0x0F, 0x00, 0x05};
  command("seek", seek, 3);
  sense_interrupts("seek-sense", 2);
  static const u8 recalibrate[] = {0x07, 0x00};
  command("recalibrate", recalibrate, 2);
  sense_interrupts("recal-sense", 1);
  static const u8 read[] = {0x46, 0x00, 0x00, 0x00, 0x01, 0x02, 0x12, 0x1B, 0xFF};
  command("read", read, 9);
  sense_interrupts("read-sense", 1);
  print("FDC dir: %x\n", inb(FDC_DIR));

  /* DSR software reset: the controller resets itself and interrupts. */
  outb(FDC_MSR, 0x80);
  print("FDC dsr-reset: dor=%x sra=%x msr=%x\n", inb(FDC_DOR), inb(0x3F0), inb(FDC_MSR));
  sense_interrupts("dsr-sense", 5);
  print("FDC DONE\n");
  guest_exit(0);
}

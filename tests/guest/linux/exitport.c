// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * amber-exit VALUE: writes VALUE to the isa-debug-exit port 0x501 from a
 * Linux guest's userspace (static binary for the test initramfs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>

int main(int argc, char** argv) {
  int value = argc > 1 ? atoi(argv[1]) : 0;
  if (ioperm(0x501, 1, 1) != 0) {
    perror("ioperm");
    return 1;
  }
  outb((unsigned char)value, 0x501);
  return 0;
}

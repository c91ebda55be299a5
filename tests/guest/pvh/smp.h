// SPDX-License-Identifier: GPL-2.0-or-later
/* SMP PIO exit-rate mode (smp.c): never returns. Single caller: the BSP. */
#pragma once

void mode_smp_exits(void) __attribute__((noreturn));

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Amber boot-sector probe: SeaBIOS loads sector 0 at 0x7C00; it loads the
 * next STAGE2_SECTORS sectors with int 13h AH=02h and then exercises the
 * BIOS disk services that SeaBIOS implements on top of the VMM's disk:
 *   AH=41h  extensions present
 *   AH=08h  drive parameters (sectors per track for CHS)
 *   AH=42h  extended read of the host's pattern sector DATA_LBA
 *   AH=02h  CHS read of DATA_LBA+1
 *   AH=43h  extended write of WRITE_LBA, read back with AH=42h, compare
 *   AH=03h  CHS write of WRITE_LBA+1, read back with AH=02h, compare
 * Output goes to COM1 by polled port I/O. The result is reported through
 * the isa-debug-exit port 0x501 (0 = pass, 1 = fail), then it halts; when
 * the byte after the DATA_LBA tag is 'H' it skips the exit port and stays
 * up halted (a VM that keeps running, for the daemon's tests and demo).
 * Booted from a no-emulation El Torito CD (drive 0xE0 and up) it only
 * checks AH=41h and an AH=42h read of the ISO's volume descriptor.
 * When the byte after the stay flag is 'D' (mkdisk.py --dma) it also
 * drives the PIIX3 IDE bus master directly (dma_check below).
 * Disk layout expected from the host (tests/guest/README.md):
 *   DATA_LBA   starts with "AMBERBOOTDATA0"; DATA_LBA+1 with "AMBERBOOTDATA1".
 */
        .code16
        .set    STAGE2_SECTORS, 7
        .set    DATA_LBA, 16
        .set    WRITE_LBA, 32
        .set    COM1, 0x3F8
        .set    RBUF, 0x9000
        .set    WBUF, 0xA000

        .section .text
        .globl  _start
_start:
        cli
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movw    $0x7C00, %sp
        ljmp    $0, $stage1
stage1:
        sti
        cld
        movb    %dl, boot_drive
        movw    $msg_stage1, %si
        call    print
        cmpb    $0xE0, boot_drive       /* a no-emulation El Torito CD */
        jae     cd_mode
        /* Load stage 2: CHS (0,0,2), STAGE2_SECTORS sectors, to 0x7E00. */
        movw    $0x0200 + STAGE2_SECTORS, %ax
        movw    $0x0002, %cx
        movb    $0, %dh
        movb    boot_drive, %dl
        movw    $0x7E00, %bx
        int     $0x13
        jc      stage1_fail
        jmp     stage2

stage1_fail:
        movw    $msg_fail_load, %si
        jmp     fail

/* print: NUL-terminated string at %si to COM1. Clobbers %ax, %dx, %si. */
print:
        lodsb
        testb   %al, %al
        jz      2f
        movb    %al, %ah
        movw    $COM1 + 5, %dx
1:      inb     %dx, %al
        testb   $0x20, %al
        jz      1b
        movw    $COM1, %dx
        movb    %ah, %al
        outb    %al, %dx
        jmp     print
2:      ret

/* fail: print "BOOT: RESULT FAIL " + %si, exit with 1. */
fail:
        pushw   %si
        movw    $msg_result_fail, %si
        call    print
        popw    %si
        call    print
        movw    $msg_nl, %si
        call    print
        movb    $1, %al
        jmp     do_exit
pass:
        movw    $msg_result_pass, %si
        call    print
        movb    $0, %al
do_exit:
        cmpb    $0x48, stay_flag        /* 'H': stay up, do not exit */
        je      4f
        movw    $0x501, %dx
        outb    %al, %dx
4:      movw    $msg_halt, %si
        call    print
3:      cli
        hlt
        jmp     3b

boot_drive:     .byte 0
stay_flag:      .byte 0
dma_flag:       .byte 0
bm_base:        .word 0
msg_stage1:     .asciz "BOOT: stage1 loaded by BIOS\r\n"
msg_fail_load:  .asciz "stage2 load (int13 AH=02)"
msg_result_fail: .asciz "BOOT: RESULT FAIL "
msg_result_pass: .asciz "BOOT: RESULT PASS\r\n"
msg_halt:       .asciz "BOOT: halted\r\n"
msg_nl:         .asciz "\r\n"

        .org    510
        .byte   0x55, 0xAA

/* ---- stage 2 (sectors 1..STAGE2_SECTORS) ---- */
stage2:
        movw    $msg_stage2, %si
        call    print
        /* AH=41h: extensions present? */
        movb    $0x41, %ah
        movw    $0x55AA, %bx
        movb    boot_drive, %dl
        int     $0x13
        jc      no_ext
        cmpw    $0xAA55, %bx
        jne     no_ext
        movw    $msg_ext, %si
        call    print
        /* AH=08h: geometry; keep sectors per track (CL bits 0-5). */
        movb    $0x08, %ah
        movb    boot_drive, %dl
        xorw    %di, %di
        int     $0x13
        jc      no_geom
        andb    $0x3F, %cl
        movb    %cl, spt
        cmpb    $WRITE_LBA + 2, %cl
        jb      no_geom
        movw    $msg_geom, %si
        call    print

        /* AH=42h: extended read DATA_LBA into RBUF, compare with tag 0. */
        movw    $DATA_LBA, dap_lba
        movw    $RBUF, dap_buf
        movb    $0x42, %ah
        call    ext_io
        jc      ext_read_fail
        movw    $tag_data0, %si
        movw    $RBUF, %di
        call    compare_tag
        jne     ext_read_mismatch
        movb    RBUF + 14, %al          /* byte after tag 0: 'H' = stay up */
        movb    %al, stay_flag
        movb    RBUF + 15, %al          /* next byte: 'D' = bus-master DMA check */
        movb    %al, dma_flag
        movw    $msg_ext_read, %si
        call    print

        /* AH=02h: CHS read of DATA_LBA+1 (cyl 0, head 0, sector LBA+1). */
        call    clear_rbuf
        movw    $0x0201, %ax
        movw    $DATA_LBA + 2, %cx
        movb    $0, %dh
        movb    boot_drive, %dl
        movw    $RBUF, %bx
        int     $0x13
        jc      chs_read_fail
        movw    $tag_data1, %si
        movw    $RBUF, %di
        call    compare_tag
        jne     chs_read_mismatch
        movw    $msg_chs_read, %si
        call    print

        /* AH=43h: extended write of WRITE_LBA from WBUF, read back. */
        movw    $tag_write0, %si
        call    make_wbuf
        movw    $WRITE_LBA, dap_lba
        movw    $WBUF, dap_buf
        movw    $0x4300, %ax
        call    ext_io
        jc      ext_write_fail
        call    clear_rbuf
        movw    $RBUF, dap_buf
        movb    $0x42, %ah
        call    ext_io
        jc      ext_read_fail
        call    compare_sector
        jne     ext_write_mismatch
        movw    $msg_ext_write, %si
        call    print

        /* AH=03h: CHS write of WRITE_LBA+1, read back with AH=02h. */
        movw    $tag_write1, %si
        call    make_wbuf
        movw    $0x0301, %ax
        movw    $WRITE_LBA + 2, %cx
        movb    $0, %dh
        movb    boot_drive, %dl
        movw    $WBUF, %bx
        int     $0x13
        jc      chs_write_fail
        call    clear_rbuf
        movw    $0x0201, %ax
        movw    $WRITE_LBA + 2, %cx
        movb    $0, %dh
        movb    boot_drive, %dl
        movw    $RBUF, %bx
        int     $0x13
        jc      chs_read_fail
        call    compare_sector
        jne     chs_write_mismatch
        movw    $msg_chs_write, %si
        call    print
        cmpb    $0x44, dma_flag
        jne     pass
        call    dma_check
        jmp     pass

/* dma_check: drives the PIIX3 IDE bus master (00:01.1 BAR4) directly, as
 * a DMA driver does (SeaBIOS itself uses PIO): READ DMA of DATA_LBA into
 * DMABUF through a one-entry PRD table, compared with tag 0; then a table
 * of 256 + 128 bytes for a 512-byte read, which must not complete (Amber:
 * ATA ERR/ABRT and the bus-master error bit; QEMU: Active cleared, no data). */
        .set    PRDT, 0xC000
        .set    DMABUF, 0xB000
dma_check:
        movl    $0x80000920, %eax       /* 00:01.1 offset 0x20: BAR4 */
        movw    $0xCF8, %dx
        outl    %eax, %dx
        movw    $0xCFC, %dx
        inl     %dx, %eax
        andw    $0xFFFC, %ax
        jz      dma_no_bar
        movw    %ax, bm_base
        movl    $0x80000904, %eax       /* COMMAND: I/O + bus master */
        movw    $0xCF8, %dx
        outl    %eax, %dx
        movw    $0xCFC, %dx
        inw     %dx, %ax
        orw     $0x0005, %ax
        outw    %ax, %dx
        /* Good table: 512 bytes at DMABUF, end of table. */
        movl    $DMABUF, PRDT
        movl    $0x80000200, PRDT + 4
        call    dma_read
        testb   $0x01, %al              /* ATA ERR */
        jnz     dma_failed
        testb   $0x02, %ah              /* bus-master error */
        jnz     dma_failed
        movw    $tag_data0, %si
        movw    $DMABUF, %di
        call    compare_tag
        jne     dma_mismatch
        movw    $msg_dma, %si
        call    print
        /* Short table: 256 bytes, then 128 with the end bit. */
        movl    $DMABUF, PRDT
        movl    $0x00000100, PRDT + 4
        movl    $DMABUF + 0x100, PRDT + 8
        movl    $0x80000080, PRDT + 12
        call    dma_read
        testb   $0x01, %al              /* ATA ERR: refused */
        jnz     1f
        testb   $0x02, %ah              /* bus-master error: refused */
        jnz     1f
        movw    $tag_data0, %si         /* QEMU: no error, but nothing moved */
        movw    $DMABUF, %di
        call    compare_tag
        je      dma_short_ok
1:      movw    $msg_dma_short, %si
        call    print
        ret
dma_no_bar:     movw $f_dma_bar, %si;           jmp fail
dma_failed:     movw $f_dma, %si;               jmp fail
dma_mismatch:   movw $f_dma_mm, %si;            jmp fail
dma_short_ok:   movw $f_dma_short, %si;         jmp fail

/* dma_read: READ DMA of 1 sector at DATA_LBA through PRDT, waits for the
 * bus master's Active bit to clear. Returns the ATA status in %al and the
 * bus-master status in %ah. */
dma_read:
        movw    $DMABUF, %di            /* poison the buffer */
        movw    $256, %cx
        movw    $0xEEEE, %ax
        rep stosw
        movw    bm_base, %dx
        xorb    %al, %al
        outb    %al, %dx                /* stop */
        addw    $2, %dx
        movb    $0x06, %al              /* clear interrupt + error */
        outb    %al, %dx
        addw    $2, %dx
        movl    $PRDT, %eax
        outl    %eax, %dx
        movw    $0x1F7, %dx
1:      inb     %dx, %al
        testb   $0x80, %al
        jnz     1b
        movw    $0x1F6, %dx
        movb    $0xE0, %al
        outb    %al, %dx
        movw    $0x1F2, %dx
        movb    $1, %al
        outb    %al, %dx
        incw    %dx
        movb    $DATA_LBA, %al
        outb    %al, %dx
        incw    %dx
        xorb    %al, %al
        outb    %al, %dx
        incw    %dx
        outb    %al, %dx
        movw    $0x1F7, %dx
        movb    $0xC8, %al              /* READ DMA */
        outb    %al, %dx
        movw    bm_base, %dx
        movb    $0x09, %al              /* start, device to memory */
        outb    %al, %dx
        movw    bm_base, %dx
        addw    $2, %dx
        movl    $0x100000, %ecx         /* SeaBIOS set nIEN: poll Active */
2:      inb     %dx, %al
        testb   $0x01, %al
        jz      3f
        loopl   2b
3:      movb    %al, %ah
        movw    bm_base, %dx
        xorb    %al, %al
        outb    %al, %dx                /* stop */
        movw    $0x1F7, %dx
        inb     %dx, %al
        ret

/* CD mode (SeaBIOS numbers no-emulation CDs from 0xE0; the El Torito
 * load size brought all 8 sectors in): AH=41h, then an AH=42h read of
 * 2048-byte block 16, the ISO 9660 primary volume descriptor. */
cd_mode:
        movw    $msg_cd, %si
        call    print
        movb    $0x41, %ah
        movw    $0x55AA, %bx
        movb    boot_drive, %dl
        int     $0x13
        jc      no_ext
        cmpw    $0xAA55, %bx
        jne     no_ext
        movw    $msg_ext, %si
        call    print
        movw    $16, dap_lba
        movw    $RBUF, dap_buf
        movb    $0x42, %ah
        call    ext_io
        jc      ext_read_fail
        movw    $tag_cd001, %si
        movw    $RBUF + 1, %di
        call    compare_tag
        jne     ext_read_mismatch
        movw    $msg_cd_read, %si
        call    print
        jmp     pass

no_ext:         movw $f_no_ext, %si;            jmp fail
no_geom:        movw $f_no_geom, %si;           jmp fail
ext_read_fail:  movw $f_ext_read, %si;          jmp fail
ext_read_mismatch: movw $f_ext_read_mm, %si;    jmp fail
chs_read_fail:  movw $f_chs_read, %si;          jmp fail
chs_read_mismatch: movw $f_chs_read_mm, %si;    jmp fail
ext_write_fail: movw $f_ext_write, %si;         jmp fail
ext_write_mismatch: movw $f_ext_write_mm, %si;  jmp fail
chs_write_fail: movw $f_chs_write, %si;         jmp fail
chs_write_mismatch: movw $f_chs_write_mm, %si;  jmp fail

/* ext_io: int 13h with %ah (and %al for 43h) using dap. CF on error. */
ext_io:
        movb    boot_drive, %dl
        movw    $dap, %si
        int     $0x13
        ret

/* compare_tag: compare NUL-terminated %si with bytes at %di. ZF=1 if equal. */
compare_tag:
1:      movb    (%si), %al
        testb   %al, %al
        jz      2f
        cmpb    (%di), %al
        jne     3f
        incw    %si
        incw    %di
        jmp     1b
2:      cmpb    %al, %al
3:      ret

/* compare_sector: 512 bytes at RBUF vs WBUF. ZF=1 if equal. */
compare_sector:
        xorw    %bx, %bx
1:      movb    RBUF(%bx), %al
        cmpb    WBUF(%bx), %al
        jne     2f
        incw    %bx
        cmpw    $512, %bx
        jb      1b
        cmpb    %al, %al
2:      ret

/* make_wbuf: WBUF = tag %si then bytes (i*7+0x5A) up to 512. */
make_wbuf:
        xorw    %bx, %bx
1:      movb    %bl, %al
        movb    $7, %cl
        mulb    %cl
        addb    $0x5A, %al
        movb    %al, WBUF(%bx)
        incw    %bx
        cmpw    $512, %bx
        jb      1b
        xorw    %bx, %bx
2:      movb    (%si), %al
        testb   %al, %al
        jz      3f
        movb    %al, WBUF(%bx)
        incw    %si
        incw    %bx
        jmp     2b
3:      ret

clear_rbuf:
        xorw    %bx, %bx
1:      movb    $0xEE, RBUF(%bx)
        incw    %bx
        cmpw    $512, %bx
        jb      1b
        ret

        .p2align 2
dap:
        .byte   0x10, 0
        .word   1           /* sectors */
dap_buf:
        .word   RBUF, 0     /* offset, segment */
dap_lba:
        .long   0, 0
spt:    .byte   0

msg_stage2:     .asciz "BOOT: stage2 loaded with int13 AH=02\r\n"
msg_ext:        .asciz "BOOT: int13 extensions present\r\n"
msg_geom:       .asciz "BOOT: int13 AH=08 geometry ok\r\n"
msg_ext_read:   .asciz "BOOT: int13 AH=42 read ok\r\n"
msg_chs_read:   .asciz "BOOT: int13 AH=02 read ok\r\n"
msg_ext_write:  .asciz "BOOT: int13 AH=43 write/read ok\r\n"
msg_chs_write:  .asciz "BOOT: int13 AH=03 write/read ok\r\n"
msg_dma:        .asciz "BOOT: bus-master DMA read ok\r\n"
msg_dma_short:  .asciz "BOOT: bus-master DMA short PRD table refused\r\n"
f_dma_bar:      .asciz "no PIIX3 IDE BAR4"
f_dma:          .asciz "bus-master DMA read error"
f_dma_mm:       .asciz "bus-master DMA data mismatch"
f_dma_short:    .asciz "a short PRD table did not fail"
msg_cd:         .asciz "BOOT: cdrom mode\r\n"
msg_cd_read:    .asciz "BOOT: int13 AH=42 cdrom read ok (CD001)\r\n"
tag_cd001:      .asciz "CD001"
tag_data0:      .asciz "AMBERBOOTDATA0"
tag_data1:      .asciz "AMBERBOOTDATA1"
tag_write0:     .asciz "AMBERBOOTWRITE0"
tag_write1:     .asciz "AMBERBOOTWRITE1"
f_no_ext:       .asciz "int13 AH=41 extensions missing"
f_no_geom:      .asciz "int13 AH=08 geometry (or fewer than 34 sectors/track)"
f_ext_read:     .asciz "int13 AH=42 read error"
f_ext_read_mm:  .asciz "int13 AH=42 data mismatch"
f_chs_read:     .asciz "int13 AH=02 read error"
f_chs_read_mm:  .asciz "int13 AH=02 data mismatch"
f_ext_write:    .asciz "int13 AH=43 write error"
f_ext_write_mm: .asciz "int13 AH=43 read-back mismatch"
f_chs_write:    .asciz "int13 AH=03 write error"
f_chs_write_mm: .asciz "int13 AH=03 read-back mismatch"

        .org    512 * (1 + STAGE2_SECTORS)

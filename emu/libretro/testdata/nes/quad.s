; quad.s - couchplay NES input/audio/SRAM test ROM (NROM-128, battery PRG RAM).
;
; Screen is split into four quadrants, one per player. Quadrant N shows
; black until player N holds A, then it shows that player's colour and the
; player's tone plays. Controllers are read through the Four Score protocol.
; Each reset increments a boot counter in battery-backed RAM at $6004.
;
; Build: ca65 quad.s -o quad.o && ld65 -C nes.cfg quad.o -o quad.nes

PPUCTRL   = $2000
PPUMASK   = $2001
PPUSTATUS = $2002
PPUSCROLL = $2005
PPUADDR   = $2006
PPUDATA   = $2007
JOY1      = $4016
JOY2      = $4017

SRAM_SIG  = $6000           ; "CPLY", offset 0 of the .srm
SRAM_BOOT = $6004           ; boot counter, offset 4 of the .srm

BLACK     = $0F
; Lit colours (NES master palette indices), one per quadrant.
COL_P1    = $16             ; red
COL_P2    = $2A             ; green
COL_P3    = $21             ; light blue
COL_P4    = $28             ; yellow

; ---------------------------------------------------------------------------
.segment "HEADER"
    .byte "NES", $1A
    .byte 1                 ; 1 x 16 KiB PRG
    .byte 1                 ; 1 x 8 KiB CHR
    .byte %00000010         ; mapper 0, horizontal mirroring, battery at $6000
    .byte 0                 ; mapper 0 high nibble, plain iNES
    .byte 0, 0, 0, 0, 0, 0, 0, 0

; ---------------------------------------------------------------------------
.segment "ZEROPAGE"
pads:   .res 4              ; P1..P4, bit 7 = A (first bit read)
sig:    .res 2              ; Four Score signatures seen on $4016 / $4017
held:   .res 1              ; bit n set = player n+1 holds A (debug aid)
tmp:    .res 1

; ---------------------------------------------------------------------------
.segment "CODE"

reset:
    sei
    cld
    ldx #$FF
    txs
    inx                     ; X = 0
    stx PPUCTRL             ; no NMI yet
    stx PPUMASK             ; rendering off while we fill VRAM
    stx $4010               ; no DMC IRQ
    lda #$40
    sta $4017               ; (write = APU frame counter) 4-step, no IRQ

    bit PPUSTATUS           ; clear stale vblank flag
@vb1:
    bit PPUSTATUS           ; PPU needs ~2 frames before it accepts writes
    bpl @vb1

    ; clear internal RAM
    lda #0
@clr:
    sta $0000,x
    sta $0100,x
    sta $0200,x
    sta $0300,x
    sta $0400,x
    sta $0500,x
    sta $0600,x
    sta $0700,x
    inx
    bne @clr

    jsr boot_counter
    jsr apu_init

@vb2:
    bit PPUSTATUS
    bpl @vb2

    ; nametable 0: every tile is tile 1 (solid colour 1), so a quadrant's
    ; visible colour is entry 1 of whatever background palette it uses.
    lda #$20
    sta PPUADDR
    lda #$00
    sta PPUADDR
    lda #1
    ldx #0
    ldy #4                  ; 4 * 240 = 960 tiles
@nt:
    sta PPUDATA
    inx
    cpx #240
    bne @nt
    ldx #0
    dey
    bne @nt

    ; attribute table: 8x8 bytes, each covering 32x32 px. Byte columns 0-3
    ; are the left half, 4-7 the right; rows 0-3 the top (tile rows 0-15),
    ; rows 4-7 the bottom. So the horizontal split is at y = 128 (attribute
    ; granularity is 16 px, 120 is not reachable).
    ldy #0
@at:
    tya
    and #%00000100          ; right half?
    beq :+
    lda #1
:   sta tmp                 ; tmp = column bit (0/1)
    tya
    and #%00100000          ; bottom half?
    beq :+
    lda #2
:   ora tmp                 ; palette number 0..3 = quadrant - 1
    tax
    lda attr_fill,x
    sta PPUDATA
    iny
    cpy #64
    bne @at

    jsr write_palette       ; all black to start

@vb3:
    bit PPUSTATUS
    bpl @vb3
    jsr set_scroll
    lda #%00001010          ; show background, incl. leftmost 8 px; no sprites
    sta PPUMASK
    lda #%10000000          ; NMI on, bg pattern table $0000, nametable $2000
    sta PPUCTRL

forever:
    jmp forever             ; all work is done in NMI

; ---------------------------------------------------------------------------
; Battery RAM: sign it on first boot, then count boots.
boot_counter:
    ldx #3
@chk:
    lda SRAM_SIG,x
    cmp signature,x
    bne @fresh
    dex
    bpl @chk
    bmi @inc
@fresh:
    ldx #3
@wr:
    lda signature,x
    sta SRAM_SIG,x
    dex
    bpl @wr
    lda #0
    sta SRAM_BOOT
@inc:
    inc SRAM_BOOT
    rts

signature:
    .byte "CPLY"

; ---------------------------------------------------------------------------
; APU: program pitches once (writing $4003/$4007/$400B/$400F restarts the
; waveform and would click if done every frame); per frame only volumes /
; the triangle linear counter are touched.
apu_init:
    lda #%00001111          ; enable pulse 1, pulse 2, triangle, noise
    sta $4015               ; (must precede the length-counter loads below)

    lda #$B0                ; pulse 1: 50% duty, halt length, const vol 0
    sta $4000
    lda #$08                ; sweep off (negate set: never mutes)
    sta $4001
    lda #<253               ; 1789773 / (16 * 254) = 440.4 Hz
    sta $4002
    lda #>253
    sta $4003

    lda #$B0                ; pulse 2
    sta $4004
    lda #$08
    sta $4005
    lda #<168               ; 1789773 / (16 * 169) = 661.9 Hz
    sta $4006
    lda #>168
    sta $4007

    lda #$80                ; triangle: control set, linear reload 0 = silent
    sta $4008
    lda #<253               ; 1789773 / (32 * 254) = 220.2 Hz
    sta $400A
    lda #>253
    sta $400B

    lda #$30                ; noise: halt length, const vol 0
    sta $400C
    lda #$04                ; period index 4, white-noise mode
    sta $400E
    lda #$08
    sta $400F
    rts

; ---------------------------------------------------------------------------
; NMI: read pads first, then upload the palette while still in vblank,
; so the screen reflects input read in this same vblank.
nmi:
    pha
    txa
    pha
    tya
    pha

    jsr read_pads
    jsr write_palette
    jsr set_scroll
    jsr update_sound

    pla
    tay
    pla
    tax
    pla
    rti

; Four Score: after one strobe, each port returns 24 bits: own pad (8),
; second pad on that side (8), signature (8). Signatures are $10 on $4016
; and $20 on $4017 (bits shifted in MSB-first, as below). Without a Four
; Score, a standard pad returns 1s after 8 reads, which would fake "P3/P4
; hold everything", so P3/P4 only count if the signature matched.
read_pads:
    lda #1
    sta JOY1
    lda #0
    sta JOY1
    ldx #0
@p1:                        ; pads[0]=P1, pads[2]=P3, sig[0]
    jsr read_joy1
    sta pads,x
    inx
    inx
    cpx #4
    bne @p1
    jsr read_joy1
    sta sig

    ldx #1
@p2:                        ; pads[1]=P2, pads[3]=P4, sig[1]
    jsr read_joy2
    sta pads,x
    inx
    inx
    cpx #5
    bne @p2
    jsr read_joy2
    sta sig+1

    lda sig
    cmp #$10
    beq :+
    lda #0
    sta pads+2
:   lda sig+1
    cmp #$20
    beq :+
    lda #0
    sta pads+3
:
    ; held: bit n set = player n+1 holds A
    lda #0
    sta held
    ldx #3
@h:
    lda pads,x
    asl a                   ; carry = A button
    rol held                ; P4 first, so P1 ends in bit 0
    dex
    bpl @h
    rts

read_joy1:
    ldy #8
    lda #0
    sta tmp
:   lda JOY1
    lsr a                   ; data on D0
    rol tmp                 ; first bit read ends in bit 7
    dey
    bne :-
    lda tmp
    rts

read_joy2:
    ldy #8
    lda #0
    sta tmp
:   lda JOY2
    lsr a
    rol tmp
    dey
    bne :-
    lda tmp
    rts

; Palette $3F00-$3F0F: everything black except entry 1 of bg palette N,
; which becomes player N+1's colour while that player holds A.
write_palette:
    bit PPUSTATUS
    lda #$3F
    sta PPUADDR
    lda #$00
    sta PPUADDR
    ldx #0
@q:
    lda #BLACK
    sta PPUDATA             ; entry 0 (backdrop / unused mirror)
    lda held
    and bit_of,x
    beq @dark
    lda lit_col,x
    bne @put                ; colours are non-zero: always taken
@dark:
    lda #BLACK
@put:
    sta PPUDATA             ; entry 1: the quadrant colour
    lda #BLACK
    sta PPUDATA
    sta PPUDATA
    inx
    cpx #4
    bne @q
    rts

set_scroll:
    bit PPUSTATUS
    lda #0
    sta PPUSCROLL
    sta PPUSCROLL
    lda #%10000000
    sta PPUCTRL
    rts

; Volumes only; see apu_init.
update_sound:
    ldx #3
@ch:
    lda held
    and bit_of,x
    beq :+
    lda snd_on,x
    bne @set                ; all "on" values are non-zero
:   lda snd_off,x
@set:
    ldy snd_reg,x
    sta $4000,y
    dex
    bpl @ch
    rts

; per player: register (offset from $4000) and its on/off values
snd_reg:   .byte $00, $04, $08, $0C   ; pulse 1, pulse 2, triangle, noise
snd_on:    .byte $BF, $BF, $FF, $3F   ; volume 15 / linear counter 127
snd_off:   .byte $B0, $B0, $80, $30   ; volume 0 / linear counter 0

irq:
    rti

bit_of:    .byte $01, $02, $04, $08
lit_col:   .byte COL_P1, COL_P2, COL_P3, COL_P4
attr_fill: .byte $00, $55, $AA, $FF   ; all four 16x16 cells use palette n

; ---------------------------------------------------------------------------
.segment "VECTORS"
    .word nmi, reset, irq

; ---------------------------------------------------------------------------
.segment "CHARS"
    .res 16, $00            ; tile 0: blank
    .res 8, $FF             ; tile 1: plane 0 all set ...
    .res 8, $00             ; ... plane 1 clear -> every pixel colour 1

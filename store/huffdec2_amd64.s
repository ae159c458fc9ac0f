//go:build amd64 && !purego

#include "textflag.h"

// func decodePair2BMI2(st *dec2State, pa, pb *byte, ta, tb *[2048]uint32, da, db *byte)
//
// The static codec's decoding loop with two-symbol tables (staticCodes.dec2:
// an 11-bit lookup yields the next code's symbol and, when the code after
// it fits in the same 11 bits, that one's too). Entries' bytes: symbol 1,
// symbol 2, bits taken (128 for an escaped code), symbols. Per step, 5
// lookups in each stream from one 64-bit load (at most 55 bits); the
// streams advance their outputs at their own pace (st.iA, st.iB). A step
// starts only where both outputs have 10 bytes left (st.last) and both
// streams 8 bytes to load (st.limA, limB); a step with an escaped code is
// undone and left to Go. Registers: R10/R11 bit positions, R12/R13 the
// loaded bits, R14/R15 the output pointers, DX the OR of the bits taken
// (bit 7: an escape; an escape's shift by 128 is by 0 and its position is
// undone).

// SYM2 decodes one lookup: writes its two bytes (the second may be
// rewritten by the next lookup) and moves OUT on by its symbols.
#define SYM2(T, BITS, OUT, POS) \
	MOVQ    BITS, AX; \
	ANDL    $0x7ff, AX; \
	MOVBLZX 2(T)(AX*4), CX; \
	MOVBLZX 3(T)(AX*4), BX; \
	MOVWLZX (T)(AX*4), AX; \
	MOVW    AX, (OUT); \
	ORL     CX, DX; \
	SHRXQ   CX, BITS, BITS; \
	ADDQ    CX, POS; \
	ADDQ    BX, OUT

#define STEPA SYM2(R8, R12, R14, R10)
#define STEPB SYM2(R9, R13, R15, R11)

TEXT ·decodePair2BMI2(SB), NOSPLIT, $48-56
	MOVQ st+0(FP), AX
	MOVQ 0(AX), R10            // posA
	MOVQ 8(AX), R11            // posB
	MOVQ pa+8(FP), R14
	ADDQ 32(AX), R14           // + iA
	MOVQ pb+16(FP), R15
	ADDQ 40(AX), R15           // + iB
	MOVQ ta+24(FP), R8
	MOVQ tb+32(FP), R9
	MOVQ da+40(FP), SI
	MOVQ db+48(FP), DI
	MOVQ pa+8(FP), CX
	ADDQ 48(AX), CX
	MOVQ CX, lastA-40(SP)      // pa + last
	MOVQ pb+16(FP), CX
	ADDQ 48(AX), CX
	MOVQ CX, lastB-48(SP)

step:
	CMPQ R14, lastA-40(SP)
	JA   done
	CMPQ R15, lastB-48(SP)
	JA   done
	MOVQ st+0(FP), AX
	MOVQ R10, CX
	SHRQ $3, CX
	CMPQ CX, 16(AX)            // limA
	JG   done
	MOVQ R11, DX
	SHRQ $3, DX
	CMPQ DX, 24(AX)            // limB
	JG   done
	MOVQ R10, sa-8(SP)
	MOVQ R11, sb-16(SP)
	MOVQ R14, oa-24(SP)
	MOVQ R15, ob-32(SP)
	MOVQ (SI)(CX*1), R12
	MOVQ R10, CX
	ANDQ $7, CX
	SHRXQ CX, R12, R12
	MOVQ (DI)(DX*1), R13
	MOVQ R11, CX
	ANDQ $7, CX
	SHRXQ CX, R13, R13
	XORL DX, DX
	STEPA
	STEPB
	STEPA
	STEPB
	STEPA
	STEPB
	STEPA
	STEPB
	STEPA
	STEPB
	TESTL $0x80, DX
	JZ    step
	MOVQ sa-8(SP), R10
	MOVQ sb-16(SP), R11
	MOVQ oa-24(SP), R14
	MOVQ ob-32(SP), R15

done:
	MOVQ st+0(FP), AX
	MOVQ R10, 0(AX)
	MOVQ R11, 8(AX)
	SUBQ pa+8(FP), R14
	MOVQ R14, 32(AX)
	SUBQ pb+16(FP), R15
	MOVQ R15, 40(AX)
	RET

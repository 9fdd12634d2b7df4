! Loads and stores through versioned pointers (%o0: version 0 at +0, %o1: version 1 at +1 KiB ...)
	ldx [%o0], %g2
	ldx [%o1], %g3
	stx %g3, [%o2]
	stx %g3, [%o1]
	ldxa [%o0] 0x90, %g4
	stxa %g4, [%o1] 0x90
	stxa %g4, [%o2] 0x92
	membar #Sync
	.word 0x83438000   ! rd %asr14, %g1
	.word 0x9d802000   ! wr %g0, 0, %asr14 (imprecise stores)
	stx %g3, [%o4]
	ldub [%l0 + 1023], %g5
	sth %g5, [%l1 + 1025]
	casx [%l2], %g3, %g4
	ldstub [%l4], %g5
	swap [%l5], %g5
	ldda [%l6] 0xe2, %o4
	prefetch [%i0], 0

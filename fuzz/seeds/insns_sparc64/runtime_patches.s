! Words Unicorn 2.1.5 runs wrong or crashes on, in run-time code: tagmmu patches them in a
! shadow copy of the page as it does in the image's text (src/emu/sparc64/runtime_code.rs).
	.word 0x12c00040	! cwbe %g0, %g0, .+8 (T4 CBcond, emulated: taken)
	illtrap 1		! skipped by the CBcond
	.word 0x00c67300	! BPr with the reserved rcond 000: SIGILL (crashed the host)
	.word 0x81780000	! MOVr with the reserved rcond 000: SIGILL
	.word 0x81a800a0	! FMOVRs with the reserved rcond 000: SIGILL
	ldda [%l6] 0xe2, %f62	! LDDFA through a twin ASI: SIGILL (aborted the host)
	ldxa [%o1] 0x90, %g4	! the version of %o1's block (emulated)
	stxa %g4, [%o1] 0x90	! back again
	ldx [%o1], %g2		! %o1 carries version 2 over a version-1 block: SEGV

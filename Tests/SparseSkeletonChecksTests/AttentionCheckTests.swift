import SparseSkeletonChecks
import SparseSkeletonCUDA
import Testing

/// gpu-check's whole default matrix (132 cases; the CLI's captured-layer cases need --qk-dir data),
/// one test case each; serialized: one GPU, and the kernel cache is shared.
@Suite(.serialized) struct AttentionCheckTests {
    @Test("every attention kernel variant vs the CPU reference", arguments: AttentionCheck.cases)
    func kernelMatchesReference(_ c: AttentionCheck.Case) throws {
        guard let session = GPUSession.forTest("attention check \(c)") else { return }
        let r = try AttentionCheck.run(c, session: session, seed: 7)
        #expect(r.nanCount == 0 && r.unwrittenLSE == 0, "NaN or unwritten outputs: \(r.nanCount) O, \(r.unwrittenLSE) LSE")
        #expect(r.relError <= c.tolerance, "relative error \(r.relError) over \(c.tolerance)")
        #expect(r.lseMaxAbsError <= AttentionCheck.lseTolerance, "LSE error \(r.lseMaxAbsError)")
        #expect((r.fullVsDenseMismatches ?? 0) == 0, "full-mask run differs from dense in \(r.fullVsDenseMismatches ?? 0) elements")
        #expect((r.queueVsStaticMismatches ?? 0) == 0, "work-queue run differs from the static order in \(r.queueVsStaticMismatches ?? 0) elements")
        #expect(r.ok)
    }

    @Test("the default matrix has gpu-check's 132 random-input cases, 48 of them the hopper kernel's (22 paired, 2 with the item overlap, 4 in L2 sections)")
    func caseCount() {
        #expect(AttentionCheck.cases.count == 132)
        #expect(AttentionCheck.cases.filter { $0.traits.family == .hopper }.count == 48)
        #expect(AttentionCheck.cases.filter { $0.traits.pairedKeyTiles }.count == 22)
        #expect(AttentionCheck.cases.filter { $0.headSection != nil }.count == 4)
        #expect(AttentionCheck.cases.filter { $0.traits.itemOverlap }.count == 2)
    }
}

/// gpu-check's FP8 cases: the quantiser byte for byte against its CPU twin, the FP8 kernel against the reference on
/// the dequantised inputs, one test case each.
@Suite(.serialized) struct FP8CheckTests {
    @Test("FP8 quantiser and kernel vs the CPU references", arguments: FP8Check.cases)
    func fp8KernelMatchesReference(_ c: FP8Check.Case) throws {
        guard let session = GPUSession.forTest("FP8 check \(c)") else { return }
        let r = try FP8Check.run(c, session: session, seed: 13)
        #expect(r.codeMismatches == 0 && r.scaleMismatches == 0, "quantiser: \(r.codeMismatches) codes, \(r.scaleMismatches) scales differ")
        #expect(r.nanCount == 0 && r.unwrittenLSE == 0, "NaN or unwritten outputs: \(r.nanCount) O, \(r.unwrittenLSE) LSE")
        #expect(r.relError <= c.tolerance, "relative error \(r.relError) over \(c.tolerance)")
        #expect(r.lseMaxAbsError <= FP8Check.lseTolerance, "LSE error \(r.lseMaxAbsError)")
        #expect((r.fullVsDenseMismatches ?? 0) == 0 && r.queueVsStaticMismatches == 0)
        #expect(r.ok)
    }

    @Test("the FP8 matrix: bf16 and fp16 inputs, MHA and GQA (group 4 too), full and sparse, capped grids, flat rows")
    func caseCount() {
        #expect(FP8Check.cases.count == 16)
        #expect(Set(FP8Check.cases.map(\.kvHeads)) == [4, 2, 1])
        #expect(FP8Check.cases.contains { $0.gridCap != nil } && FP8Check.cases.contains { $0.scale < 1 })
        #expect(FP8Check.cases.allSatisfy { $0.traits.fp8 && $0.tokens % 128 != 0 })
    }
}

/// gpu-check's windowed / scaled cases (windows 512 and 4096, a non-default scale; float64
/// reference on sampled rows), one test case each.
@Suite(.serialized) struct AttentionSpecCheckTests {
    @Test("windowed and scaled attention vs the float64 reference", arguments: AttentionSpecCheck.cases)
    func windowedKernelMatchesReference(_ c: AttentionSpecCheckCase) throws {
        guard let session = GPUSession.forTest("windowed attention check \(c)") else { return }
        let r = try AttentionSpecCheck.run(c, session: session, seed: 11)
        #expect(r.nanCount == 0 && r.unwrittenLSE == 0, "NaN or unwritten outputs: \(r.nanCount) O, \(r.unwrittenLSE) LSE")
        #expect(r.relError <= c.tolerance, "relative error \(r.relError) over \(c.tolerance)")
        #expect(r.ok)
    }

    @Test("the windowed matrix covers windows 512 and 4096, MHA and GQA, dense and sparse")
    func coverage() {
        let d = AttentionSpecCheck.cases.map(\.description)
        #expect(d.count >= 20)
        #expect(d.contains { $0.contains("window 512") } && d.contains { $0.contains("window 4096") })
        #expect(d.contains { $0.contains("heads 4/4") } && d.contains { $0.contains("heads 8/2") })
        #expect(d.contains { $0.contains("dense") } && d.contains { $0.contains("sparse CSR") })
    }
}

/// gpu-check's exact tile masses (ExactTileMass from the dense kernel's LSE vs a float64 softmax
/// of every row), one test case each.
@Suite(.serialized) struct TileMassCheckTests {
    @Test("exact per-(row, key tile) masses vs the float64 reference", arguments: TileMassCheck.defaultCases())
    func massesMatchReference(_ c: TileMassCheckCase) throws {
        guard let session = GPUSession.forTest("tile mass check \(c)") else { return }
        let r = try TileMassCheck.run(c, session: session, seed: 13)
        #expect(r.nanCount == 0, "\(r.nanCount) NaN or unwritten masses")
        #expect(r.maxAbsError <= c.tolerance, "mass error \(r.maxAbsError) over \(c.tolerance)")
        #expect(r.ok)
    }
}

import Dispatch

/// The pure-Swift single-precision matrix product used when no BLAS library is found.
///
/// Classic three-level blocking (the GotoBLAS scheme): for each panel of `panelColumns` columns of
/// C and each depth block of `depthBlock` steps of the sum,
///   1. op(B)[k0..<k1, j0..<j1] is packed once, row-major, padded with zeros to a multiple of 8
///      columns (so the inner loop always loads whole 8-float vectors);
///   2. the rows of C are cut into chunks of `rowChunk`; chunks run in parallel (Dispatch); each packs
///      its slice of op(A) k-major in groups of 6 rows (padded with zero rows);
///   3. a 6×8 micro-kernel keeps 6 `SIMD8<Float>` accumulators (12 SSE registers, so nothing spills
///      on baseline x86-64) and adds a(r,k)·b(k, 0..<8) for every k of the block, then writes
///      C = α·acc + β·C (first depth block) or C += α·acc.
/// Packing makes every transpose case the same inner loop. β = 0 never reads C (BLAS semantics,
/// so NaN garbage in C is overwritten).
enum PortableGemm {
    static let panelColumns = 256
    static let depthBlock = 256
    static let rowChunk = 66  // a multiple of the micro-kernel's 6 rows
    /// Micro-kernel rows and columns.
    static let mr = 6, nr = 8
    /// Below this many multiply-adds the product runs on the calling thread.
    static let parallelThreshold = 1 << 18

    @_optimize(speed)
    static func run(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                    alpha: Float, a: UnsafePointer<Float>, lda: Int,
                    b: UnsafePointer<Float>, ldb: Int,
                    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        if k == 0 || alpha == 0 {
            scale(m: m, n: n, beta: beta, c: c, ldc: ldc)
            return
        }
        let packedB = UnsafeMutablePointer<Float>.allocate(capacity: depthBlock * panelColumns)
        defer { packedB.deallocate() }
        let chunks = (m + rowChunk - 1) / rowChunk
        let parallel = m * n * k >= parallelThreshold && chunks > 1
        let cAddress = UInt(bitPattern: c)

        for j0 in stride(from: 0, to: n, by: panelColumns) {
            let width = min(panelColumns, n - j0)
            let paddedWidth = (width + 7) & ~7
            for k0 in stride(from: 0, to: k, by: depthBlock) {
                let depth = min(depthBlock, k - k0)
                packB(transB: transB, b: b, ldb: ldb, k0: k0, depth: depth, j0: j0, width: width,
                      paddedWidth: paddedWidth, into: packedB)
                let firstDepthBlock = k0 == 0
                let bAddress = UInt(bitPattern: packedB)
                let work = { (chunk: Int) in
                    let i0 = chunk * rowChunk
                    let rows = min(rowChunk, m - i0)
                    let cOut = UnsafeMutablePointer<Float>(bitPattern: cAddress)!
                    let bPacked = UnsafePointer<Float>(bitPattern: bAddress)!
                    let groups = (rows + mr - 1) / mr
                    let packedA = UnsafeMutablePointer<Float>.allocate(capacity: groups * mr * depth)
                    defer { packedA.deallocate() }
                    packA(transA: transA, a: a, lda: lda, i0: i0, rows: rows, k0: k0, depth: depth, into: packedA)
                    for g in 0..<groups {
                        let validRows = min(mr, rows - g * mr)
                        for jj in stride(from: 0, to: width, by: nr) {
                            microKernel(depth: depth, packedA: packedA + g * mr * depth,
                                        packedB: bPacked + jj, bStride: paddedWidth,
                                        c: cOut + (i0 + g * mr) * ldc + j0 + jj, ldc: ldc,
                                        rows: validRows, cols: min(nr, width - jj),
                                        alpha: alpha, beta: firstDepthBlock ? beta : 1)
                        }
                    }
                }
                if parallel {
                    DispatchQueue.concurrentPerform(iterations: chunks, execute: work)
                } else {
                    for chunk in 0..<chunks { work(chunk) }
                }
            }
        }
    }

    /// C = β·C, with β = 0 writing exact zeros.
    static func scale(m: Int, n: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            let row = c + i * ldc
            if beta == 0 {
                row.update(repeating: 0, count: n)
            } else if beta != 1 {
                for j in 0..<n { row[j] *= beta }
            }
        }
    }

    /// op(B)[k0 + t, j0 + u] → packed[t · paddedWidth + u], zero for u ≥ width.
    @_optimize(speed)
    static func packB(transB: Bool, b: UnsafePointer<Float>, ldb: Int, k0: Int, depth: Int,
                      j0: Int, width: Int, paddedWidth: Int, into packed: UnsafeMutablePointer<Float>) {
        for t in 0..<depth {
            let dst = packed + t * paddedWidth
            if transB {
                // op(B)[kk, j] = B[j, kk]
                for u in 0..<width { dst[u] = b[(j0 + u) * ldb + k0 + t] }
            } else {
                dst.update(from: b + (k0 + t) * ldb + j0, count: width)
            }
            if paddedWidth > width { (dst + width).update(repeating: 0, count: paddedWidth - width) }
        }
    }

    /// op(A)[i0 + 6g + r, k0 + t] → packed[g · 6 · depth + t · 6 + r], zero rows past `rows`.
    @_optimize(speed)
    static func packA(transA: Bool, a: UnsafePointer<Float>, lda: Int, i0: Int, rows: Int,
                      k0: Int, depth: Int, into packed: UnsafeMutablePointer<Float>) {
        let groups = (rows + mr - 1) / mr
        for g in 0..<groups {
            let dst = packed + g * mr * depth
            for r in 0..<mr {
                let i = g * mr + r
                if i >= rows {
                    for t in 0..<depth { dst[t * mr + r] = 0 }
                } else if transA {
                    // op(A)[i, kk] = A[kk, i]
                    for t in 0..<depth { dst[t * mr + r] = a[(k0 + t) * lda + i0 + i] }
                } else {
                    let src = a + (i0 + i) * lda + k0
                    for t in 0..<depth { dst[t * mr + r] = src[t] }
                }
            }
        }
    }

    /// 6 rows × 8 columns of C from packed operands; writes only `rows` × `cols` of them.
    @_optimize(speed)
    static func microKernel(depth: Int, packedA: UnsafePointer<Float>, packedB: UnsafePointer<Float>,
                            bStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                            rows: Int, cols: Int, alpha: Float, beta: Float) {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), acc2 = SIMD8<Float>()
        var acc3 = SIMD8<Float>(), acc4 = SIMD8<Float>(), acc5 = SIMD8<Float>()
        var pa = packedA
        var pb = UnsafeRawPointer(packedB)
        let step = bStride * MemoryLayout<Float>.stride
        for _ in 0..<depth {
            let bv = pb.loadUnaligned(as: SIMD8<Float>.self)
            acc0 += pa[0] * bv
            acc1 += pa[1] * bv
            acc2 += pa[2] * bv
            acc3 += pa[3] * bv
            acc4 += pa[4] * bv
            acc5 += pa[5] * bv
            pa += 6
            pb += step
        }
        store(acc0, into: c, cols: cols, alpha: alpha, beta: beta)
        if rows > 1 { store(acc1, into: c + ldc, cols: cols, alpha: alpha, beta: beta) }
        if rows > 2 { store(acc2, into: c + 2 * ldc, cols: cols, alpha: alpha, beta: beta) }
        if rows > 3 { store(acc3, into: c + 3 * ldc, cols: cols, alpha: alpha, beta: beta) }
        if rows > 4 { store(acc4, into: c + 4 * ldc, cols: cols, alpha: alpha, beta: beta) }
        if rows > 5 { store(acc5, into: c + 5 * ldc, cols: cols, alpha: alpha, beta: beta) }
    }

    /// out[0..<cols] = α·acc + β·out (β = 0: out is not read).
    @_optimize(speed)
    static func store(_ acc: SIMD8<Float>, into out: UnsafeMutablePointer<Float>, cols: Int, alpha: Float, beta: Float) {
        if cols == 8 {
            let raw = UnsafeMutableRawPointer(out)
            let scaled = alpha * acc
            if beta == 0 {
                raw.storeBytes(of: scaled, as: SIMD8<Float>.self)
            } else {
                let old = UnsafeRawPointer(out).loadUnaligned(as: SIMD8<Float>.self)
                raw.storeBytes(of: beta == 1 ? scaled + old : scaled + beta * old, as: SIMD8<Float>.self)
            }
            return
        }
        for j in 0..<cols {
            out[j] = beta == 0 ? alpha * acc[j] : alpha * acc[j] + beta * out[j]
        }
    }
}

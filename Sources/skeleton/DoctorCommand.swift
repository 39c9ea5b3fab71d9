import ArgumentParser
import SparseSkeleton
import SparseSkeletonCUDA

/// `skeleton doctor`: what this machine offers the GPU path (driver, GPU, NVRTC, architecture,
/// memory) and the CPU path (BLAS), saying plainly what is missing. Exits 0 either way: a
/// machine without a GPU is a valid machine for the CPU commands.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor", abstract: "Report GPU, driver, NVRTC, architecture, memory and BLAS, or what is missing.")

    @Flag(help: "Also compile the attention kernel for this GPU (tests NVRTC end to end).") var compile = false

    func run() throws {
        print("SparseSkeleton \(SparseSkeletonVersion.string)")
        print("CPU matrix products (BLAS): \(Gemm.backendDescription)")
        if let warning = LibrarySearch.searchPathWarning() { print(warning) }
        do { let d = try DataDirectory.resolve(); print("data: \(d.path) (\(d.origin.rawValue))") } catch { print("data: \(error)") }
        var device: GPUDevice? = nil
        do {
            let d = try GPUDevice()
            device = d
            let mem = try d.memoryInfo()
            print("GPU 0: \(d.name), \(d.arch) (compute capability \(d.computeCapability.major).\(d.computeCapability.minor)), \(d.multiprocessors) SMs, L2 \(formatBytes(d.l2CacheBytes)), shared/block \(formatBytes(d.maxSharedMemoryPerBlock)), clock \(d.clockRateKHz / 1000) MHz")
            print("GPU memory: \(formatBytes(mem.free)) free of \(formatBytes(mem.total))")
            print("CUDA driver: \(d.driverVersionString) (libcuda via dlopen)")
        } catch {
            print("GPU: unavailable — \(error)")
        }
        do {
            let compiler = try KernelCompiler()
            print("NVRTC: \(compiler.nvrtcVersion.major).\(compiler.nvrtcVersion.minor) from \(compiler.libraryPath)")
            if compile {
                let arch = device?.arch ?? "sm_90a"
                let t = try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: .bf16)
                let k = try KernelLibrary.compile(compiler: compiler, file: t.sourceFile,
                                                  source: KernelCompiler.embeddedSource(t.sourceFile), arch: arch, defines: t.defines)
                print("compile check (\(arch), \(t)): \(k.report)\(k.fromCache ? " [cached]" : "")")
            }
        } catch {
            print("NVRTC: unavailable — \(error)")
        }
        if device == nil { print("GPU commands (gpu-check, gpu-bench) need an NVIDIA GPU (sm_80+) with its driver; the CPU commands work without one.") }
    }
}

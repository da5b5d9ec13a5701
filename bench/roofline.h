// Roofline probe: this machine's peak f32 FMA rate, bf16 dot-product rate and DRAM read bandwidth,
// measured with register-resident loops / a streaming read on `threads` threads at once, so kernel
// benchmarks can report their figures as a fraction of what the hardware can do.
#pragma once

#include <string>



namespace dsvl::bench {

struct Roofline {
  std::string isa;            // widest FMA ISA probed ("avx512", "avx2", "scalar")
  double f32_fma_flops = 0;   // FLOP/s (2 per lane per FMA): threads x best single-thread rate
  double f32_fma_flops_all_threads = 0;  // measured with all threads at once (lower when shared)
  double bf16_dot_flops = 0;  // FLOP/s of vdpbf16ps (2 per bf16 product), threads x single; 0 if unsupported
  double dram_read_bytes = 0; // bytes/s, streaming read of `dram_buffer_bytes` on all threads (best method)
  double dram_read_plain_bytes = 0;  // the same with loads only (no software prefetch)
  double dram_buffer_bytes = 0;
  int threads = 0;
};

// Takes about a second. buffer_bytes should be far larger than the last-level cache.
Roofline MeasureRoofline(int threads, size_t buffer_bytes = size_t{1} << 30);

// Sums `bytes` (a multiple of 128, 32-byte aligned) with plain vector loads: the reference stream
// a memory-bound kernel is compared with.
uint64_t StreamReadSum(const void* p, size_t bytes);  // "model name" from /proc/cpuinfo

}  // namespace dsvl::bench

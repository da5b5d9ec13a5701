// Short machine probes for `dsvl bench --probe`: the memory read bandwidth and the f32 GEMM rate
// this build reaches with the model's threads, to put decode and vision figures against.
#pragma once

#include "core/thread_pool.h"

namespace dsvl::cli {

// GB/s (1e9 bytes) reading a 1 GiB buffer with every thread of the pool: best of a few passes.
double ProbeReadBandwidthGbs(ThreadPool& pool);

// GFLOP/s of the f32 GEMM kernel (the one the vision towers use) on 1024-cubed: best of a few runs.
double ProbeGemmGflops(ThreadPool& pool);

}  // namespace dsvl::cli

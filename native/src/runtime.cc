// Process-wide libtorch state: version, threads, random generator, devices.
#include "runtime.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/Version.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/csrc/api/include/torch/version.h>

#include <climits>
#include <cstdlib>
#include <mutex>
#include <string>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "errors.h"
#include "handles.h"

namespace dsd {
namespace {

Napi::Value Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), TORCH_VERSION); }

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int n = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  if (n < 1) throw Napi::RangeError::New(info.Env(), "setNumThreads: expected a positive integer");
  at::set_num_threads(n);
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value ParallelInfo(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), at::get_parallel_info());
}

// The vector instruction set ATen's own kernels (elementwise, BatchNorm, pooling) dispatch to. libtorch reads it from
// ATEN_CPU_CAPABILITY once, at the first such kernel, and says which it took only in show_config().
Napi::Value CpuCapability(const Napi::CallbackInfo& info) {
  static const std::string label = "CPU capability usage: ";
  const std::string config = at::show_config();
  const size_t start = config.find(label);
  if (start == std::string::npos) return Napi::String::New(info.Env(), "unknown");
  const size_t from = start + label.size();
  const std::string used = config.substr(from, config.find('\n', from) - from);
  return Napi::String::New(info.Env(), used == "NO AVX" ? "DEFAULT" : used);
}

// Asks for a capability (ATEN_CPU_CAPABILITY's values: default, avx2, avx512) unless the variable is already set. Through
// setenv rather than process.env, which a worker thread only copies. Effective if no ATen kernel has run yet.
Napi::Value RequestCpuCapability(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "requestCpuCapability: expected a string");
  setenv("ATEN_CPU_CAPABILITY", info[0].As<Napi::String>().Utf8Value().c_str(), 0);
  return info.Env().Undefined();
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  double seed = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(seed >= 0 && seed == std::trunc(seed) && seed <= 9007199254740992.0)) {
    throw Napi::RangeError::New(info.Env(), "manualSeed: expected a non-negative integer");
  }
  at::manual_seed(static_cast<uint64_t>(seed));
  return info.Env().Undefined();
}

// The default generator of a device: getRngState([device]) / setRngState(state, [device]), device 'cpu' (default),
// 'cuda' or 'cuda:N'. A CUDA generator's state is a CPU byte tensor too, so checkpoints stay device-free.
at::Generator defaultGenerator(const Napi::Value& device, const char* what) {
  if (device.IsUndefined()) return at::detail::getDefaultCPUGenerator();
  if (!device.IsString()) throw Napi::TypeError::New(device.Env(), std::string(what) + ": the device must be a string");
  return at::globalContext().defaultGenerator(c10::Device(device.As<Napi::String>().Utf8Value()));
}

Napi::Value GetRngState(const Napi::CallbackInfo& info) {
  auto gen = defaultGenerator(info[0], "getRngState");
  std::lock_guard<std::mutex> lock(gen.mutex());
  return wrap(info.Env(), gen.get_state());
}

Napi::Value SetRngState(const Napi::CallbackInfo& info) {
  const at::Tensor& state = unwrap(info[0], "setRngState");
  auto gen = defaultGenerator(info[1], "setRngState");
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
  return info.Env().Undefined();
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  int count = at::hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0;
  return Napi::Number::New(info.Env(), count);
}

// setCudnnBenchmark(on): cuDNN times its convolution algorithms for each new input shape and keeps the fastest, as
// torch.backends.cudnn.benchmark = True; a no-op without cuDNN.
Napi::Value SetCudnnBenchmark(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsBoolean()) throw Napi::TypeError::New(info.Env(), "setCudnnBenchmark: expected a boolean");
  at::globalContext().setBenchmarkCuDNN(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

// cudaSynchronize(index): waits until the GPU has finished the work queued on it (timing, benchmarks).
Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  if (!at::hasCUDA()) throw Napi::Error::New(info.Env(), "cudaSynchronize: this libtorch has no CUDA support or sees no GPU");
  at::detail::getCUDAHooks().deviceSynchronize(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// Keeps freed tensor memory in the process heap instead of returning it to the kernel after each free. Training
// frees and re-allocates the same large buffers every step; with glibc's defaults every such buffer is mmapped
// afresh and page-faulted in, which costs more than the convolutions on some virtual machines (see README).
Napi::Value RetainFreedMemory(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
  bool ok = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
  return Napi::Boolean::New(info.Env(), ok);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

}  // namespace

void registerRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Function::New(env, entry<Version>, "version"));
  exports.Set("setNumThreads", Napi::Function::New(env, entry<SetNumThreads>, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, entry<GetNumThreads>, "getNumThreads"));
  exports.Set("parallelInfo", Napi::Function::New(env, entry<ParallelInfo>, "parallelInfo"));
  exports.Set("cpuCapability", Napi::Function::New(env, entry<CpuCapability>, "cpuCapability"));
  exports.Set("requestCpuCapability", Napi::Function::New(env, entry<RequestCpuCapability>, "requestCpuCapability"));
  exports.Set("manualSeed", Napi::Function::New(env, entry<ManualSeed>, "manualSeed"));
  exports.Set("getRngState", Napi::Function::New(env, entry<GetRngState>, "getRngState"));
  exports.Set("setRngState", Napi::Function::New(env, entry<SetRngState>, "setRngState"));
  exports.Set("retainFreedMemory", Napi::Function::New(env, entry<RetainFreedMemory>, "retainFreedMemory"));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, entry<CudaDeviceCount>, "cudaDeviceCount"));
  exports.Set("setCudnnBenchmark", Napi::Function::New(env, entry<SetCudnnBenchmark>, "setCudnnBenchmark"));
  exports.Set("cudaSynchronize", Napi::Function::New(env, entry<CudaSynchronize>, "cudaSynchronize"));
}

}  // namespace dsd

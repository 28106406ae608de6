// Where libtorch's C++ API differs between 1.13 and 2.x, the one place that says so. Everything else in the addon is
// written once against the API that both have.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#define DSDNET_TORCH_AT_LEAST(major, minor) (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace dsd::compat {

// Autocast: one function per device type up to 2.3, device-generic ones since 2.4 (the old names are deprecated).
inline bool autocastEnabled(at::DeviceType device) {
#if DSDNET_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(device);
#else
  return device == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

inline at::ScalarType autocastDtype(at::DeviceType device) {
#if DSDNET_TORCH_AT_LEAST(2, 4)
  return at::autocast::get_autocast_dtype(device);
#else
  return device == at::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

inline void setAutocast(at::DeviceType device, bool enabled, at::ScalarType dtype) {
#if DSDNET_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(device, enabled);
  at::autocast::set_autocast_dtype(device, dtype);
#else
  if (device == at::kCUDA) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}

}  // namespace dsd::compat

#ifdef DSDNET_C10D_COMPAT
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace dsd::compat {

// TCPStore: 2.4 made the libuv server the default, which builds without libuv (Debian's) refuse at the rendezvous;
// the classic server is in every build, and is the one 1.13 has.
inline void useClassicServer(c10d::TCPStoreOptions& options) {
#if DSDNET_TORCH_AT_LEAST(2, 2)
  options.useLibUV = false;
#else
  (void)options;
#endif
}

// c10d: up to 1.13 ProcessGroupGloo and ProcessGroupNCCL are ProcessGroups; since 2.0 they are Backends, and a
// ProcessGroup holds one per device type (what collectives on that device's tensors run on), as
// torch.distributed's new_group builds it.
template <typename Backend>
c10::intrusive_ptr<c10d::ProcessGroup> processGroup(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size, c10::intrusive_ptr<Backend> backend,
                                                    at::DeviceType device) {
#if TORCH_VERSION_MAJOR < 2
  (void)store, (void)rank, (void)size, (void)device;
  return backend;
#else
  const auto type = device == at::kCUDA ? c10d::ProcessGroup::BackendType::NCCL : c10d::ProcessGroup::BackendType::GLOO;
#if DSDNET_TORCH_AT_LEAST(2, 2)
  auto group = c10::make_intrusive<c10d::ProcessGroup>(store, rank, size);
  group->setDefaultBackend(type);
#else
  auto options = c10::make_intrusive<c10d::ProcessGroup::Options>(type == c10d::ProcessGroup::BackendType::NCCL ? "nccl" : "gloo");
  auto group = c10::make_intrusive<c10d::ProcessGroup>(store, rank, size, options);
#endif
  group->setBackend(device, type, backend);
  return group;
#endif
}

}  // namespace dsd::compat
#endif
